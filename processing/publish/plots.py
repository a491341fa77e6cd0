"""Figures for the dataset card, rendered headless into the dataset's images/ folder.

Two things make them readable across builds:
- a CJK font that ships with the package (Noto Sans SC, from the `pylopdf-fonts-zh-cn`
  wheel), so Chinese source and model names never render as boxes, on any machine;
- colours that follow the name of a teacher or source, not its position, so a model
  keeps its colour from one build to the next.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on build machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import pylopdf_fonts_zh_cn  # noqa: E402
from matplotlib import colormaps, font_manager  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from processing.files import atomic_path  # noqa: E402

# tab10 without its grey, which reads as "missing" and is kept for unscored rows;
# a name's slot is fixed by its hash.
PALETTE = [colormaps["tab10"](index) for index in range(10) if index != 7]
UNSCORED = "#9e9e9e"


@contextmanager
def cjk_style() -> Iterator[None]:
    """Matplotlib settings under which Latin text uses DejaVu Sans and CJK falls back to Noto Sans SC."""
    path = str(pylopdf_fonts_zh_cn.sans_path())
    font_manager.fontManager.addfont(path)  # idempotent: the manager keys fonts by file
    cjk = font_manager.FontProperties(fname=path).get_name()
    with plt.rc_context({"font.family": ["DejaVu Sans", cjk]}):  # a list: glyph-by-glyph fallback
        yield


def name_colours(names: Iterable[str]) -> dict[str, tuple]:
    """A palette colour per name, chosen by a stable hash of the name.

    Names are placed in sorted order; one whose slot is taken in this figure moves to the
    next free slot, so colours differ within a figure and stay put across builds unless
    two names collide.
    """
    taken: dict[int, str] = {}
    colours = {}
    for name in sorted(set(names)):
        slot = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "big") % len(PALETTE)
        while slot in taken and len(taken) < len(PALETTE):
            slot = (slot + 1) % len(PALETTE)
        taken[slot] = name
        colours[name] = PALETTE[slot]
    return colours


def write_plots(rows: pl.DataFrame, out_dir: Path) -> list[str]:
    """Write the card's figures; returns their paths relative to `out_dir`."""
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    with cjk_style():
        return [
            save_figure(_length_figure(rows), images / "reasoning_length.png", out_dir),
            save_figure(_score_figure(rows), images / "scores.png", out_dir),
        ]


def _length_figure(rows: pl.DataFrame):
    figure, axis = plt.subplots(figsize=(7, 3.5))
    colours = name_colours(rows["model"].drop_nulls())
    bins = np.histogram_bin_edges(rows["reasoning_chars"].to_numpy(), bins=30)  # shared: comparable bars
    for model, colour in sorted(colours.items()):
        lengths = rows.filter(pl.col("model") == model)["reasoning_chars"].to_numpy()
        axis.hist(lengths, bins=bins, histtype="step", linewidth=1.8, label=model, color=colour)
    axis.set_xlabel("reasoning length (characters)")
    axis.set_ylabel("rows")
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))  # rows are whole: no 0.25-row ticks
    axis.set_title("Reasoning length by teacher model")
    _legend_beside(axis, rows)
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
    figure, axis = plt.subplots(figsize=(7, max(3.5, 1.2 + 0.45 * counts.height)))  # a readable bar per source
    bottom = [0] * counts.height
    for label in sorted((c for c in counts.columns if c != "source"), key=_score_order):
        values = counts[label].to_list()
        axis.barh(counts["source"].to_list(), values, left=bottom, color=_score_colour(label),
                  label=f"score {float(label):g}" if label != "not scored" else label)
        bottom = [b + v for b, v in zip(bottom, values)]
    axis.invert_yaxis()  # sources read alphabetically from the top
    axis.set_xlabel("rows")
    axis.set_title("Verification scores by source")
    _legend_beside(axis, rows)
    return figure


def _legend_beside(axis, rows: pl.DataFrame) -> None:
    """The legend right of the plot, where it never hides a bar or a line."""
    if rows.height:  # an empty legend only draws a warning
        axis.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def _score_order(label: str) -> float:
    return -1.0 if label == "not scored" else float(label)


def _score_colour(label: str):
    """Red (0) to green (10) by the score itself, grey when not scored: the same in every build."""
    return UNSCORED if label == "not scored" else colormaps["RdYlGn"](0.1 + 0.8 * float(label) / 10)


def save_figure(figure, path: Path, out_dir: Path) -> str:
    """Save atomically as PNG and close; returns the path relative to `out_dir`."""
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png", bbox_inches="tight")  # tight: keeps the legend beside
    plt.close(figure)
    return str(path.relative_to(out_dir))
