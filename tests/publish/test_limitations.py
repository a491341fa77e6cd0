"""The card's Limitations say what this build's settings did, not what a default build does."""

from __future__ import annotations

from processing.config import parse_config
from processing.publish.limitations import limitations

BASE = {"sources": [{"path": "pool.jsonl"}], "models": [{"name": "teacher", "base_url": "http://127.0.0.1:9/v1"}]}


def test_named_benchmarks_and_their_threshold_are_stated():
    config = parse_config(BASE | {"decontam": {"ngram": 10, "min_overlap": 0.4, "benchmarks": [
        {"path": "/data/cmath.jsonl"}, {"path": "/data/x.jsonl", "name": "高考数学"}]}})
    text = limitations(config)
    assert "cmath, 高考数学" in text and "40%" in text and "10-character n-grams" in text
    assert "No decontamination" not in text


def test_no_judge_and_no_benchmark_are_said_plainly():
    text = limitations(parse_config(BASE))
    assert "No judge" in text and "No decontamination" in text


def test_publishing_choices_change_what_is_said_of_filtering():
    config = parse_config(BASE | {"verify": {"select": {"min_score": 10, "drop_flags": ["repetition"]}},
                                  "output": {"configs": ["default", "sft"]}})
    text = limitations(config)
    assert "Only rows scoring at least 10 were published" in text and "flagged repetition were left out" in text
    assert "`full` config" not in text
