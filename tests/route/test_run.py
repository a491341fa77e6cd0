"""plan_routes: the rows the pipeline generates from, with and without scorers."""

from __future__ import annotations

import polars as pl

from processing.llm.settings import ModelConfig
from processing.route.complexity import FOLDER
from processing.route.run import format_plan, plan_routes
from processing.route.settings import ComplexitySettings, RoutingSettings, Tier
from processing.route.tiers import route
from processing.schema import stable_id
from processing.sim import SimSettings, Simulator

POOL = pl.DataFrame({"id": [stable_id("run", n) for n in range(120)],
                     "prompt": [f"第{n}题：" + "请说明。" * (n % 30) for n in range(120)]})
TEACHERS = [ModelConfig(name=name, base_url="http://teacher/v1") for name in ("strong", "plain")]
ROUTING = RoutingSettings(tiers=[Tier(min_complexity=0, weights={"strong": 1, "plain": 1}),
                                 Tier(min_complexity=6, weights={"strong": 3, "plain": 1}, samples=2)])


def test_routes_carry_each_kept_prompt_with_its_complexity_tier_teacher_and_samples(tmp_path):
    with Simulator(SimSettings()) as sim:
        scorers = [ModelConfig(name=name, base_url=sim.base_url, max_concurrency=8) for name in ("sim-scorer-a", "sim-scorer-b")]
        plan = plan_routes(POOL, ComplexitySettings(scorers=scorers), ROUTING, TEACHERS, tmp_path, quiet=True)
    routes, scored = plan.routes, plan.scored
    dropped = set(plan.selection.dropped_rows["id"])
    assert set(routes["id"]) == set(POOL["id"]) - dropped and routes.height == plan.selection.kept
    complexity = dict(scored.select("id", "complexity").iter_rows())
    for prompt_id, value, tier, model, samples in routes.iter_rows():
        assert value == complexity[prompt_id]
        assert tier == ("2" if value is not None and value >= 6 else "1")
        assert samples == (2 if tier == "2" else 1) and model in ("strong", "plain")
    assert sum(plan.requests.values()) == routes["samples"].sum()
    assert (tmp_path / FOLDER / "dropped.jsonl").read_text().count("\n") == len(dropped)
    text = format_plan(plan, ComplexitySettings(scorers=scorers))
    assert plan.table in text and "cut-off" in text


def test_without_scorers_nothing_is_scored_or_dropped_and_the_split_is_by_weight(tmp_path):
    plan = plan_routes(POOL, ComplexitySettings(), RoutingSettings(), TEACHERS, tmp_path)
    assert plan.scored is None and plan.selection is None and plan.plot is None
    assert plan.routes["id"].to_list() == POOL["id"].to_list()
    assert plan.routes["complexity"].null_count() == plan.routes["tier"].null_count() == POOL.height
    assert plan.routes["model"].to_list() == [route(prompt_id, TEACHERS).name for prompt_id in POOL["id"]]
    assert not (tmp_path / FOLDER).exists()
    assert "cut-off" not in format_plan(plan, ComplexitySettings())
