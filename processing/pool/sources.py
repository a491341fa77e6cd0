"""Reading instruction pools into the pool frame: id, prompt, source, category,
reference_answer, test_cases.

A source is JSON Lines (optionally .zst), a JSON array, Parquet or CSV, given as a file,
a glob, or a Hugging Face dataset (`hf:NAME`, or a folder saved by `datasets`). Columns
are mapped per source: the prompt is one column or a template over several
(`"{instruction}\\n{input}"`), the category is fixed, taken from a column, or assigned
by regex rules. A missing column fails naming it and the columns that exist; a malformed
or undecodable record fails naming its file and line, or is skipped and counted under
`on_error = "skip"`. Text files are UTF-8, GB18030/GBK or UTF-16, detected or declared per
source (`encoding`); see processing/textio.py.
"""

from __future__ import annotations

import csv
import glob
import json
import string
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import Field, ValidationInfo, field_validator

from processing.errors import CrdError
from processing.license_ids import hub_license
from processing.progress import advance
from processing.schema import stable_id
from processing.settings import Category, Strict
from processing.textio import UndecodableError, encoding_name, iter_blocks, iter_lines


POOL_SCHEMA = {
    "id": pl.String,
    "prompt": pl.String,
    "source": pl.String,
    "category": pl.String,
    "reference_answer": pl.String,
    "test_cases": pl.String,
}
SKIPPED_SCHEMA = {"source": pl.String, "location": pl.String, "reason": pl.String, "detail": pl.String}
PROGRESS_EVERY = 10_000  # records read between updates of the bar: not once per record
TEXT_SUFFIXES = (".jsonl", ".ndjson", ".json", ".jsonl.zst", ".ndjson.zst", ".json.zst")


class CategoryRule(Strict):
    column: str = Field("source", description="column whose text the pattern is searched in")
    pattern: str = Field(description="regular expression")
    category: Category


class SourceConfig(Strict):
    path: str = Field(description="file, glob, `hf:NAME` (Hugging Face Hub) or a folder saved by `datasets`")
    name: str | None = Field(None, description="source label; default: the `source` column, else the file stem")
    prompt_column: str = "prompt"
    category: Category | None = Field(None, description="one category for every row of this source")
    category_column: str = "category"
    reference_column: str = "reference_answer"
    template: str | None = Field(None, description='prompt from several columns, e.g. "{instruction}\\n{input}"')
    category_rules: list[CategoryRule] = Field([], description="the first rule whose pattern matches decides")
    test_cases_column: str = "test_cases"
    split: str = Field("train", description="split of a Hugging Face dataset")
    on_error: Literal["raise", "skip"] = Field("raise", description="malformed or undecodable records fail, or are skipped and counted")
    encoding: str | None = Field(None, description='of JSON and CSV files, e.g. "gbk"; default: detected (UTF-8, a BOM, GB18030)')
    # What the source is, not how it is read (DESCRIPTION_FIELDS): only the card uses them.
    license: str | None = Field(None, description='the Hub\'s identifier, e.g. "cc-by-nc-sa-4.0", "mit", "unknown", "other"')
    citation: str | None = Field(None, description="how the source asks to be cited: a BibTeX entry or a reference")
    homepage: str | None = Field(None, description="where the source is described")

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        return None if value is None else encoding_name(value)

    @field_validator("license")
    @classmethod
    def _hub_license(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        try:
            return hub_license(value)
        except ValueError as exc:
            label = info.data.get("name") or info.data.get("path", "?")
            raise ValueError(f"source {label!r}: {exc}") from None

    @property
    def label(self) -> str:
        """What the source is called: its name, else its file stem (rows may carry their own)."""
        return _source_label(self)


DESCRIPTION_FIELDS = {"license", "citation", "homepage"}  # change the card only, never which rows are read


def read_pool(specs: list[SourceConfig]) -> pl.DataFrame:
    return read_pool_report(specs)[0]


def read_pool_report(specs: list[SourceConfig]) -> tuple[pl.DataFrame, pl.DataFrame, list[list[str]]]:
    """(pool, skipped, labels): skipped lists records dropped under on_error = "skip"; labels,
    per spec, the `source` values of its rows (its name, or the records' own `source`)."""
    read = [read_source_report(spec) for spec in specs]
    pool = pl.concat([frame for frame, _ in read])
    labels = [sorted(frame["source"].unique().to_list()) for frame, _ in read]
    return pool, pl.concat([pl.DataFrame(schema=SKIPPED_SCHEMA), *(skipped for _, skipped in read)]), labels


def read_source(spec: SourceConfig) -> pl.DataFrame:
    """One configured source as a pool frame with stable ids."""
    return read_source_report(spec)[0]


def read_source_report(spec: SourceConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    columns = _wanted_columns(spec)
    frames, skipped = [], []
    for origin, records in _record_streams(spec):
        frame, bad = _collect(records, columns, spec, origin)
        frames.append(frame)
        skipped += bad
    frame = pl.concat(frames, how="diagonal_relaxed")
    pool = assign_ids(_map_columns(frame, spec)).select(list(POOL_SCHEMA))
    skipped_frame = pl.DataFrame(
        [(_source_label(spec), location, reason, detail) for location, reason, detail in skipped],
        schema=SKIPPED_SCHEMA,
        orient="row",
    )
    return pool, skipped_frame


def assign_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """Id = hash of (source, prompt, occurrence): stable on rerun, unique for repeats."""
    seen: dict[tuple[str, str], int] = {}
    ids = []
    for source, prompt in zip(frame["source"], frame["prompt"]):
        occurrence = seen.get((source, prompt), 0)
        seen[(source, prompt)] = occurrence + 1
        ids.append(stable_id(source, prompt, occurrence))
    return frame.with_columns(pl.Series("id", ids, pl.String))


# --- where records come from ----------------------------------------------------------


def _record_streams(spec: SourceConfig) -> Iterator[tuple[str, Iterator[tuple[str, dict | CrdError]]]]:
    """(origin, records) per file or dataset; a record is (location, dict or parse error)."""
    if spec.path.startswith("hf:"):
        name = spec.path[3:]
        yield spec.path, _dataset_records(name, spec.split, lambda: _load_hub(name, spec.split))
        return
    path = Path(spec.path)
    if path.is_dir():
        yield str(path), _dataset_records(str(path), spec.split, lambda: _load_local_dataset(path, spec.split))
        return
    is_glob = any(char in spec.path for char in "*?[")
    matches = sorted(glob.glob(spec.path, recursive=True)) if is_glob else [spec.path]
    if not matches or not Path(matches[0]).exists():
        raise CrdError(f"{spec.path}: source file not found")
    for match in matches:
        yield match, _file_records(Path(match), spec.encoding)


def _file_records(path: Path, encoding: str | None = None) -> Iterator[tuple[str, dict | CrdError]]:
    name = path.name.lower()
    if name.endswith(".csv"):
        return _csv_records(path, encoding)
    if name.endswith(".parquet"):
        return _parquet_records(path)
    if name.endswith(TEXT_SUFFIXES):
        return _json_records(path, encoding)
    raise CrdError(f"{path}: unknown file type; use .jsonl, .json, .parquet or .csv (.zst for compressed JSON)")


def iter_records(path: Path, encoding: str | None = None) -> Iterator[tuple[str, dict]]:
    """(location, record) of a JSON Lines, JSON array or Parquet file; the first
    malformed or undecodable record raises, naming its file and line. `encoding`: of a
    text file, detected when None."""
    for location, record in _file_records(path, encoding):
        if isinstance(record, CrdError):
            raise record
        yield location, record


def read_jsonl(path: Path, encoding: str | None = None) -> list[dict]:
    """Every line one JSON object; a bad line names its file and line number."""
    return [record for _, record in iter_records(path, encoding)]


def _json_records(path: Path, encoding: str | None) -> Iterator[tuple[str, dict | CrdError]]:
    """A .json file is a JSON array or JSON Lines; .jsonl and .ndjson stream line by line."""
    lines = iter_lines(path, encoding)
    if path.name.lower().removesuffix(".zst").endswith(".json"):
        leading = _through_first_content(lines)
        first = leading[-1][1] if leading else None
        if isinstance(first, str) and first.lstrip().startswith("["):
            yield from _json_array_records(path, chain(leading, lines))
            return
        lines = chain(leading, lines)
    yield from _jsonl_records(path, lines)


def _through_first_content(lines: Iterator[tuple[int, str | CrdError]]) -> list[tuple[int, str | CrdError]]:
    """The blank lines at the start and the first line that is not blank (or not decodable)."""
    read = []
    for item in lines:
        read.append(item)
        if not isinstance(item[1], str) or item[1].strip():
            break
    return read


def _jsonl_records(path: Path, lines: Iterator[tuple[int, str | CrdError]]) -> Iterator[tuple[str, dict | CrdError]]:
    for number, line in lines:
        if isinstance(line, CrdError):
            yield f"{path}:{number}", line
        elif line.strip():
            location = f"{path}:{number}"
            yield location, _parse_object(line, location)


def _json_array_records(path: Path, lines: Iterator[tuple[int, str | CrdError]]) -> Iterator[tuple[str, dict | CrdError]]:
    text = "\n".join(_raise_undecodable(line) for _, line in lines)
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CrdError(f"{path}:{exc.lineno}: malformed JSON ({exc.msg} at column {exc.colno})") from None
    for number, record in enumerate(records, start=1):
        location = f"{path}:element {number}"
        yield location, record if isinstance(record, dict) else CrdError(
            f"{location}: expected a JSON object, got {type(record).__name__}"
        )


def _parse_object(line: str, location: str) -> dict | CrdError:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        return CrdError(f"{location}: malformed JSON ({exc.msg} at column {exc.colno})")
    if not isinstance(row, dict):
        return CrdError(f"{location}: expected a JSON object, got {type(row).__name__}")
    return row


def _raise_undecodable(line: str | CrdError) -> str:
    if isinstance(line, CrdError):
        raise line
    return line


class _CsvLines:
    """The decoded lines csv reads, a block at a time. An undecodable line is set aside
    (csv cannot take an error) and csv gets an empty line in its place, so csv's line
    numbers stay the file's."""

    def __init__(self, path: Path, encoding: str | None) -> None:
        self.blocks = iter_blocks(path, encoding)
        self.path = path
        self.undecodable: list[tuple[str, CrdError]] = []

    def __iter__(self) -> Iterator[str]:
        return chain.from_iterable(map(self._with_ends, self.blocks))  # per line, all in C

    def _with_ends(self, lines: list) -> list[str]:
        # csv needs the line ends to keep newlines inside quoted cells
        return [line + "\n" if isinstance(line, str) else self._put_aside(line) for line in lines]

    def _put_aside(self, error: UndecodableError) -> str:
        if error.line == 1:
            raise error  # the header: without it no record can be read
        self.undecodable.append((f"{self.path}:{error.line}", error))
        return "\n"

    def set_aside(self) -> Iterator[tuple[str, CrdError]]:
        yield from self.undecodable
        self.undecodable.clear()


def _csv_records(path: Path, encoding: str | None) -> Iterator[tuple[str, dict | CrdError]]:
    lines = _CsvLines(path, encoding)
    reader = csv.DictReader(lines)
    for record in reader:
        yield from lines.set_aside()
        location = f"{path}:{reader.line_num}"
        extra = record.pop(None, None)  # more cells than header columns
        yield location, CrdError(f"{location}: {len(extra)} cells more than the header has") if extra else record
    yield from lines.set_aside()


def _parquet_records(path: Path) -> Iterator[tuple[str, dict | CrdError]]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path, pre_buffer=False).iter_batches(batch_size=10_000):
        for record in batch.to_pylist():
            number += 1
            yield f"{path}:row {number}", record


def _dataset_records(origin: str, split: str, load) -> Iterator[tuple[str, dict | CrdError]]:
    for number, record in enumerate(load(), start=1):
        yield f"{origin}[{split}]:row {number}", record


def _load_hub(name: str, split: str):
    import datasets

    try:
        return datasets.load_dataset(name, split=split)
    except Exception as exc:  # datasets raises many types for a missing or offline dataset
        raise CrdError(f"hf:{name}: could not load split {split!r}: {exc}") from None


def _load_local_dataset(path: Path, split: str):
    """A folder written by `save_to_disk`, or a dataset repository on disk."""
    import datasets

    try:
        # state.json, as `datasets` itself checks: a dataset repository on disk may hold a
        # dataset_info.json too (crd's outputs do, for LLaMA-Factory).
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
            loaded = datasets.load_from_disk(str(path))
            return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
        return datasets.load_dataset(str(path), split=split)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        raise CrdError(f"{path}: could not load split {split!r} as a dataset: {exc}") from None


# --- from records to the pool frame ---------------------------------------------------


def _wanted_columns(spec: SourceConfig) -> dict[str, bool]:
    """Column name -> whether it is required."""
    prompt_fields = _template_fields(spec.template) if spec.template else [spec.prompt_column]
    wanted = {field: True for field in prompt_fields}
    for optional in (spec.category_column, spec.reference_column, spec.test_cases_column, "source"):
        wanted.setdefault(optional, False)
    for rule in spec.category_rules:
        wanted.setdefault(rule.column, True)
    return wanted


def _template_fields(template: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(template) if field]


def _collect(records, columns: dict[str, bool], spec: SourceConfig, origin: str):
    """Only the wanted columns, as text; malformed records raise or are set aside."""
    required = [name for name, needed in columns.items() if needed]
    values: dict[str, list] = {name: [] for name in columns}
    skipped: list[tuple[str, str, str]] = []
    seen_any = False
    for location, record in _reported(records):
        problem = record if isinstance(record, CrdError) else _missing(record, required, location)
        if problem is not None:
            # A column missing from the first well-formed record is a mapping mistake, not
            # a bad line: skipping would silently drop the whole source.
            mapping_mistake = not seen_any and not isinstance(record, CrdError)
            if spec.on_error == "raise" or mapping_mistake:
                raise problem
            reason = problem.reason if isinstance(problem, UndecodableError) else "malformed"
            skipped.append((location, reason, str(problem)))
            continue
        seen_any = True
        for name in columns:
            values[name].append(_text(record.get(name)))
    if not seen_any and not skipped:
        raise CrdError(f"{origin}: no records")
    return pl.DataFrame(values, schema={name: pl.String for name in columns}), skipped


def _reported(records: Iterator) -> Iterator:
    """The records as they are, counted on the progress bar PROGRESS_EVERY at a time."""
    number = 0
    for number, item in enumerate(records, start=1):
        if not number % PROGRESS_EVERY:
            advance(PROGRESS_EVERY)
        yield item
    advance(number % PROGRESS_EVERY)


def _missing(record: dict, required: list[str], location: str) -> CrdError | None:
    for name in required:
        if record.get(name) is None:
            present = ", ".join(sorted(record)) or "none"
            return CrdError(f"{location}: no column {name!r}; columns present: {present}")
    return None


def _map_columns(frame: pl.DataFrame, spec: SourceConfig) -> pl.DataFrame:
    return frame.select(
        _prompt(spec).alias("prompt"),
        pl.lit(spec.name).fill_null(pl.col("source")).fill_null(pl.lit(_source_label(spec))).alias("source"),
        _category(spec).alias("category"),
        pl.col(spec.reference_column).alias("reference_answer"),
        pl.col(spec.test_cases_column).alias("test_cases"),
    )


def _prompt(spec: SourceConfig) -> pl.Expr:
    if not spec.template:
        return pl.col(spec.prompt_column)
    parts = []
    for literal, field, _, _ in string.Formatter().parse(spec.template):
        if literal:
            parts.append(pl.lit(literal))
        if field:
            parts.append(pl.col(field).fill_null(""))
    return pl.concat_str(parts)


def _category(spec: SourceConfig) -> pl.Expr:
    """First matching rule, else the fixed category, else the category column, else general."""
    fallback = pl.lit(spec.category) if spec.category else pl.col(spec.category_column).fill_null("general")
    if not spec.category_rules:
        return fallback
    rule, *rest = spec.category_rules
    chain = pl.when(pl.col(rule.column).str.contains(rule.pattern)).then(pl.lit(rule.category))
    for rule in rest:
        chain = chain.when(pl.col(rule.column).str.contains(rule.pattern)).then(pl.lit(rule.category))
    return chain.otherwise(fallback)


def _source_label(spec: SourceConfig) -> str:
    """The source name when neither the config nor the record gives one."""
    if spec.name:
        return spec.name
    path = spec.path[3:] if spec.path.startswith("hf:") else spec.path
    name = Path(path).name
    for suffix in (".zst", ".jsonl", ".ndjson", ".json", ".parquet", ".csv"):
        name = name.removesuffix(suffix)
    return name


def _text(value: object) -> str | None:
    """Text as is; numbers and structures (test cases) as JSON; null stays null."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
