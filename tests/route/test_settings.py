"""The [complexity] and [routing] tables: what is refused, with a message naming the culprit."""

from __future__ import annotations

from pathlib import Path

import pytest

from processing.config import load_config
from processing.errors import CrdError

from helpers import REPO

BASE = """
[[sources]]
path = "prompts.jsonl"
[[models]]
name = "deepseek-reasoner"
base_url = "https://api.deepseek.com/v1"
[[models]]
name = "Qwen/QwQ-32B"
base_url = "http://gpu3:8000/v1"
[[complexity.scorers]]
name = "Qwen/Qwen2.5-7B-Instruct"
base_url = "http://gpu1:8000/v1"
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "run.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def tier(minimum: float, weights: str) -> str:
    return f"[[routing.tiers]]\nmin_complexity = {minimum}\nweights = {{ {weights} }}\n"


def test_a_misspelt_teacher_in_tier_weights_is_refused_by_name(tmp_path):
    text = BASE + tier(0, '"deepseek-reasoner" = 1, "Qwen/QwQ-32B" = 1') + tier(6, '"deepseek-reasner" = 2, "Qwen/QwQ-32B" = 1')
    with pytest.raises(CrdError) as error:
        load(tmp_path, text)
    message = str(error.value)
    assert "run.toml" in message and "routing.tiers[1].weights" in message and "'deepseek-reasner'" in message
    assert "deepseek-reasoner, Qwen/QwQ-32B" in message, "the error lists the names that exist"
    assert "\n" not in message


def test_tiers_need_scorers(tmp_path):
    text = BASE.split("[[complexity.scorers]]")[0] + tier(0, '"deepseek-reasoner" = 1')
    with pytest.raises(CrdError, match=r"complexity\.scorers"):
        load(tmp_path, text)


@pytest.mark.parametrize("tiers,words", [
    (tier(0, '"deepseek-reasoner" = 1') + tier(6, '"deepseek-reasoner" = 1') + tier(4, '"Qwen/QwQ-32B" = 1'), "increase"),
    (tier(3, '"deepseek-reasoner" = 1'), "first tier"),
    (tier(0, '"deepseek-reasoner" = 0'), "positive"),
    (tier(0, '"deepseek-reasoner" = -1, "Qwen/QwQ-32B" = 2'), "negative"),
])
def test_bad_tiers_are_refused(tmp_path, tiers, words):
    with pytest.raises(CrdError, match=words):
        load(tmp_path, BASE + tiers)


def test_bad_complexity_settings_are_refused(tmp_path):
    with pytest.raises(CrdError, match="complexity.drop_share"):
        load(tmp_path, "[complexity]\ndrop_share = 1.2\n" + BASE)
    twice = BASE + '[[complexity.scorers]]\nname = "Qwen/Qwen2.5-7B-Instruct"\nbase_url = "http://gpu2:8000/v1"\n'
    with pytest.raises(CrdError, match="Qwen/Qwen2.5-7B-Instruct"):
        load(tmp_path, twice)


def test_defaults_without_the_tables(tmp_path):
    config = load(tmp_path, BASE.split("[[complexity.scorers]]")[0])
    assert config.complexity.scorers == [] and config.complexity.drop_share == 0.3
    assert config.complexity.keep_unscored and config.routing.tiers == []


@pytest.mark.parametrize("name", ["r1-180k.toml", "r1-180k-sim.toml"])
def test_the_180k_examples_load_with_two_scorers_three_teachers_three_tiers(name):
    config = load_config(REPO / "examples" / name)
    assert len(config.complexity.scorers) == 2 and len(config.models) == 3 and len(config.routing.tiers) == 3
    first, *_, last = config.routing.tiers
    strongest = config.models[0].name
    share = lambda tier: tier.weights[strongest] / sum(tier.weights.values())  # noqa: E731
    assert share(last) > share(first), "the strongest teacher answers more of the hardest prompts"
    others = [{w for n, w in tier.weights.items() if n != strongest} for tier in config.routing.tiers]
    assert all(len(weights) == 1 for weights in others), "the other teachers share equally in every tier"
