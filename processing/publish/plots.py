"""Figures for the dataset card, rendered headless into the dataset's images/ folder."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on build machines
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

from processing.files import atomic_path  # noqa: E402


def write_plots(rows: pl.DataFrame, out_dir: Path) -> list[str]:
    """Write the card's figures; returns their paths relative to `out_dir`."""
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    return [
        _save(_length_figure(rows), images / "reasoning_length.png", out_dir),
        _save(_score_figure(rows), images / "scores.png", out_dir),
    ]


def _length_figure(rows: pl.DataFrame):
    figure, axis = plt.subplots(figsize=(7, 3.5))
    for (model,), group in rows.group_by("model", maintain_order=True):
        axis.hist(group["reasoning_chars"].to_numpy(), bins=30, alpha=0.6, label=model)
    axis.set_xlabel("reasoning length (characters)")
    axis.set_ylabel("rows")
    axis.set_title("Reasoning length by teacher model")
    if rows.height:  # an empty legend only draws a warning
        axis.legend(fontsize="small")
    return figure


def _score_figure(rows: pl.DataFrame):
    counts = (
        rows.with_columns(pl.col("score").cast(pl.String).fill_null("not scored").alias("label"))
        .group_by("source", "label")
        .len()
        .sort("label", "source")  # pivot columns in first-seen order: sorted, so every build draws the same
        .pivot(on="label", index="source", values="len")
        .fill_null(0)
        .sort("source")
    )
    figure, axis = plt.subplots(figsize=(7, 3.5))
    bottom = [0] * counts.height
    for label in [c for c in counts.columns if c != "source"]:
        values = counts[label].to_list()
        axis.barh(counts["source"].to_list(), values, left=bottom, label=f"score {label}" if label != "not scored" else label)
        bottom = [b + v for b, v in zip(bottom, values)]
    axis.set_xlabel("rows")
    axis.set_title("Verification scores by source")
    if rows.height:  # an empty legend only draws a warning
        axis.legend(fontsize="small")
    return figure


def _save(figure, path: Path, out_dir: Path) -> str:
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)
    return str(path.relative_to(out_dir))
