"""The route stages in a run directory: score → drop the easiest share → assign teachers.

    RUN/complexity/<scorer>-<hash>.jsonl   one journal per scorer (resumable)
    RUN/complexity/scores.parquet          id, complexity, per scorer: rating, note, replies
    RUN/complexity/dropped.jsonl           every dropped prompt with its complexity and reason
    RUN/complexity/scores.png              the distribution, the dropped share, the tiers

Without [[complexity.scorers]] nothing is scored or dropped and routing is the weighted split.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from processing.files import atomic_path
from processing.llm.settings import ModelConfig
from processing.route.complexity import FOLDER, Selection, distribution, score_prompts, select
from processing.route.plots import write_score_plot
from processing.route.settings import ComplexitySettings, RoutingSettings
from processing.route.tiers import assign, plan_table, requests_per_teacher

BAR_WIDTH = 40
REASONS_SHOWN = 3


@dataclass(frozen=True)
class Plan:
    routes: pl.DataFrame  # id, complexity, tier, model, samples: one row per prompt to generate
    table: str  # Markdown, a row per tier and a column per teacher, next to the configured weights
    requests: dict[str, int]  # teacher -> requests it will be sent
    scored: pl.DataFrame | None  # score_prompts' table; None when nothing was scored
    selection: Selection | None
    plot: Path | None


def plan_routes(pool: pl.DataFrame, complexity: ComplexitySettings, routing: RoutingSettings,
                models: list[ModelConfig], run_dir: Path, *, quiet: bool = False, retry_failed: bool = False) -> Plan:
    """Score (when scorers are configured), drop the easiest share, and route every kept prompt."""
    scored = selection = plot = None
    kept = pool.select("id", pl.lit(None, pl.Float64).alias("complexity"))
    if complexity.scorers:
        scored = score_prompts(pool, complexity, run_dir, quiet=quiet, retry_failed=retry_failed)
        kept, selection = select(scored.select("id", "complexity"), complexity)
        folder = run_dir / FOLDER
        with atomic_path(folder / "dropped.jsonl") as temporary:
            selection.dropped_rows.write_ndjson(temporary)
        plot = write_score_plot(scored, selection, routing, folder / "scores.png")
    assignment = assign(kept, models, routing)
    routes = pl.concat([kept.select("complexity"), assignment], how="horizontal").select("id", pl.exclude("id"))
    return Plan(routes, plan_table(assignment, routing, models), requests_per_teacher(assignment, models), scored, selection, plot)


def format_plan(plan: Plan, complexity: ComplexitySettings) -> str:
    """What `crd score` prints: the distribution, the cut, the scorers' misses, the plan."""
    lines = []
    if plan.scored is not None:
        lines += _distribution_lines(plan.scored, complexity)
        lines += _selection_lines(plan.selection, complexity)
        lines += _miss_lines(plan.scored, complexity)
    lines += ["routing plan (prompts per tier and teacher; share; configured weight):", plan.table,
              "requests per teacher: " + ", ".join(f"{name} {n}" for name, n in plan.requests.items())]
    return "\n".join(lines)


def _distribution_lines(scored: pl.DataFrame, complexity: ComplexitySettings) -> list[str]:
    rows = distribution(scored)
    largest = max(count for _, count in rows) or 1
    header = f"complexity of {scored.height} prompts ({complexity.aggregate} of {len(complexity.scorers)} scorers):"
    return [header] + [f"  {label:>9} {count:>7}  {'█' * round(BAR_WIDTH * count / largest)}" for label, count in rows]


def _selection_lines(selection: Selection, complexity: ComplexitySettings) -> list[str]:
    if selection.cutoff is None:
        cut = f"nothing dropped (drop_share {selection.drop_share:g} of {selection.scored} scored prompts)"
    else:
        cut = (f"cut-off {selection.cutoff:g}: the easiest {selection.dropped} of {selection.scored} scored prompts "
               f"dropped (drop_share {selection.drop_share:g}); {selection.kept_at_cutoff} rated {selection.cutoff:g} "
               f"kept (ties split by id hash)")
    fate = "dropped" if selection.unscored_dropped else "kept"
    return [cut, f"unscored prompts: {selection.unscored} ({fate}, keep_unscored = {str(complexity.keep_unscored).lower()}); "
                 f"{selection.kept} prompts go on to generation"]


def _miss_lines(scored: pl.DataFrame, complexity: ComplexitySettings) -> list[str]:
    lines = []
    for scorer in complexity.scorers:
        notes = [note for note in scored[f"note:{scorer.name}"] if note is not None]
        if notes:
            common = "; ".join(f"{n} × {reason}" for reason, n in Counter(notes).most_common(REASONS_SHOWN))
            lines.append(f"  {scorer.name}: no rating for {len(notes)} of {scored.height} prompts ({common})")
    if lines:
        lines.insert(0, "ratings left null after re-asking (replies kept in complexity/scores.parquet):")
    return lines
