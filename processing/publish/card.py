"""The dataset card: YAML header the Hub reads, and a body with statistics and recipe.

`config` is the composed build config (processing.config.Config); it is passed in, not
imported, so this stage never reaches up to the module that composes every stage."""

from __future__ import annotations

import shutil
import string
from dataclasses import dataclass, field
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

import datasets
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from processing.files import atomic_path
from processing.progress import advance
from processing.publish.card_sources import citations_section, sources_section
from processing.publish.licenses import card_notice, check_licenses
from processing.publish.limitations import limitations
from processing.publish.plots import write_plots
from processing.publish.tokens import CardTokenizer
from processing.publish.usage import max_length_for, use_it
from processing.schema import SCHEMAS
from processing.sim_labels import FINGERPRINT as SIMULATOR
from processing.stages import format_count, format_counts
from processing.verify.judge import METHOD as JUDGE_METHOD

TEMPLATE = files("processing.publish") / "templates" / "card.md"  # package data: ships in the wheel
SIZE_CATEGORIES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
SIMULATOR_NOTICE = (
    "> **Simulated data.** Every answer in this copy was produced by the crd simulator, a local test server, "
    "not by a language model. It exists to show the pipeline working; do not train on it.\n\n"
)
PARTLY_SIMULATED_NOTICE = (
    "> **Partly simulated data.** {simulated:,} of the {rows:,} answers in this copy were produced by the crd "
    "simulator, a local test server, not by a language model; their `system_fingerprint` is `{label}` "
    "(a column of the `full` config). Remove them before training.\n\n"
)
SIMULATED_JUDGE_NOTICE = (
    "> **Simulated judge.** The crd simulator, a local test server, answered the judge's questions for "
    "{rows:,} rows: their judge scores are canned test replies, not a model's judgement.\n\n"
)


def simulator_notice(simulated: int, rows: int) -> str:
    """The card's first lines: every answer simulated, some of them, or none (no notice)."""
    if not simulated:
        return ""
    if simulated >= rows:
        return SIMULATOR_NOTICE
    return PARTLY_SIMULATED_NOTICE.format(simulated=simulated, rows=rows, label=SIMULATOR)


def size_category(rows: int) -> str:
    for limit, label in SIZE_CATEGORIES:
        if rows < limit:
            return label
    return "n>1T"


def header(config, out_dir: Path, rows: int) -> dict:
    return {
        "license": config.output.license,
        "language": ["zh"],
        "pretty_name": config.output.pretty_name or config.name,
        "size_categories": [size_category(rows)],
        "task_categories": list(config.output.task_categories),
        "tags": ["reasoning", "distillation", "chain-of-thought", "synthetic"],
        "configs": [_config_entry(name) for name in config.output.configs],
        "dataset_info": [_dataset_info(out_dir, name) for name in config.output.configs],
    }


def _config_entry(name: str) -> dict:
    entry = {"config_name": name, "data_files": [{"split": "train", "path": f"data/{name}/train-*"}]}
    if name == "default":
        entry["default"] = True
    return entry


def _dataset_info(out_dir: Path, name: str) -> dict:
    files = sorted((out_dir / "data" / name).glob("train-*.parquet"))
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    stored = sum(f.stat().st_size for f in files)
    uncompressed = sum(_uncompressed_bytes(f) for f in files)
    features = datasets.Features.from_arrow_schema(SCHEMAS[name])
    return {
        "config_name": name,
        "features": features._to_yaml_list(),
        "splits": [{"name": "train", "num_bytes": uncompressed, "num_examples": rows}],
        "download_size": stored,
        "dataset_size": uncompressed,
    }


def _uncompressed_bytes(path: Path) -> int:
    metadata = pq.ParquetFile(path).metadata
    return sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))


CARD_FILES = ["README.md", "images"]
LENGTH_COLUMNS = ("prompt", "reasoning", "response")
STATS_BATCH_ROWS = 2000  # rows of long reasoning read at a time: pyarrow's default 65,536 is gigabytes
STATS_SCHEMA = {"source": pl.String, "model": pl.String, "score": pl.Float64, "verify_method": pl.String,
                "category": pl.String,
                **{f"{name}_chars": pl.Int32 for name in LENGTH_COLUMNS}}
PERCENTILES = (10, 50, 90, 99)


def card_stats(scored: Path, keep: pa.Array | None = None, tokenizer: CardTokenizer | None = None) -> pl.DataFrame:
    """The columns the card and its plots count: lengths instead of texts, read a row group at a time,
    for the published rows (`keep`: their ids; None: every row). With a tokenizer, `<field>_tokens`
    too, each batch's texts encoded together."""
    parts = []
    columns = ["id", "source", "model", "score", "verify_method", "category", *LENGTH_COLUMNS]
    for batch in pq.ParquetFile(scored, pre_buffer=False).iter_batches(batch_size=STATS_BATCH_ROWS, columns=columns):  # no pre-buffering: see shards.read_batches
        advance(batch.num_rows)  # rows read, on the card stage's bar when one shows
        if keep is not None:
            batch = batch.filter(pc.is_in(batch["id"], value_set=keep))
        lengths = {f"{name}_chars": pc.utf8_length(batch[name]) for name in LENGTH_COLUMNS}
        if tokenizer is not None:
            lengths |= {f"{name}_tokens": pa.array(tokenizer.count(batch[name].fill_null("").to_pylist()), pa.int32())
                        for name in LENGTH_COLUMNS}
        kept = ("source", "model", "score", "verify_method", "category")
        parts.append(pl.from_arrow(pa.table({name: batch[name] for name in kept} | lengths)))
    if parts:
        return pl.concat(parts)
    tokens = {f"{name}_tokens": pl.Int32 for name in LENGTH_COLUMNS} if tokenizer is not None else {}
    return pl.DataFrame(schema=STATS_SCHEMA | tokens)


@dataclass
class BuildRecord:
    """What the card tells of how the rows were made, beyond the config: from the run directory."""

    stages: list = field(default_factory=list)  # stages.StageResult of this build
    routing_report: str = ""  # complexity distribution, cut-off and tier × teacher plan
    complexity_plot: Path | None = None
    judge: str = ""  # the judge's model and prompts (verify.judge.judge_description)
    keep: pa.Array | None = None  # ids of the published rows; None: every scored row
    judged_by_simulator: int = 0  # rows whose judge replies came from the crd simulator
    source_labels: list[list[str]] | None = None  # per [[sources]] entry, the `source` values of its rows
    tokenizer: CardTokenizer | None = None  # `[output] tokenizer`: lengths in its tokens too


def write_card(config, scored: Path, out_dir: Path, simulated: int, record: BuildRecord | None = None,
               repo_id: str | None = None) -> list[str]:
    """Write README.md and its figures atomically from the scored rows; returns what was written.

    `simulated`: how many of the published rows the crd simulator answered."""
    record = record or BuildRecord()
    rows = card_stats(scored, record.keep, record.tokenizer)
    repo_id = repo_id or str(out_dir)
    figures = write_plots(rows, out_dir)
    licenses = check_licenses(config.sources, config.output.license)
    if record.complexity_plot is not None and record.complexity_plot.exists():
        figures.append(_copy_image(record.complexity_plot, out_dir, "complexity.png"))
    body = string.Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        title=config.output.pretty_name or config.name,
        notice=simulator_notice(simulated, rows.height),
        license_notice=card_notice(licenses),
        sources=sources_section(rows, config.sources, record.source_labels, licenses),
        citations=citations_section(config.sources, record.source_labels),
        summary=_summary(rows, config.output.configs, record.tokenizer),
        use_it=_use_it(rows, config.output.configs, repo_id, record.tokenizer),
        configs=", ".join(f"`{name}`" for name in config.output.configs),
        score_table=_count_table(rows, "score", "score"),
        method_table=_count_table(rows, "verify_method", "checked by"),
        stats_table=_length_tables(rows, record.tokenizer),
        model_table=_count_table(rows, "model", "model"),
        recipe=_recipe(config),
        teachers=_teachers(config),
        stages=_stage_table(record.stages),
        routing=_routing(record),
        judge=_judge(record),
        limitations=limitations(config),
        figures="\n\n".join(f"![{Path(image).stem}]({image})" for image in figures),
        version=version("chinese-reasoning-distil"),
    )
    text = "---\n" + yaml.safe_dump(header(config, out_dir, rows.height), allow_unicode=True, sort_keys=False) + "---\n\n" + body
    path = out_dir / "README.md"
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")
    return CARD_FILES


def _copy_image(source: Path, out_dir: Path, name: str) -> str:
    target = out_dir / "images" / name
    with atomic_path(target) as temporary:
        shutil.copyfile(source, temporary)
    return f"images/{name}"


def score_groups(rows: pl.DataFrame) -> dict[str, int]:
    """Every row in exactly one group (a score always comes with its method): checked right, partly
    right (code), checked wrong, judged, unscored."""
    checked = pl.col("verify_method").is_not_null() & (pl.col("verify_method") != JUDGE_METHOD)
    scored = pl.col("score").is_not_null()
    return {
        "right": rows.filter(checked & (pl.col("score") == 10)).height,
        "partial": rows.filter(checked & (pl.col("score") > 0) & (pl.col("score") < 10)).height,
        "wrong": rows.filter(checked & (pl.col("score") == 0)).height,
        "judged": rows.filter((pl.col("verify_method") == JUDGE_METHOD) & scored).height,
        "unscored": rows.filter(~scored).height,
    }


SCORE_GROUPS = {  # what a newcomer needs to know of each group, in the summary's table
    "right": "**checked right** (`score` 10): the final answer matches the reference answer, or the code passed "
             "every test",
    "partial": "**partly right** code: `score` is the share of tests passed × 10",
    "wrong": "**checked wrong** (`score` 0): kept so that you can choose; filter on `score`",
    "judged": "**rated by an LLM judge** (`score` 0–10): a model's opinion, not a check",
    "unscored": "**unscored** (`score` empty): nothing could check them",
}
SUMMARY_NAMES = 4  # teachers and sources named in the summary; the statistics list them all


def _summary(rows: pl.DataFrame, configs: list[str], tokenizer: CardTokenizer | None) -> str:
    if rows.is_empty():
        return "**No rows were published.** The stages under [How it was built](#how-it-was-built) say where they went."
    groups = [f"| {n:,} | {SCORE_GROUPS[name]} |" for name, n in score_groups(rows).items() if n]
    median = f"{rows['reasoning_chars'].median() or 0:,.0f} characters"
    if tokenizer is not None:
        median += f" ({rows['reasoning_tokens'].median() or 0:,.0f} tokens of `{tokenizer.name}`)"
    return "\n".join([
        f"**{rows.height:,} Chinese prompts, each with a teacher model's reasoning and final answer**, for "
        "fine-tuning a model to reason before it answers (distillation). How they are scored:",
        "",
        "| rows | what their `score` says |",
        "|---:|---|",
        *groups,
        "",
        f"Teachers: {_named_counts(rows, 'model')}. Sources: {_named_counts(rows, 'source')}. "
        f"Median reasoning: {median}.",
        "",
        f"Configs: {', '.join(f'`{name}`' for name in configs)} (the same rows in different layouts, below); "
        "[Use it](#use-it) has the loading code and training recipes.",
    ])


def _named_counts(rows: pl.DataFrame, column: str) -> str:
    counts = rows.group_by(column).len().sort(["len", column], descending=[True, False]).drop_nulls(column)
    named = [f"`{value}` ({n:,})" for value, n in counts.head(SUMMARY_NAMES).iter_rows()]
    more = counts.height - SUMMARY_NAMES
    return ", ".join(named) + (f" and {more} more" if more > 0 else "")


def _teachers(config) -> str:
    lines = ["| teacher | preset | weight | samples | temperature | top_p | max_tokens | forced `<think>` prefix |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for m in config.models:
        top_p = "default" if m.top_p is None else f"{m.top_p:g}"
        lines.append(f"| `{m.name}` | {m.preset} | {m.weight:g} | {m.samples} | {m.temperature:g} | {top_p} | "
                     f"{m.max_tokens:,} | {'yes' if m.force_think_prefix else 'no'} |")
    return "\n".join(lines)


RUN_HISTORY = {"asked"}  # how many requests this particular run sent: not a property of the dataset


def _stage_table(stages) -> str:
    lines = ["| stage | counts |", "|---|---|"]
    for stage in stages:
        counts = "; ".join(f"{key}: {_plain(value)}" for key, value in stage.counts.items() if key not in RUN_HISTORY)
        lines.append(f"| {stage.name} | {counts} |")
    return "\n".join(lines)


def _plain(value) -> str:
    if isinstance(value, dict):
        return format_counts(value) or "none"
    return format_count(value)


def _judge(record: BuildRecord) -> str:
    if not record.judge:
        return "No LLM judge was configured: rows without a checkable reference answer stay unscored."
    simulated = record.judged_by_simulator
    return (SIMULATED_JUDGE_NOTICE.format(rows=simulated) if simulated else "") + record.judge


def _routing(record: BuildRecord) -> str:
    if not record.routing_report:
        return "Prompts were routed to teachers by their weights."
    return "```\n" + record.routing_report.strip() + "\n```"


def _count_table(rows: pl.DataFrame, column: str, title: str) -> str:
    counts = rows.group_by(column).len().sort(["len", column], descending=[True, False], nulls_last=True)
    lines = [f"| {title} | rows |", "|---|---|"]
    for value, n in counts.iter_rows():
        lines.append(f"| {'(not scored)' if value is None else value} | {n:,} |")
    return "\n".join(lines)


def _length_tables(rows: pl.DataFrame, tokenizer: CardTokenizer | None) -> str:
    tables = [f"Rows: {rows.height:,}. Lengths per row, in characters:", "", _percentile_table(rows, "chars")]
    if tokenizer is not None:
        tables += ["", f"In tokens of `{tokenizer.name}` (tokenizer file hash `{tokenizer.digest[:12]}`; the text "
                       "alone, no special or chat-template tokens):",
                   "", _percentile_table(rows, "tokens")]
    return "\n".join(tables)


def _percentile_table(rows: pl.DataFrame, unit: str) -> str:
    """p10, p50, p90, p99 and max of each field (linear interpolation), and the total over all rows."""
    columns = rows.select(*(pl.col(f"{name}_{unit}").alias(name) for name in LENGTH_COLUMNS),
                          _whole_row(unit).alias(" + ".join(LENGTH_COLUMNS)))
    lines = ["| field | " + " | ".join(f"p{p}" for p in PERCENTILES) + " | max | total |",
             "|---|" + "---:|" * (len(PERCENTILES) + 2)]
    for name in columns.columns:
        values = columns[name]
        figures = [values.quantile(p / 100, "linear") for p in PERCENTILES] + [values.max(), values.sum()]
        lines.append(f"| {name} | " + " | ".join(_figure(value) for value in figures) + " |")
    return "\n".join(lines)


def _whole_row(unit: str) -> pl.Expr:
    """A row's prompt, reasoning and response together, in characters or tokens."""
    return pl.sum_horizontal(*(pl.col(f"{name}_{unit}") for name in LENGTH_COLUMNS))


def _figure(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _use_it(rows: pl.DataFrame, configs: list[str], repo_id: str, tokenizer: CardTokenizer | None) -> str:
    if tokenizer is None or rows.is_empty():
        note = "the default 1024 tokens would cut most reasoning; fit it to your rows"
        return use_it(configs, repo_id, max_length_for(None), note)
    p99 = rows.select(_whole_row("tokens")).to_series().quantile(0.99, "linear")
    note = f"99% of rows are at most {p99:,.0f} tokens of {tokenizer.name}, before the chat template's own"
    return use_it(configs, repo_id, max_length_for(p99), note)


def _recipe(config) -> str:
    lines = []
    lines.append(f"- System prompt: {'none' if not config.generation.system_prompt else 'yes'}.")
    categories = ", ".join(config.generation.suffix_categories)
    lines.append(f"- Suffix appended to {categories} prompts: `{config.generation.math_suffix}` (not included in `prompt`).")
    lines.append("- Truncated replies (`finish_reason` = `length`), empty answers and unclosed reasoning are never kept.")
    return "\n".join(lines)
