"""`crd verify`: score any file of answers, streamed in batches, with the build's own verifier.

INPUT is JSON Lines, a Parquet file, or a folder of Parquet parts (what `crd import`
writes), with `response` and `reference_answer` and any other columns, which are kept.
OUT gets every input column plus `score`, `verify_method` and `verify_note`; an input
`score` (a published dataset's own) is kept as `previous_score`, and the summary says how
many verdicts differ from it. With a judge, rows the checks cannot score are judged
(`judge_parts` holds its ratings); its journal makes a rerun ask nothing twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from processing.errors import CrdError
from processing.files import atomic_path
from processing.progress import parquet_rows, stage_bar
from processing.verify import score
from processing.schema import stable_id
from processing.verify.judge import Judge, merge_judged, rows_to_judge
from processing.verify.settings import JudgeSettings, VerifyConfig
from processing.verify.verifier import Verifier

BATCH_ROWS = 5000
REQUIRED = ("response", "reference_answer")
VERDICT_COLUMNS = ("score", "verify_method", "verify_note")


@dataclass
class VerifyReport:
    rows: int = 0
    verdicts: Counter = field(default_factory=Counter)  # (score, method, note) -> rows
    compared: int = 0  # rows with a previous score and a new one
    differing: int = 0  # of those, verdicts that differ


def verify_file(input_path: Path, out_path: Path, settings: VerifyConfig, *, judge: JudgeSettings | None = None,
                run_dir: Path | None = None, quiet: bool = False, retry_failed: bool = False) -> VerifyReport:
    """Score INPUT into OUT; with `judge`, what the checks cannot score is judged (journal in `run_dir`)."""
    report = VerifyReport()
    judging = Judge(judge, run_dir, quiet=quiet, retry_failed=retry_failed) if judge else nullcontext()
    with Verifier(settings) as verifier, judging as judge_client, atomic_path(out_path) as temporary, \
            stage_bar("verify", parquet_rows(input_path), quiet=quiet) as bar:
        writer = None
        try:
            for batch in read_batches(input_path):
                scored = score(_prepared(batch, input_path, report.rows), settings, verifier)
                if judge_client is not None:
                    scored = merge_judged(scored, judge_client.judge(rows_to_judge(scored, judge)))
                _count(report, scored)
                table = scored.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(temporary, table.schema, compression="zstd")
                writer.write_table(table.cast(writer.schema))
                bar.update(scored.height)
        finally:
            if writer is not None:
                writer.close()
        if writer is None:
            raise CrdError(f"{input_path}: no rows to verify")
    return report


def read_batches(path: Path) -> Iterator[pl.DataFrame]:
    """The input in frames of BATCH_ROWS rows, never all of it at once."""
    if not path.exists():
        raise CrdError(f"{path}: input not found")
    if path.is_dir():
        parts = sorted(path.glob("*.parquet"))
        if not parts:
            raise CrdError(f"{path}: a folder of Parquet parts was expected (what `crd import` writes); none found")
        frame = pl.scan_parquet(parts)
    elif path.suffix == ".parquet":
        frame = pl.scan_parquet(path)
    elif path.suffix in (".jsonl", ".ndjson", ".json"):
        frame = pl.scan_ndjson(path, infer_schema_length=None)  # every line decides the types
    else:
        raise CrdError(f"{path}: expected JSON Lines (.jsonl), Parquet (.parquet) or a folder of Parquet parts")
    try:
        yield from frame.collect_batches(chunk_size=BATCH_ROWS)
    except pl.exceptions.ComputeError as exc:
        raise CrdError(f"{path}: unreadable: {str(exc).splitlines()[0]}") from None


def _prepared(batch: pl.DataFrame, path: Path, offset: int) -> pl.DataFrame:
    missing = [name for name in REQUIRED if name not in batch.columns]
    if missing:
        raise CrdError(f"{path}: no column {', '.join(map(repr, missing))}; columns present: {', '.join(batch.columns)}")
    if "id" not in batch.columns:  # the judge's journal needs a stable key per row to resume
        batch = batch.with_columns(pl.Series("id", [stable_id("verify", path.name, offset + i) for i in range(batch.height)]))
    if "score" in batch.columns:
        batch = batch.rename({"score": "previous_score"}).with_columns(pl.col("previous_score").cast(pl.Float64))
    texts = [pl.col(name).cast(pl.String) for name in ("response", "reference_answer", "category") if name in batch.columns]
    return batch.drop([name for name in VERDICT_COLUMNS[1:] if name in batch.columns]).with_columns(texts)


def _count(report: VerifyReport, scored: pl.DataFrame) -> None:
    report.rows += scored.height
    report.verdicts.update(scored.select(*VERDICT_COLUMNS).iter_rows())
    if "previous_score" in scored.columns:
        both = scored.filter(pl.col("previous_score").is_not_null() & pl.col("score").is_not_null())
        report.compared += both.height
        report.differing += both.filter(_verdict(pl.col("previous_score")) != _verdict(pl.col("score"))).height


def _verdict(column: pl.Expr) -> pl.Expr:
    """Right or wrong: published scores use their own scales (the 110k set's 0–10 judge scores), so
    a verdict is compared as "at least half marks"."""
    return column >= 5


def format_report(report: VerifyReport) -> str:
    lines = [f"{report.rows:,} rows verified"]
    for (value, method, note), count in sorted(report.verdicts.items(), key=lambda item: -item[1]):
        verdict = "unscored" if value is None else f"score {value:g}"
        lines.append(f"  {count:>9,}  {method or 'unchecked':<8} {verdict:<10} {note or ''}".rstrip())
    if report.compared:
        share = report.differing / report.compared
        lines.append(f"{report.differing:,} of {report.compared:,} verdicts differ from the input's own score "
                     f"({share:.1%}; right = at least half marks)")
    return "\n".join(lines)
