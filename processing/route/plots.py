"""The complexity distribution as a figure: what was dropped, where the tiers start."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on build machines
import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402

from processing.files import atomic_path  # noqa: E402
from processing.route.complexity import SCALE, Selection  # noqa: E402
from processing.route.settings import RoutingSettings, tier_labels  # noqa: E402

BIN_WIDTH = 0.25  # ratings are whole numbers or midpoints of ranges: means of two fall on quarters


def write_score_plot(scored: pl.DataFrame, selection: Selection, routing: RoutingSettings, path: Path) -> Path:
    """A histogram of complexity, split into kept and dropped, with the tier boundaries; written atomically."""
    dropped = set(selection.dropped_rows["id"])
    rated = scored.filter(pl.col("complexity").is_not_null())
    is_dropped = rated["id"].is_in(list(dropped))
    edges = [SCALE.low + BIN_WIDTH * (step - 0.5) for step in range(int((SCALE.high - SCALE.low) / BIN_WIDTH) + 2)]
    figure, axis = plt.subplots(figsize=(7, 3.5))
    axis.hist([rated.filter(~is_dropped)["complexity"].to_numpy(), rated.filter(is_dropped)["complexity"].to_numpy()],
              bins=edges, stacked=True, color=["tab:blue", "lightgray"], label=["kept", "dropped (easiest share)"])
    for label, tier in list(zip(tier_labels(routing.tiers), routing.tiers))[1:]:
        axis.axvline(tier.min_complexity, color="tab:red", linestyle="--", linewidth=1)
        axis.text(tier.min_complexity, axis.get_ylim()[1] * 0.95, f" tier {label}", color="tab:red", fontsize="small")
    axis.set_xlabel("complexity (aggregate of the scorers)")
    axis.set_ylabel("prompts")
    cutoff = "none" if selection.cutoff is None else f"{selection.cutoff:g}"
    axis.set_title(f"Prompt complexity: {selection.dropped} of {selection.scored} dropped (cut-off {cutoff}), "
                   f"{selection.unscored} unscored", fontsize="medium")
    axis.legend(fontsize="small")
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=100, format="png")
    plt.close(figure)
    return path
