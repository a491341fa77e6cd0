"""The simulator's rater modes (not models): varied phrasings, deterministic, ratings that follow the prompt."""

from __future__ import annotations

import re

import openai
import pytest

from processing.llm.rating import RatingParser, Scale
from processing.route.complexity import PARSER, scoring_messages
from processing.route.settings import ComplexitySettings
from processing.sim import SimSettings, Simulator
from processing.sim_raters import simulated_complexity

JUDGE = RatingParser(Scale(0, 10), dimensions={"harmlessness": ("有害性", "harmlessness"),
                                               "helpfulness": ("有用性", "helpfulness"),
                                               "correctness": ("正确性", "correctness")})
INSTRUCTIONS = [f"第{n}题：" + "请说明理由。" * (n % 50) for n in range(300)]


@pytest.fixture(scope="module")
def client():
    with Simulator(SimSettings()) as sim, openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0) as c:
        yield c


def ask(client, model: str, content: str):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": content}])


def scoring_prompt(instruction: str) -> str:
    return scoring_messages(instruction, ComplexitySettings())[0][1]


@pytest.fixture(scope="module")
def scorer_replies(client):
    return [ask(client, "sim-scorer-qwen", scoring_prompt(text)).choices[0].message.content for text in INSTRUCTIONS]


def shape_of(reply: str) -> str:
    """The phrasing with the numbers taken out."""
    return re.sub(r"\d+", "N", reply)


def test_scorer_replies_vary_in_phrasing_and_some_cannot_be_read(scorer_replies):
    shapes = {shape_of(reply) for reply in scorer_replies}
    assert {"N", "评分：N", "N/N", "**N**", '{"score": N}', "N-N"} <= shapes
    unreadable = [reply for reply in scorer_replies if not PARSER.parse(reply).read]
    assert 0 < len(unreadable) < len(scorer_replies) * 0.2


def test_scorer_ratings_follow_the_framed_instruction_length(scorer_replies):
    for instruction, reply in zip(INSTRUCTIONS, scorer_replies):
        rating = PARSER.parse(reply)
        if rating.read:
            truth = simulated_complexity("sim-scorer-qwen", scoring_prompt(instruction))
            assert rating.value in (truth, truth - 0.5), (reply, truth)  # a range "6-7" reads as 6.5
    short, long = simulated_complexity("sim-scorer-qwen", scoring_prompt("你好")), \
        simulated_complexity("sim-scorer-qwen", scoring_prompt("请证明。" * 100))
    assert short <= 3 and long >= 9


def test_rater_replies_are_deterministic_and_carry_no_reasoning(client):
    first, again = (ask(client, "sim-scorer-glm", scoring_prompt("解方程 x+1=2")) for _ in range(2))
    assert first.choices[0].message.content == again.choices[0].message.content
    assert first.choices[0].message.model_extra.get("reasoning_content") is None
    assert first.system_fingerprint == "crd-simulator"


def test_two_scorer_names_disagree_a_little():
    text = [scoring_prompt(instruction) for instruction in INSTRUCTIONS]
    pairs = [(simulated_complexity("sim-scorer-qwen", t), simulated_complexity("sim-scorer-glm", t)) for t in text]
    assert any(a != b for a, b in pairs) and all(abs(a - b) <= 2 for a, b in pairs)


def test_judge_modes_reply_with_ratings_the_judge_parser_reads(client):
    overall = [ask(client, "sim-judge", f"请评价回答{n}").choices[0].message.content for n in range(100)]
    parts = [ask(client, "sim-judge-parts", f"请评价回答{n}").choices[0].message.content for n in range(100)]
    read = [JUDGE.parse(reply) for reply in overall]
    assert sum(r.read and r.value is not None for r in read) >= 80 and len({shape_of(x) for x in overall}) >= 5
    read_parts = [JUDGE.parse(reply) for reply in parts]
    assert sum(set(r.parts) == {"harmlessness", "helpfulness", "correctness"} for r in read_parts) >= 80


def test_models_list_names_the_raters(client):
    ids = [model.id for model in client.models.list().data]
    assert {"sim-scorer-qwen", "sim-scorer-glm", "sim-judge", "sim-judge-parts"} <= set(ids)
