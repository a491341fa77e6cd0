"""The cost shown before a run: tokens counted from the messages as sent, the expected
completion length and the configured prices, with the batch discount in batch mode."""

from __future__ import annotations

import pytest

from processing.llm.engine import Job
from processing.llm.estimate import estimate, estimate_tokens, format_estimates
from processing.llm.settings import ModelConfig


def test_han_characters_count_one_token_each_and_other_text_a_quarter():
    assert estimate_tokens("小明有五个苹果") == 7
    assert estimate_tokens("abcdefgh") == 2
    assert estimate_tokens("共 12 个") == 2 + 1  # two Han, then " 12 " (four characters) is one token


def test_cost_per_teacher_uses_prices_expected_length_and_the_batch_discount():
    common = {"base_url": "http://x/v1", "input_price": 4.0, "output_price": 16.0, "expected_completion_tokens": 1000}
    realtime = ModelConfig(name="r1", **common)
    batch = ModelConfig(name="r1-batch", mode="batch", batch_discount=0.5, **common)
    unpriced = ModelConfig(name="free", base_url="http://x/v1")
    jobs = [Job("p1", "r1", 0, (("user", "一二三四"),)), Job("p2", "r1", 0, (("user", "五六"),)),
            Job("p1", "r1-batch", 0, (("user", "一二三四"),)), Job("p1", "free", 0, (("user", "一"),))]
    rows = {row.model: row for row in estimate(jobs, [realtime, batch, unpriced])}
    assert rows["r1"].requests == 2 and rows["r1"].prompt_tokens == 6 and rows["r1"].completion_tokens == 2000
    assert rows["r1"].cost == pytest.approx((6 * 4.0 + 2000 * 16.0) / 1e6)
    assert rows["r1-batch"].cost == pytest.approx((4 * 4.0 + 1000 * 16.0) / 1e6 * 0.5)
    assert rows["free"].cost is None
    text = format_estimates(list(rows.values()))
    assert "no price set" in text and "estimated total: 0.04" in text
