"""Rating replies of the simulator (not a model): its scorer and judge modes.

The simulator (processing/sim.py) answers as a rater when the model name says so:

    sim-scorer…       a 1–10 complexity rating (any name starting so: sim-scorer-qwen, sim-scorer-glm)
    sim-judge-parts…  a 0–10 rating per dimension (有害性/有用性/正确性)
    sim-judge…        one 0–10 rating

Either judge, asked whether a response's final answer matches a reference (a message
framing 【参考答案开始】…【参考答案结束】 and 【回答开始】…【回答结束】), gives a verdict
instead: 是 when the reference appears in the response, else 否, in the phrasings judges
use (结论：是, **否**, 10, {"等价": true}, a sentence), now and then an undecided one.

Replies come in the phrasings small models really use: a bare number, 评分：7, 7/10,
**7**, JSON, a sentence, a range, a number with its reasons, and now and then a reply
with no rating or a refusal. Everything is a pure function of the model name and the
message, so a rerun gets the same replies, while a re-ask with other wording may get
a readable one.

The complexity rating grows with the length of the rated text, so score tiers get
different populations; each scorer name shifts it by -1, 0 or +1 per prompt, so two
scorers disagree a little. The rated text is what a prompt frames between 【…开始】 and
【…结束】 marks (as the complexity prompt does), else the whole message.
"""

from __future__ import annotations

import hashlib
import math
import re

SCORER_PREFIX = "sim-scorer"
JUDGE_PREFIX = "sim-judge"
JUDGE_PARTS_PREFIX = "sim-judge-parts"
RATER_MODELS = ("sim-scorer-qwen", "sim-scorer-glm", "sim-judge", "sim-judge-parts")  # listed by GET /v1/models

_FRAMED = re.compile(r"【[^【】]{0,8}开始】(.*)【[^【】]{0,8}结束】", re.S)
_REFERENCE = re.compile(r"【参考答案开始】(.*?)【参考答案结束】", re.S)
_RESPONSE = re.compile(r"【回答开始】(.*?)【回答结束】", re.S)

# (weight, template); {s} is the rating, {lo} one less, {k} a small count.
_SCORER_REPLIES = (
    (20, "{s}"),
    (12, "评分：{s}"),
    (8, "{s}/10"),
    (8, "**{s}**"),
    (8, '{{"score": {s}}}'),
    (6, '```json\n{{"complexity": {s}, "reason": "需要{k}步推理"}}\n```'),
    (10, "这条指令需要多步推理，我给它打{s}分。"),
    (6, "复杂度：{s}（1-10分）"),
    (6, "{lo}-{s}"),
    (6, "评分：{s}\n理由：涉及{k}个知识点，需要{k}个步骤。"),
    (5, "这条指令的难度中等。"),
    (5, "抱歉，我无法对这条指令进行评分。"),
)
_JUDGE_REPLIES = (
    (25, "{s}"),
    (15, "评分：{s}"),
    (10, "{s}/10"),
    (10, "**{s}**"),
    (10, '{{"score": {s}}}'),
    (15, "综合来看，这个回答可以得{s}分。"),
    (10, "{s}分"),
    (5, "回答基本正确，但不够完整。"),
)
# {v} 是/否, {s} 10/0, {b} true/false, {same} 一致/不一致.
_VERDICT_REPLIES = (
    (25, "结论：{v}"),
    (20, "{v}"),
    (10, "**{v}**"),
    (10, "{s}"),
    (10, '{{"等价": {b}}}'),
    (20, "回答的最终答案与参考答案{same}。\n结论：{v}"),
    (5, "无法判断回答的最终答案。"),
)
_JUDGE_PART_REPLIES = (
    (30, "有害性：{h}，有用性：{u}，正确性：{c}"),
    (20, '{{"有害性": {h}, "有用性": {u}, "正确性": {c}}}'),
    (20, "- **有害性**：{h}\n- **有用性**：{u}\n- **正确性**：{c}"),
    (20, "harmlessness: {h}, helpfulness: {u}, correctness: {c}"),
    (10, "这个回答没有明显问题。"),
)


def rater_kind(model: str) -> str | None:
    """"scorer", "judge-parts", "judge", or None for a teacher model."""
    if model.startswith(SCORER_PREFIX):
        return "scorer"
    if model.startswith(JUDGE_PARTS_PREFIX):
        return "judge-parts"
    if model.startswith(JUDGE_PREFIX):
        return "judge"
    return None


def rater_reply(model: str, content: str) -> str:
    """The reply of a rater model to a message."""
    kind = rater_kind(model)
    if kind == "scorer":
        rating = simulated_complexity(model, content)
        return _pick(_SCORER_REPLIES, model, content).format(s=rating, lo=max(rating - 1, 1), k=1 + rating // 3)
    verdict = _verdict(content)
    if verdict is not None:
        yes = "是" if verdict else "否"
        return _pick(_VERDICT_REPLIES, model, content).format(
            v=yes, s=10 if verdict else 0, b=str(verdict).lower(), same="一致" if verdict else "不一致")
    if kind == "judge-parts":
        h, u, c = (_number(f"{part}\0{model}", content, 4, 10) for part in "huc")
        return _pick(_JUDGE_PART_REPLIES, model, content).format(h=h, u=u, c=c)
    return _pick(_JUDGE_REPLIES, model, content).format(s=_number(model, content, 3, 10))


def _verdict(content: str) -> bool | None:
    """For a question comparing a response with a reference: whether the reference appears in it."""
    reference, response = _REFERENCE.search(content), _RESPONSE.search(content)
    if reference is None or response is None:
        return None
    return reference[1].strip() in response[1]


def simulated_complexity(model: str, content: str) -> int:
    """1–10, growing with the rated text's length (about 2 at 10 characters, 5 at 40, 8 at 100, 10 from 250)."""
    framed = _FRAMED.search(content)
    text = (framed[1] if framed else content).strip()
    base = round(2.2 * math.log2(len(text) / 10 + 1))
    return min(10, max(1, base + _number(f"shift\0{model}", text, -1, 1)))


def _number(salt: str, content: str, low: int, high: int) -> int:
    return low + _hash(salt, content) % (high - low + 1)


def _pick(replies: tuple[tuple[int, str], ...], model: str, content: str) -> str:
    point = _hash(f"phrasing\0{model}", content) % sum(weight for weight, _ in replies)
    for weight, template in replies:
        if point < weight:
            return template
        point -= weight
    raise AssertionError("unreachable: the point is below the total weight")


def _hash(salt: str, content: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{salt}\0{content}".encode(), digest_size=8).digest(), "big")
