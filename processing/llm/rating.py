"""Ask a model for a number and read it back without ever misreading it.

Shared by complexity scoring (processing/route/complexity.py) and the LLM judge. Small
models rarely answer with the bare number they were asked for; `RatingParser` reads what
they really write:

    7 · 评分：7 · 7/10 · **7** · {"score": 7} · ７ · 我给这条指令打7分。 · 6-7 (the midpoint, 6.5)
    有害性：9，有用性：7，正确性：8 (the parts, keyed by dimension; the caller combines them)

It never guesses. A reply it cannot read unambiguously gives no value and a reason:
two different ratings, several unlabelled numbers, a number off the scale, a rating on
another scale (3/5, 满分5分), a range wider than `max_range_width`, an echo of the scale
alone ("1-10分"), a refusal, no number at all.

Reading order, most explicit first:
  1. Stated ratings: JSON keys naming the rating ("score", "评分", a caller's label), numbers
     after a label (评分：7), with a scale mark (7/10, 7分) or as a range. All of them
     must agree; unlabelled numbers are then ignored.
  2. Dimension parts (有用性：7, or JSON keys), returned alongside.
  3. Otherwise a single unlabelled number ("我认为是7"); numbers that count things
     (3个步骤, 2023年) and list markers (1. 2. 3.) never count.

`ask_ratings` sends rating requests through the engine and journal, so they are
concurrent, rate-limited and resumable like generation, and re-asks an unreadable reply
with a stricter wording (see Wording) before giving up.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from processing.llm.journal import (Job, Journal, make_job, pending, recipe_fingerprint, report_other_recipes,
                                     run_jobs)
from processing.llm.settings import ModelConfig

Messages = tuple[tuple[str, str], ...]

# Labels that name the overall rating in any rating task; callers add their own (复杂度, …).
RATING_LABELS = (
    "最终评分", "综合评分", "总体评分", "整体评分", "评分", "打分", "得分", "分数", "总分", "分值", "评级", "评为",
    "最终答案", "答案", "结果", "final score", "overall", "score", "rating",
)
SCALE_LABELS = ("满分",)  # "满分10分" states the scale, not a rating
REFUSAL_WORDS = ("无法", "不能", "抱歉", "对不起", "不便", "拒绝", "sorry", "cannot", "can't", "unable", "作为ai",
                 "作为一个ai", "作为人工智能")
# A number followed by one of these counts things ("3个步骤", "2023年"): it is never a rating.
COUNTERS = "个步种条年月日次道位项层元米岁天小题章节页行句字块%"
_NUMBER = r"\d+(?:\.\d+)?"


@dataclass(frozen=True)
class Scale:
    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    def __str__(self) -> str:
        return f"{self.low:g}–{self.high:g}"


@dataclass(frozen=True)
class Rating:
    """What a reply says: an overall value, parts per dimension, or why neither could be read."""

    value: float | None = None
    parts: Mapping[str, float] = field(default_factory=dict)
    reason: str | None = None  # set exactly when nothing could be read

    @property
    def read(self) -> bool:
        return self.reason is None


def _rejected(reason: str) -> Rating:
    return Rating(reason=reason)


@dataclass(frozen=True)
class _Mention:
    kind: str  # "stated" (labelled, marked or a range), "part", "bare", "scale" (the scale restated)
    value: float
    dimension: str | None = None


class _Unreadable(Exception):
    """A reply that must be rejected; the message is the reason kept with it."""


class RatingParser:
    """Reads a rating on `scale` from a reply.

    labels: extra words that name the overall rating (e.g. 复杂度).
    dimensions: dimension name -> the words a reply may use for it (e.g. "helpfulness":
    ("有用性", "帮助性", "helpfulness")); parts come back under the dimension name.
    max_range_width: the widest range ("6-7" has width 1) read as its midpoint.
    """

    def __init__(self, scale: Scale, labels: Sequence[str] = (), dimensions: Mapping[str, Sequence[str]] | None = None,
                 max_range_width: float = 2) -> None:
        self.scale = scale
        self.max_range_width = max_range_width
        self._kinds: dict[str, tuple[str, str | None]] = {}
        for word in (*RATING_LABELS, *labels):
            self._kinds[word.lower()] = ("stated", None)
        for dimension, words in (dimensions or {}).items():
            for word in words:
                self._kinds[word.lower()] = ("part", dimension)
        for word in SCALE_LABELS:
            self._kinds[word] = ("scale", None)
        alternation = "|".join(re.escape(word) for word in sorted(self._kinds, key=len, reverse=True))
        self._mention = re.compile(
            rf"(?:(?P<label>{alternation})\s*[\"']?\s*(?:\([^()]*\))?\s*(?:为|是|:|=)?\s*[\"']?\s*(?:约|大约|大概)?\s*)?"
            rf"(?<![\d.A-Za-z])(?P<negative>[-−])?(?P<a>{_NUMBER})"
            rf"(?:[ \t]*(?:-|~|–|—|−|到|至)[ \t]*(?P<b>{_NUMBER}))?"
            rf"(?:[ \t]*(?P<slash>/|out of)[ \t]*(?P<denominator>{_NUMBER})|[ \t]*(?P<system>分制)"
            rf"|[ \t]*(?P<fen>分)(?![钟之别])|[ \t]*(?P<counter>[{COUNTERS}]))?"
            rf"(?![A-Za-z\d])",
            re.IGNORECASE,
        )

    def parse(self, reply: str | None) -> Rating:
        text = unicodedata.normalize("NFKC", reply or "").strip()  # full-width digits and colons become ASCII
        if not text:
            return _rejected("empty reply")
        try:
            from_json, rest = self._from_json(text)
            return self._decide(from_json + list(self._mentions(_plain(rest))), text)
        except _Unreadable as exc:
            return _rejected(str(exc))

    # --- JSON

    def _from_json(self, text: str) -> tuple[list[_Mention], str]:
        """Ratings and parts named by JSON keys, and the text around the JSON objects."""
        mentions, rest, position = [], [], 0
        for obj, start, end in _json_objects(text):
            mentions += self._json_mentions(list(_numeric_leaves(obj)))
            rest.append(text[position:start])
            position = end
        return mentions, " ".join([*rest, text[position:]])

    def _json_mentions(self, leaves: list[tuple[str, object]]) -> list[_Mention]:
        mentions, unknown = [], []
        for key, raw in leaves:
            kind, dimension = self._key_kind(key)
            number = _as_number(raw)
            if kind == "stated" and number is None:
                raise _Unreadable(f"JSON {key!r} is not a number: {raw!r}")
            if kind in ("stated", "part") and number is not None:
                mentions.append(_Mention(kind, number, dimension))
            elif number is not None:
                unknown.append(number)
        if not mentions and len(unknown) == 1 and len(leaves) == 1:
            mentions.append(_Mention("stated", unknown[0]))  # {"分值": 7}: the object's only number
        return mentions

    def _key_kind(self, key: str) -> tuple[str | None, str | None]:
        key = key.strip().lower()
        if key in self._kinds:
            return self._kinds[key]
        squashed = key.replace("_", " ")
        if any(squashed.endswith(word) for word, (kind, _) in self._kinds.items() if kind == "stated"):
            return "stated", None  # complexity_score, final_rating
        return None, None

    # --- text

    def _mentions(self, text: str):
        for match in self._mention.finditer(text):
            mention = self._classify(match)
            if mention is not None:
                yield mention

    def _classify(self, match: re.Match) -> _Mention | None:
        label = (match["label"] or "").lower()
        kind, dimension = self._kinds.get(label, ("bare", None))
        if match["counter"]:
            return None
        low = -float(match["a"]) if match["negative"] else float(match["a"])
        high = float(match["b"]) if match["b"] is not None else low
        if match["b"] is not None and (low, high) == (self.scale.low, self.scale.high):
            return _Mention("scale", high)  # "1-10分", "（1到10）": the scale echoed back
        if kind == "scale" or match["system"]:  # 满分10分, 10分制
            if low != self.scale.high:
                raise _Unreadable(f"the reply rates on another scale ({match[0].strip()})")
            return _Mention("scale", low)
        if match["denominator"] is not None and float(match["denominator"]) != self.scale.high:
            raise _Unreadable(f"the reply rates on another scale ({match[0].strip()})")
        value = self._range_value(low, high, match[0].strip()) if match["b"] is not None else low
        marked = match["b"] is not None or match["slash"] or match["fen"]
        if kind == "bare" and marked:
            kind = "stated"
        return _Mention(kind, value, dimension)

    def _range_value(self, low: float, high: float, written: str) -> float:
        if high < low or high - low > self.max_range_width:
            raise _Unreadable(f"range {written!r} is not a rating (wider than {self.max_range_width:g} or reversed)")
        return (low + high) / 2

    def _decide(self, mentions: list[_Mention], text: str) -> Rating:
        stated = [m.value for m in mentions if m.kind == "stated"]
        parts: dict[str, float] = {}
        for mention in mentions:
            if mention.kind == "part":
                _add_part(parts, mention.dimension, mention.value)
        if stated or parts:
            return self._checked(_agreed(stated, "ratings"), parts)
        bare = [m.value for m in mentions if m.kind == "bare"]
        if not bare:
            lowered = text.lower()
            if any(word in lowered for word in REFUSAL_WORDS):
                raise _Unreadable("refusal")
            if any(m.kind == "scale" for m in mentions):
                raise _Unreadable("the reply only restates the scale")
            raise _Unreadable("no rating in the reply")
        return self._checked(_agreed(bare, "unlabelled numbers"), parts)

    def _checked(self, value: float | None, parts: dict[str, float]) -> Rating:
        for name, number in [("rating", value), *parts.items()]:
            if number is not None and number not in self.scale:
                raise _Unreadable(f"{name} {number:g} is outside the scale {self.scale}")
        return Rating(value, parts)


def _agreed(values: list[float], what: str) -> float | None:
    distinct = sorted(set(values))
    if len(distinct) > 1:
        raise _Unreadable(f"ambiguous: several {what} ({', '.join(f'{v:g}' for v in distinct)})")
    return distinct[0] if distinct else None


def _add_part(parts: dict[str, float], dimension: str, value: float) -> None:
    if parts.get(dimension, value) != value:
        raise _Unreadable(f"ambiguous: {dimension} rated both {parts[dimension]:g} and {value:g}")
    parts[dimension] = value


_LIST_MARKER = re.compile(r"(?m)^\s*\d{1,2}\s*(?:[.)]\s+|、\s*)(?=\S)")
_DECORATION = re.compile(r"[*`#【】\[\]「」『』<>]")


# A Chinese numeral is read only where it cannot be an adverb: right after 评分：/为/是/打/给
# and before 分 (not 十分困难), punctuation or the end.
_CHINESE_DIGITS = {digit: str(value) for value, digit in enumerate("一二三四五六七八九十", start=1)}
_CHINESE_NUMBER = re.compile(
    r"(?<=[:为是打给])(\s*)([一二三四五六七八九]|十)(?=\s*(?:分(?![\u4e00-\u9fff])|[。，,.!！;；\s]|$))"
)


def _plain(text: str) -> str:
    """Markdown and brackets removed, Chinese numerals after a label as digits, list markers removed in lists."""
    text = _DECORATION.sub(" ", text)
    text = _CHINESE_NUMBER.sub(lambda match: match[1] + _CHINESE_DIGITS[match[2]], text)
    if len(_LIST_MARKER.findall(text)) >= 2 or re.search(r"(?m)^\s*\d{1,2}\s*、", text):
        text = _LIST_MARKER.sub(" ", text)
    return text


_JSON = json.JSONDecoder()


def _json_objects(text: str):
    """(object, start, end) of every JSON object in the text."""
    position = text.find("{")
    while position >= 0:
        try:
            obj, end = _JSON.raw_decode(text, position)
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
            continue
        if isinstance(obj, dict):
            yield obj, position, end
        position = text.find("{", end)


def _numeric_leaves(obj: dict, depth: int = 0):
    """(key, value) of every scalar in a JSON object, nested objects included."""
    for key, value in obj.items():
        if isinstance(value, dict) and depth < 3:
            yield from _numeric_leaves(value, depth + 1)
        elif isinstance(value, (int, float, str)) and not isinstance(value, bool):
            yield str(key), value


def _as_number(raw) -> float | None:
    if isinstance(raw, (int, float)):
        return float(raw)
    text = unicodedata.normalize("NFKC", raw).strip()
    return float(text) if re.fullmatch(_NUMBER, text) else None


# ---------------------------------------------------------------- asking

# Items whose messages are held at once. Messages embed the rated text in a prompt
# template, so 260,000 pool prompts held together would take about a gigabyte.
BATCH = 20_000


@dataclass(frozen=True)
class Wording:
    """How an item (whatever the caller rates) becomes messages.

    `again` is a stricter wording, sent as sample 1, 2, … when the previous reply could
    not be read. It is a fresh single-turn request rather than a follow-up quoting the
    unreadable reply: the request then depends only on the item, and a model sampled at
    temperature 0 does not just repeat itself.
    """

    first: Callable[[Any], Messages]
    again: Callable[[Any], Messages]


@dataclass(frozen=True)
class Outcome:
    rating: Rating
    replies: tuple[str, ...]  # every reply received, the unreadable ones included
    failure: str | None = None  # the request itself failed (after the engine's retries)
    servers: tuple[str | None, ...] = ()  # each reply's system_fingerprint: who answered (the simulator?)


_NOT_ASKED = Outcome(Rating(), ())


async def ask_ratings(items: Sequence[tuple[str, Any]], wording: Wording, model: ModelConfig, journal: Journal,
                      parser: RatingParser, *, reasks: int = 1, retry_failed: bool = False,
                      progress=None) -> dict[str, Outcome]:
    """Rate every (item id, item) with `model`; the journal key is (item id, model name, attempt)
    and the request's fingerprint, so a changed wording or model setting is asked again.

    Attempt 0 sends `wording.first`; each of up to `reasks` further attempts sends
    `wording.again` to the items whose reply could not be read. Rerun after a crash,
    nothing finished is sent again. `progress` (a GenerationProgress) grows by each
    round's requests.
    """
    run = _RatingRun(wording, model, journal, parser, reasks, retry_failed, progress)
    for start in range(0, len(items), BATCH):
        await run.rate(items[start:start + BATCH])
    return run.outcomes


@dataclass
class _RatingRun:
    wording: Wording
    model: ModelConfig
    journal: Journal
    parser: RatingParser
    reasks: int
    retry_failed: bool
    progress: Any
    outcomes: dict[str, Outcome] = field(default_factory=dict)

    async def rate(self, items: Sequence[tuple[str, Any]]) -> None:
        todo = list(items)
        recipe = recipe_fingerprint(self.model)
        for attempt in range(self.reasks + 1):
            words = self.wording.first if attempt == 0 else self.wording.again
            jobs = [make_job(item_id, self.model, attempt, words(item), recipe) for item_id, item in todo]
            sending = pending(jobs, self.journal, self.retry_failed)
            report_other_recipes(self.journal.other_recipes(sending))
            if self.progress is not None:
                self.progress.add(len(jobs), done=len(jobs) - len(sending))
            await run_jobs(sending, self.model, self.journal, self.progress)
            unreadable = self._read(jobs)
            todo = [(item_id, item) for item_id, item in todo if item_id in unreadable]
            if not todo:
                return

    def _read(self, jobs: list[Job]) -> set[str]:
        """Record each job's outcome; returns the ids whose replies could not be read."""
        failed = {job.entry for job in jobs if self.journal.failed(job.entry)}
        failures = {record["prompt_id"]: record["error"] for record in self.journal.failures(failed)} if failed else {}
        unreadable = set()
        for job in jobs:
            item = job.prompt_id
            earlier = self.outcomes.get(item, _NOT_ASKED)
            if not self.journal.done(job.entry):
                failure = failures.get(item, "not finished")
                self.outcomes[item] = Outcome(_rejected(f"request failed: {failure}"), earlier.replies, failure,
                                              earlier.servers)
                continue
            record = self.journal.read(job.entry)
            rating = self.parser.parse(record["response"])
            self.outcomes[item] = Outcome(rating, (*earlier.replies, record["response"]),
                                          servers=(*earlier.servers, record.get("system_fingerprint")))
            if not rating.read:
                unreadable.add(item)
        return unreadable
