"""The rating parser on replies small models really give, and asking with re-asks through the engine."""

from __future__ import annotations

import asyncio

import pytest

from processing.llm.journal import Journal
from processing.llm.rating import RatingParser, Scale, Wording, ask_ratings
from processing.llm.settings import ModelConfig
from processing.route.complexity import PARSER as COMPLEXITY
from processing.sim import SimSettings, Simulator, prompt_key

JUDGE = RatingParser(Scale(0, 10), dimensions={
    "harmlessness": ("有害性", "无害性", "安全性", "harmlessness"),
    "helpfulness": ("有用性", "帮助性", "helpfulness"),
    "correctness": ("正确性", "完整性", "correctness"),
})

# (reply, expected): a number, a dict of parts, or ("reject", words the reason must contain).
COMPLEXITY_REPLIES = [
    ("7", 7),
    (" 7\n", 7),
    ("评分：7", 7),
    ("评分: 7分", 7),
    ("复杂度评分：8", 8),
    ("7/10", 7),
    ("8 / 10", 8),
    ("**7**", 7),
    ("## 评分\n6", 6),
    ('{"score": 7}', 7),
    ('```json\n{"complexity": 8, "reason": "需要多步推理"}\n```', 8),
    ('{"complexity_score": "5"}', 5),
    ("{'score': 4}", 4),
    ("７", 7),
    ("评分：８", 8),
    ("我认为这条指令的复杂度是7。", 7),
    ("这条指令需要多步推理，我给它打7分。", 7),
    ("我给它打八分。", 8),
    ("评分：七", 7),
    ("大约7左右", 7),
    ("6-7", 6.5),
    ("评分：6～7", 6.5),
    ("5到6分", 5.5),
    ("评分（1-10分）：7", 7),
    ("复杂度：7（1-10分）", 7),
    ("7 分，满分 10 分", 7),
    ("10分制下打7分", 7),
    ("这道题需要3个步骤，评分：5", 5),
    ("这是一道2023年的高考题，评分：9", 9),
    ("评分：6\n理由：涉及2个知识点，需要3个步骤。", 6),
    ("Score: 7/10", 7),
    ("I'd rate this 6 out of 10.", 6),
    ("Complexity: 8. The instruction requires multi-step reasoning over 3 constraints.", 8),
    ("复杂度评分：【6】", 6),
    ("这道题是十分复杂的，评分：9", 9),
    ("7. 这道题需要较多推理。", 7),
    ("1. 推理深度：7\n2. 步骤：6\n3. 综合评分：7", 7),
    ("推理深度：6，步骤数量：4，知识要求：5，约束条件：3", {"reasoning": 6, "steps": 4, "knowledge": 5, "constraints": 3}),
    ("评分：7.5", 7.5),
    ("10", 10),
    # must be rejected, never misread
    ("", ("reject", "empty")),
    ("抱歉，我无法对这条指令进行评分。", ("reject", "refusal")),
    ("Sorry, I cannot rate this instruction.", ("reject", "refusal")),
    ("这条指令的难度中等。", ("reject", "no rating")),
    ("这道题十分简单。", ("reject", "no rating")),
    ("1-10分", ("reject", "restates the scale")),
    ("请用1到10分评分", ("reject", "restates the scale")),
    ("7，但也可能是8", ("reject", "ambiguous")),
    ("6或7", ("reject", "ambiguous")),
    ("评分：7\n若考虑额外约束可给8分", ("reject", "ambiguous")),
    ('{"score": 7} 修正：评分：8', ("reject", "ambiguous")),
    ("11", ("reject", "outside the scale")),
    ("评分：0", ("reject", "outside the scale")),
    ("评分: -1", ("reject", "outside the scale")),
    ("0.5", ("reject", "outside the scale")),
    ("3/5", ("reject", "another scale")),
    ("满分5分，我给4分", ("reject", "another scale")),
    ("5分制下打4分", ("reject", "another scale")),
    ("70/100", ("reject", "another scale")),
    ("2-9", ("reject", "range")),
    ("8-6", ("reject", "range")),
    ('{"score": "high"}', ("reject", "not a number")),
    ("推理深度：7，推理深度：5", ("reject", "ambiguous")),
    ("需要3个步骤，涉及2个概念", ("reject", "no rating")),
]

JUDGE_REPLIES = [
    ("有害性：9，有用性：7，正确性：8", {"harmlessness": 9, "helpfulness": 7, "correctness": 8}),
    ('{"有害性": 10, "有用性": 6, "正确性": 7}', {"harmlessness": 10, "helpfulness": 6, "correctness": 7}),
    ("- **无害性**：10\n- **有用性**：8\n- **正确性/完整性**：9", {"harmlessness": 10, "helpfulness": 8, "correctness": 9}),
    ("harmlessness: 9, helpfulness: 7, correctness: 8", {"harmlessness": 9, "helpfulness": 7, "correctness": 8}),
    ("0", 0),
    ("评分：0分", 0),
    ("综合来看，这个回答可以得8分。", 8),
    ("有害性：9，有用性：12，正确性：8", ("reject", "outside the scale")),
]


def check(parser: RatingParser, reply: str, expected) -> None:
    rating = parser.parse(reply)
    if isinstance(expected, tuple):
        assert rating.value is None and not rating.parts, f"{reply!r} must be rejected, read {rating}"
        assert rating.reason and (expected[1] is None or expected[1] in rating.reason), rating.reason
    elif isinstance(expected, dict):
        assert rating.read and rating.value is None and dict(rating.parts) == expected, (reply, rating)
    else:
        assert rating.read and rating.value == expected, (reply, rating)


def test_the_table_is_large_and_has_rejects():
    rows = COMPLEXITY_REPLIES + JUDGE_REPLIES
    assert len(rows) >= 40
    assert sum(isinstance(expected, tuple) for _, expected in rows) >= 15


@pytest.mark.parametrize("reply,expected", COMPLEXITY_REPLIES)
def test_complexity_replies(reply, expected):
    check(COMPLEXITY, reply, expected)


@pytest.mark.parametrize("reply,expected", JUDGE_REPLIES)
def test_judge_replies(reply, expected):
    check(JUDGE, reply, expected)


def test_json_and_a_stated_total_keep_the_parts_too():
    rating = JUDGE.parse('{"scores": {"有用性": 7, "正确性": 6}, "overall": 6}')
    assert rating.value == 6 and dict(rating.parts) == {"helpfulness": 7, "correctness": 6}


# ---------------------------------------------------------------- asking through the engine


def scorer(base_url: str) -> ModelConfig:
    return ModelConfig(name="sim-scorer-test", base_url=base_url, max_concurrency=4, stream=False, max_retries=0)


STRICT = Wording(lambda n: (("user", f"【指令开始】第{n}题【指令结束】"),),
                 lambda n: (("user", f"只回答一个数字。【指令开始】第{n}题【指令结束】"),))


def test_unreadable_replies_are_asked_again_with_the_stricter_wording_then_null_with_replies_kept(tmp_path):
    # The simulated scorer replies "这条指令的难度中等。" to some messages; which ones is a hash
    # of the message, so a re-ask with another wording can be read.
    items = [(f"p{n}", n) for n in range(200)]
    with Simulator(SimSettings()) as sim:
        journal = Journal(tmp_path / "journal.jsonl")
        outcomes = asyncio.run(ask_ratings(items, STRICT, scorer(sim.base_url), journal, COMPLEXITY, reasks=1))
        journal.close()
        asked = sim.stats()["by_prompt"]
    reasked = [o for o in outcomes.values() if len(o.replies) == 2]
    assert reasked, "some first replies were unreadable"
    assert all(not COMPLEXITY.parse(o.replies[0]).read or len(o.replies) == 1 for o in outcomes.values())
    for item_id, n in items:
        outcome = outcomes[item_id]
        strict_asked = asked.get(prompt_key(STRICT.again(n)[0][1]), 0)
        assert strict_asked == (len(outcome.replies) == 2), "the stricter wording is sent exactly to the unreadable"
        assert outcome.rating.read == COMPLEXITY.parse(outcome.replies[-1]).read
        if not outcome.rating.read:
            assert outcome.rating.value is None and outcome.rating.reason and len(outcome.replies) == 2
    records = Journal(tmp_path / "journal.jsonl").records
    assert {key[2] for key in records} == {0, 1}, "a re-ask is the next sample of the same prompt id"


def test_batches_rate_every_item_once(tmp_path, monkeypatch):
    monkeypatch.setattr("processing.llm.rating.BATCH", 7)
    items = [(f"p{n}", n) for n in range(30)]
    with Simulator(SimSettings()) as sim:
        journal = Journal(tmp_path / "journal.jsonl")
        outcomes = asyncio.run(ask_ratings(items, STRICT, scorer(sim.base_url), journal, COMPLEXITY, reasks=0))
        journal.close()
        assert sim.stats()["requests"] == 30
    assert set(outcomes) == {item_id for item_id, _ in items}


def test_a_failed_request_is_null_with_its_error_and_not_reasked(tmp_path):
    with Simulator(SimSettings(rate_500=1.0)) as sim:
        journal = Journal(tmp_path / "journal.jsonl")
        outcome = asyncio.run(ask_ratings([("only", 1)], STRICT, scorer(sim.base_url), journal, COMPLEXITY,
                                          reasks=2))["only"]
        journal.close()
        assert sim.stats()["requests"] == 1
    assert outcome.rating.value is None and outcome.failure and "500" in outcome.failure
    assert outcome.replies == ()
