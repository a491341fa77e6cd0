"""Which verified rows are published: all of them (the 110k recipe keeps every score), or only
rows at a minimum score, without chosen quality flags, and the best of n samples per prompt."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pyarrow as pa

from processing.verify.settings import SelectSettings


def selected_ids(scored: Path, settings: SelectSettings) -> tuple[pa.Array | None, dict[str, int]]:
    """Ids of the rows to publish (None: every row) and how many each rule removed.

    Reads only the small columns, so it fits in memory whatever the row count."""
    if settings.min_score is None and not settings.drop_flags and not settings.best_of_n:
        return None, {}
    rows = pl.scan_parquet(scored).select("id", "prompt_id", "model", "sample", "score", "quality_flags").collect()
    removed: dict[str, int] = {}
    if settings.drop_flags:
        flagged = pl.col("quality_flags").list.eval(pl.element().is_in(settings.drop_flags)).list.any().fill_null(False)
        rows, removed["quality_flags"] = _apply(rows, ~flagged)
    if settings.min_score is not None:
        rows, removed["below_min_score"] = _apply(rows, pl.col("score") >= settings.min_score)
    if settings.best_of_n:
        best = rows.sort(["prompt_id", "score", "model", "sample"], descending=[False, True, False, False],
                         nulls_last=True).unique("prompt_id", keep="first", maintain_order=True)
        removed["not_best_of_n"] = rows.height - best.height
        rows = best
    return rows["id"].to_arrow(), removed


def _apply(rows: pl.DataFrame, keep: pl.Expr) -> tuple[pl.DataFrame, int]:
    kept = rows.filter(keep.fill_null(False))
    return kept, rows.height - kept.height
