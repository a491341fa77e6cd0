"""A local OpenAI-compatible *simulator* of reasoning providers. It is not a model.

The offline demo, the tests and the throughput benchmarks run against it instead of a
real teacher. It speaks the four reasoning shapes of REFERENCE.md §2 (chosen by model
name), streaming and not, and can inject the faults real providers produce: 429/5xx,
hangs, truncation, broken streams, garbage, empty replies and reasoning caught in a loop.

Everything it says is labelled: model ids start with ``sim-``, ``owned_by`` and
``system_fingerprint`` name the simulator, every HTTP reply carries an
``X-Crd-Simulator`` header, and the server prints a banner. Its text is canned Chinese
filler picked by a hash of the prompt, so the same request always gets the same text.

Rater models (``sim-scorer…``, ``sim-judge…``) reply with a rating instead, in the
varied phrasings of small models (processing/sim_raters.py).

Known answers (``SimSettings.answers``) end the response with ``\\boxed{answer}``
(multiple choice also with ``答案：X``); a hash-picked ``wrong_rate`` share gets a wrong
value on purpose, and ``expected_answer`` tells tests which. Faults are drawn once per
attempt from a seeded RNG, so retries can succeed and a run is reproducible for a
given arrival order. ``GET /sim/stats`` counts attempts per prompt and faults served.

Token counts are approximations, not a tokenizer: one token per non-ASCII character
(Hanzi, full-width punctuation) plus one per four ASCII characters, rounded up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import itertools
import json
from json.encoder import encode_basestring
import random
import re
import socket
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import NamedTuple

from aiohttp import web

from processing.errors import CrdError
from processing.pool.sources import iter_records
from processing.sim_batch import BatchSim, BatchSimSettings
from processing.sim_labels import FINGERPRINT, HEADER, HEADER_VALUE, OWNED_BY
from processing.sim_raters import RATER_MODELS, rater_kind, rater_reply

__all__ = [
    "RATER_MODELS",
    "SHAPES",
    "SimSettings",
    "Simulator",
    "approx_tokens",
    "build_app",
    "expected_answer",
    "load_answers",
    "prompt_key",
    "run_server_forever",
]

# Model name -> where the reasoning goes (REFERENCE.md §2).
SHAPES: dict[str, str] = {
    "sim-deepseek-r1": "reasoning_content",  # DeepSeek, DashScope, SGLang, SiliconFlow
    "sim-qwq-vllm": "reasoning",  # recent vLLM, OpenRouter, Ollama
    "sim-inline-think": "inline",  # no reasoning parser: <think>…</think> in content
    "sim-r1-no-open-tag": "inline_no_open",  # R1 template put "<think>\n" in the prompt
}

FAULTS = ("429", "500", "503", "hang", "truncate", "broken_stream", "garbage", "empty", "loop")
DEFAULT_MAX_TOKENS = 8192  # when a request names none: how long a loop runs
_CHOICES = "ABCD"


@dataclasses.dataclass
class SimSettings:
    """Everything that shapes the simulator's replies. Fault rates are per attempt."""

    answers: dict[str, str] = dataclasses.field(default_factory=dict)  # prompt -> reference
    wrong_rate: float = 0.2  # share of known-answer prompts answered wrong on purpose
    reasoning_chars: int = 400  # approximate length of the canned reasoning
    latency: float = 0.0  # seconds before every accepted reply (before the first chunk)
    chunk_chars: int = 0  # characters per streamed chunk; 0: 20–40 (1 is a chunk per token, as real servers send)
    chunk_delay: float = 0.0  # seconds between streamed chunks; 0 sends a stream in one write
    rate_429: float = 0.0
    retry_after: float | None = 1  # Retry-After header of a 429; None omits it
    rate_500: float = 0.0
    rate_503: float = 0.0
    rate_hang: float = 0.0
    hang_seconds: float = 3600.0
    rate_truncate: float = 0.0
    rate_broken_stream: float = 0.0
    rate_garbage: float = 0.0
    rate_empty: float = 0.0
    rate_loop: float = 0.0  # the reasoning falls into a repeating paragraph until max_tokens
    seed: int = 0  # seed of the fault draws
    api_key: str | None = None  # None accepts any key
    batch: BatchSimSettings = dataclasses.field(default_factory=BatchSimSettings)  # /v1/files, /v1/batches

    def __post_init__(self) -> None:
        for name in ("wrong_rate", *(f"rate_{kind}" for kind in FAULTS)):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"SimSettings.{name} must be within [0, 1], got {value!r}")
        if sum(self.fault_rates().values()) > 1.0 + 1e-9:
            raise ValueError("SimSettings: the fault rates (rate_*) must sum to at most 1")
        for name in ("latency", "hang_seconds", "reasoning_chars", "chunk_chars", "chunk_delay"):
            if getattr(self, name) < 0:
                raise ValueError(f"SimSettings.{name} must not be negative")

    def fault_rates(self) -> dict[str, float]:
        return {kind: getattr(self, f"rate_{kind}") for kind in FAULTS}


def load_answers(path: str | Path, encoding: str | None = None) -> dict[str, str]:
    """Read ``prompt`` -> ``reference_answer`` from JSON Lines, skipping null answers.

    A missing file, a malformed line or a record without a text ``prompt`` is a CrdError
    naming the file (and line); ``encoding`` is detected when None."""
    path = Path(path)
    if not path.is_file():
        raise CrdError(f"{path}: answers file not found")
    answers: dict[str, str] = {}
    for location, row in iter_records(path, encoding):
        if not isinstance(row.get("prompt"), str):
            raise CrdError(f"{location}: no text field 'prompt'; fields present: {', '.join(sorted(row)) or 'none'}")
        if row.get("reference_answer") is not None:
            answers[row["prompt"]] = str(row["reference_answer"]).strip()
    return answers


def prompt_key(text: str) -> str:
    """The key of a prompt in ``/sim/stats``: sha1 hex of the last user message."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def approx_tokens(text: str) -> int:
    """1 token per non-ASCII character + 1 per 4 ASCII characters (C-speed counting)."""
    n_ascii = len(text.encode("ascii", "ignore"))
    return (len(text) - n_ascii) + (n_ascii + 3) // 4


# ---------------------------------------------------------------- known answers


def _find_known(content: str, answers: dict[str, str]) -> str | None:
    """The known prompt that ``content`` equals or starts with, before a newline.

    Clients append suffixes such as "\\n请一步步推理…", so after the exact lookup we
    try the content cut before each newline, longest first: one dict lookup per line
    instead of a scan over all known prompts. Requiring the newline also keeps a longer,
    different question ("…一共有几个？再买2个呢？") from borrowing a known answer.
    """
    if content in answers:
        return content
    end = len(content)
    while (end := content.rfind("\n", 0, end)) > 0:
        if content[:end] in answers:
            return content[:end]
    return None


def _is_wrong(model: str, known_prompt: str, wrong_rate: float) -> bool:
    # Keyed on the known prompt (not the suffixed request) so callers holding the
    # dataset's suffix-free prompt get the same verdict as the server.
    digest = hashlib.blake2b(f"wrong\0{model}\0{known_prompt}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") / 2**64 < wrong_rate


def _wrong_value(answer: str) -> str:
    """A value that is certainly different from ``answer``."""
    if len(answer) == 1 and answer in _CHOICES:
        return _CHOICES[(_CHOICES.index(answer) + 1) % len(_CHOICES)]
    if re.fullmatch(r"-?\d+", answer):
        return str(int(answer) + 1)
    if re.fullmatch(r"-?\d*\.\d+", answer):
        return str(Decimal(answer) + 1)  # keeps the number of decimals
    frac = re.fullmatch(r"\\frac\{(-?\d+)\}\{(-?\d+)\}", answer)
    if frac:
        return rf"\frac{{{int(frac[1]) + 1}}}{{{frac[2]}}}"
    return answer + "+1"


def expected_answer(
    prompt: str, answers: dict[str, str], wrong_rate: float, model: str
) -> tuple[str, bool] | None:
    """(answer the simulator gives, whether it is correct), or None for unknown prompts.

    ``prompt`` may carry a client suffix after a newline, like the requests do.
    """
    known = _find_known(prompt, answers)
    if known is None:
        return None
    reference = answers[known]
    if _is_wrong(model, known, wrong_rate):
        return _wrong_value(reference), False
    return reference, True


# ---------------------------------------------------------------- canned text

_OPENERS = (
    "好的，我来看看这个问题：「{topic}」。",
    "嗯，题目问的是「{topic}」，先把题意弄清楚。",
    "用户的问题是「{topic}」，我需要仔细想一想。",
    "首先读题：「{topic}」，看看到底要求什么。",
)
_STEPS = (
    "先把已知条件逐条列出来，看看它们之间有什么联系。",
    "这里的关键是找到条件和结论之间的桥梁。",
    "我试着从最简单的情况入手，看看有没有规律。",
    "等等，刚才那一步好像有问题，再检查一遍。",
    "换个角度考虑，也许可以用反推的方法。",
    "把中间结果代回去验证一下，看看是否自洽。",
    "如果分情况讨论，每一种情况都要单独核对。",
    "这一步的计算需要细心，不能漏掉符号。",
    "嗯，这样看来思路是对的，继续往下推。",
    "再想想有没有被忽略的边界情况。",
    "把式子整理一下，形式会简单很多。",
    "回头看题目的要求，确认没有理解偏差。",
    "再读一遍「{topic}」，确认关键词没有看漏。",
    "题目里的每个数字都应该有用，逐个检查是否用上了。",
    "先估算一下结果的大致范围，方便后面核对。",
    "这个条件可以转化成更熟悉的形式。",
    "假设结论成立，看看会推出什么。",
    "不对，这里的单位需要统一，重新算一遍。",
    "画个示意图会更直观，关系一下子就清楚了。",
    "列个表格对比一下，各项之间的差别很明显。",
    "这一步用到的性质要确认适用条件。",
    "把复杂的部分拆开，一块一块处理。",
    "对称性也许能省掉不少计算。",
    "再核对一次前面的中间结果，确认没有抄错。",
    "如果换成具体的数值试一试，结论也应当成立。",
    "这样处理之后，问题就化归为一个标准问题了。",
    "注意题目中隐含的限制条件，不能忽略。",
    "嗯，还有一种可能，也要排除掉。",
    "把两种方法的结果对照一下，是一致的。",
    "先不急着下结论，把思路理一理。",
)
_CLOSERS = (
    "好，思路已经清楚了，可以整理答案了。",
    "检查完毕，没有发现矛盾，下面给出回答。",
    "综合以上分析，结论应该没有问题。",
)
_MATH_INTROS = (
    "根据上面的推导，整理计算过程可以得到结果。",
    "按照题目条件逐步计算，并代回验证。",
    "把已知条件代入并化简，即可求出答案。",
)
_CHOICE_INTROS = (
    "逐项分析各个选项，排除不符合题意的选项。",
    "比较各选项与题干条件，只有一个选项完全符合。",
)
_PLAIN_ANSWERS = (
    "关于「{topic}」，可以从三个方面来理解：先明确概念，再结合具体情况分析，最后给出结论。",
    "关于「{topic}」，简要回答如下：核心在于抓住主要矛盾，同时兼顾细节，按步骤落实即可。",
    "关于「{topic}」，我的建议是：先了解背景，再比较不同做法的利弊，选择最适合自己的方案。",
)
_TOPIC_CHARS = 16
_UNSAFE_TOPIC = re.compile(r"[<>\\{}]")  # keep prompt text from forging tags or \boxed{}


def _topic(content: str) -> str:
    first = content.strip().split("\n", 1)[0].strip()
    first = _UNSAFE_TOPIC.sub("", first)
    return first[:_TOPIC_CHARS] + ("…" if len(first) > _TOPIC_CHARS else "")


def _reasoning(rng: random.Random, topic: str, target_chars: int) -> str:
    """Lines of "thinking" until about ``target_chars`` characters."""
    lines = [rng.choice(_OPENERS).format(topic=topic)]
    closer = rng.choice(_CLOSERS)
    size = len(lines[0]) + len(closer)
    # Steps without repeats until the pool runs out, so short reasoning does not trip
    # the pipeline's own repetition filters; then the pool again in a new order, so long
    # reasoning does not loop (the client cancels loops: that is the "loop" fault).
    order = rng.sample(_STEPS, len(_STEPS))
    while size < target_chars:
        if not order:
            order = rng.sample(_STEPS, len(_STEPS))
            if order[0].format(topic=topic) == lines[-1]:  # no step twice in a row
                order.append(order.pop(0))
        step = order.pop(0).format(topic=topic)
        lines.append(step)
        size += len(step) + 1
    lines.append(closer)
    return "\n".join(lines)


def _loop(rng: random.Random, topic: str, opening: str, max_tokens: int) -> str:
    """Reasoning that starts sensibly, then repeats one paragraph until max_tokens."""
    paragraph = "\n".join(step.format(topic=topic) for step in rng.sample(_STEPS, 3)) + "\n"
    copies = max(1, (max_tokens - approx_tokens(opening)) // approx_tokens(paragraph))
    return opening + "\n" + paragraph * copies


def _response(rng: random.Random, topic: str, given: tuple[str, bool] | None) -> str:
    if given is None:
        return rng.choice(_PLAIN_ANSWERS).format(topic=topic)
    answer = given[0]
    if len(answer) == 1 and answer in _CHOICES:
        return f"{rng.choice(_CHOICE_INTROS)}\n\n答案：{answer}\n\n\\boxed{{{answer}}}"
    return f"{rng.choice(_MATH_INTROS)}\n\n因此，最终答案为 \\boxed{{{answer}}}"


def _generate(model: str, content: str, settings: SimSettings) -> tuple[str, str, int]:
    """(reasoning, response, seed): a pure function of model, prompt and settings."""
    digest = hashlib.blake2b(f"{model}\0{content}".encode(), digest_size=8).digest()
    seed = int.from_bytes(digest, "big")
    if rater_kind(model):
        return "", rater_reply(model, content), seed
    rng = random.Random(seed)
    topic = _topic(content)
    reasoning = _reasoning(rng, topic, settings.reasoning_chars)
    given = expected_answer(content, settings.answers, settings.wrong_rate, model)
    return reasoning, _response(rng, topic, given), seed


# ---------------------------------------------------------------- reply assembly


@dataclasses.dataclass
class _Reply:
    segments: list[tuple[str, str]]  # (message field, text) in the order they stream
    finish_reason: str
    usage: dict
    seed: int  # drives the deterministic chunk boundaries


def _render(shape: str, reasoning: str, response: str, closed: bool) -> list[tuple[str, str]]:
    """Place reasoning and response where ``shape`` puts them."""
    if shape == "content":  # raters do not reason
        return [("content", response)]
    if shape in ("reasoning_content", "reasoning"):
        return [(shape, reasoning), ("content", response)]
    opening = "<think>\n" if shape == "inline" else ""
    closing = f"\n</think>\n\n{response}" if closed else ""
    return [("content", opening + reasoning + closing)]


class _Request(NamedTuple):
    content: str  # the last user message: what the reply depends on
    prefix: str  # a final assistant message to continue, or ""
    prompt_tokens: int  # over all messages
    max_tokens: int = DEFAULT_MAX_TOKENS


def _compose(model: str, req: _Request, fault: str | None, s: SimSettings) -> _Reply:
    reasoning, response, seed = _generate(model, req.content, s)
    shape = SHAPES.get(model, "content")
    finish = "stop"
    if fault == "truncate":
        # Out of tokens while thinking: no response, and for inline shapes no </think>.
        reasoning, response, finish = reasoning[: len(reasoning) // 2], "", "length"
    if fault == "loop":
        rng = random.Random(seed + 2)
        reasoning = _loop(rng, _topic(req.content), reasoning[: len(reasoning) // 3], req.max_tokens)
        response, finish = "", "length"
    if fault == "empty":
        reasoning, response = "", ""
        segments = [("content", "")]
    else:
        segments = _render(shape, reasoning, response, closed=finish == "stop")
    prefix = req.prefix
    if prefix and shape.startswith("inline") and segments[0][1].startswith(prefix):
        # Prefix continuation (continue_final_message / prefix: true): do not repeat it.
        segments = [("content", segments[0][1][len(prefix) :])]
    completion = sum(approx_tokens(text) for _, text in segments)
    usage = {
        "prompt_tokens": req.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": req.prompt_tokens + completion,
        "completion_tokens_details": {"reasoning_tokens": approx_tokens(reasoning)},
    }
    return _Reply(segments, finish, usage, seed)


def _pieces(text: str, rng: random.Random, size: int = 0) -> list[str]:
    """Cut ``text`` into chunks of ``size`` characters (0: 20–40), sometimes cutting inside
    a think tag.

    Real servers do split ``</think>`` across chunks, so readers must cope; about half
    the prompts get a tag split here, decided by the prompt's own hash.
    """
    if size:
        return [text[start:start + size] for start in range(0, len(text), size)]
    cuts = set()
    close = text.find("</think>")
    if close >= 0 and rng.random() < 0.5:
        cuts.add(close + rng.randint(1, 7))
    if text.startswith("<think>") and rng.random() < 0.5:
        cuts.add(rng.randint(1, 6))
    position = 0
    while (position := position + rng.randint(20, 40)) < len(text):
        cuts.add(position)
    bounds = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _text_delta(field: str, text: str) -> bytes:
    """``_dumps({field: text})`` by the C string encoder alone: most chunks of a stream are
    this, and a full json.dumps per chunk made streamed replies the benchmark's bottleneck."""
    return b'{"%s":%s}' % (field.encode(), encode_basestring(text).encode())


def _dumps(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def _error(status: int, message: str, type_: str, code: str, headers=None) -> web.Response:
    """An error in OpenAI's shape."""
    error = {"message": message, "type": type_, "param": None, "code": code}
    return web.Response(
        status=status,
        body=_dumps({"error": error}),
        content_type="application/json",
        headers=headers,
    )


class _BadRequest(Exception):
    pass


def _text_of(content) -> str:
    """Message content as text; OpenAI also allows a list of ``{"type": "text"}`` parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _max_tokens(body: dict) -> int:
    value = body.get("max_tokens")
    return value if isinstance(value, int) and value > 0 else DEFAULT_MAX_TOKENS


def _read_messages(messages, max_tokens: int = DEFAULT_MAX_TOKENS) -> _Request:
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise _BadRequest("`messages` must be a list of message objects")
    users = [m for m in messages if m.get("role") == "user"]
    if not users:
        raise _BadRequest("`messages` must contain a user message")
    last = messages[-1]
    prefix = _text_of(last.get("content")) if last.get("role") == "assistant" else ""
    prompt_tokens = sum(approx_tokens(_text_of(m.get("content"))) for m in messages)
    return _Request(_text_of(users[-1].get("content")), prefix, prompt_tokens, max_tokens)


# ---------------------------------------------------------------- the server


_SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
_GARBAGE = b"<html><body><h1>502 Bad Gateway</h1>crd simulator: simulated garbage</body></html>"


class _SimServer:
    """Request handlers and the state they share (stats and the fault RNG)."""

    def __init__(self, settings: SimSettings):
        self.settings = settings
        self._lock = threading.Lock()  # stats are read from other threads
        self._ids = itertools.count()
        self._cumulative = list(itertools.accumulate(settings.fault_rates().values()))
        self._auth = f"Bearer {settings.api_key}".encode() if settings.api_key else None
        self._models_body = _dumps(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 0, "owned_by": OWNED_BY}
                    for m in (*SHAPES, *RATER_MODELS)
                ],
            }
        )
        self.reset()

    # --- state

    def reset(self) -> None:
        """Clear the stats and reseed the fault draws, so a reset run is reproducible."""
        with self._lock:
            self._rng = random.Random(self.settings.seed)
            self._requests = 0
            self._rejected = 0
            self._by_prompt: dict[str, int] = {}
            self._faults = dict.fromkeys(FAULTS, 0)
            self._hung_up = 0
            self._stream_events = 0

    def stats(self) -> dict:
        with self._lock:
            return {
                "simulator": OWNED_BY,
                "requests": self._requests,
                "rejected": self._rejected,
                "by_prompt": dict(self._by_prompt),
                "faults": dict(self._faults),
                "hung_up": self._hung_up,  # streams the client left before their end
                "stream_events": self._stream_events,  # SSE events of the streamed replies
            }

    def _accept(self, content: str) -> str | None:
        """Count an accepted attempt and draw its fault (None = behave)."""
        key = prompt_key(content)
        with self._lock:
            self._requests += 1
            self._by_prompt[key] = self._by_prompt.get(key, 0) + 1
            draw = self._rng.random()
            for kind, bound in zip(FAULTS, self._cumulative):
                if draw < bound:
                    self._faults[kind] += 1
                    return kind
        return None

    def _reject(self, response: web.Response) -> web.Response:
        with self._lock:
            self._rejected += 1
        return response

    def _authorized(self, request: web.Request) -> bool:
        if self._auth is None:
            return True
        given = request.headers.get("Authorization", "").encode()
        return hmac.compare_digest(given, self._auth)

    # --- handlers

    async def models(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._reject(_unauthorized())
        return web.Response(body=self._models_body, content_type="application/json")

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.Response(body=_dumps(self.stats()), content_type="application/json")

    async def post_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.Response(body=_dumps(self.stats()), content_type="application/json")

    async def chat(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self._reject(_unauthorized())
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise _BadRequest("the request body must be a JSON object")
            model = body.get("model")
            if not isinstance(model, str):
                raise _BadRequest("`model` must be a string")
            if model not in SHAPES and not rater_kind(model):
                return self._reject(_unknown_model(model))
            req = _read_messages(body.get("messages"), _max_tokens(body))
        except (ValueError, _BadRequest) as exc:
            message = str(exc) if isinstance(exc, _BadRequest) else "the body is not valid JSON"
            return self._reject(_error(400, message, "invalid_request_error", "invalid_request"))

        fault = self._accept(req.content)
        s = self.settings
        if fault == "hang":
            await asyncio.sleep(s.hang_seconds)
        if s.latency:
            await asyncio.sleep(s.latency)
        if fault in ("429", "500", "503"):
            return self._fault_error(fault)
        reply = _compose(model, req, fault, s)
        meta = {
            "id": f"chatcmpl-sim-{next(self._ids):010x}",
            "created": int(time.time()),
            "model": model,
            "system_fingerprint": FINGERPRINT,
        }
        if body.get("stream"):
            options = body.get("stream_options")
            usage = isinstance(options, dict) and bool(options.get("include_usage"))
            return await self._stream(request, reply, meta, fault, usage)
        return await self._complete(request, reply, meta, fault)

    # --- replies

    def _fault_error(self, fault: str) -> web.Response:
        if fault == "429":
            after = self.settings.retry_after
            headers = {"Retry-After": f"{after:g}"} if after is not None else None
            message = "Rate limit reached (simulated by the crd simulator)."
            return _error(429, message, "rate_limit_error", "rate_limit_exceeded", headers)
        if fault == "500":
            message = "Internal server error (simulated)."
            return _error(500, message, "server_error", "internal_error")
        return _error(503, "Service unavailable (simulated).", "server_error", "overloaded")

    async def _complete(self, request, reply: _Reply, meta: dict, fault) -> web.StreamResponse:
        if fault == "garbage":
            return web.Response(body=_GARBAGE, content_type="application/json")
        message = {"role": "assistant", **dict(reply.segments)}
        body = _dumps(
            {
                **meta,
                "object": "chat.completion",
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": reply.usage,
            }
        )
        if fault == "broken_stream":
            # Announce the full length, send half, hang up: an incomplete body.
            response = web.StreamResponse(headers={"Content-Type": "application/json"})
            response.content_length = len(body)
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            return _hang_up(request, response)
        return web.Response(body=body, content_type="application/json")

    async def _stream(
        self, request, reply: _Reply, meta: dict, fault, include_usage: bool
    ) -> web.StreamResponse:
        base = {**meta, "object": "chat.completion.chunk"}
        # Chunks differ only in delta and finish_reason: encode the rest once, since
        # json.dumps of the whole chunk dominated the cost of a streamed reply.
        head = b"data: " + _dumps(base)[:-1] + b',"choices":[{"index":0,"delta":'
        running = b',"logprobs":null,"finish_reason":null}]}\n\n'

        def chunk(delta: bytes, finish: str | None = None) -> bytes:
            tail = running if finish is None else b',"logprobs":null,"finish_reason":' + _dumps(finish) + b"}]}\n\n"
            return head + delta + tail

        events = [chunk(_dumps({"role": "assistant", "content": ""}))]
        if fault == "garbage":
            events.append(b'data: {"id": "chatcmpl-sim", garbage, not JSON\n\n')
        else:
            rng = random.Random(reply.seed + 1)
            for field, text in reply.segments:
                events += [chunk(_text_delta(field, piece)) for piece in _pieces(text, rng, self.settings.chunk_chars)]
            events.append(chunk(b"{}", reply.finish_reason))
            if include_usage:
                usage = {**base, "choices": [], "usage": reply.usage}
                events.append(b"data: " + _dumps(usage) + b"\n\n")
        events.append(b"data: [DONE]\n\n")

        with self._lock:
            self._stream_events += len(events)
        response = web.StreamResponse(headers=_SSE_HEADERS)
        await response.prepare(request)
        if fault == "broken_stream":
            await response.write(b"".join(events[: min(3, len(events) - 2)]))
            return _hang_up(request, response)
        if self.settings.chunk_delay:
            return await self._trickle(response, events)
        # One write for the whole stream: clients still see separate SSE events, and the
        # server stays cheap under benchmark load.
        await response.write(b"".join(events))
        await response.write_eof()
        return response

    async def _trickle(self, response: web.StreamResponse, events: list[bytes]) -> web.StreamResponse:
        """One event every ``chunk_delay`` seconds, as a server generating tokens sends them.

        Deadlines are absolute, so a busy event loop delays chunks but never slows the
        stream down overall. A client that hangs up (a cancelled loop) is counted.
        """
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            for number, event in enumerate(events):
                await response.write(event)
                await asyncio.sleep(start + (number + 1) * self.settings.chunk_delay - loop.time())
            await response.write_eof()
        except ConnectionError:
            self._count_hang_up()
        except asyncio.CancelledError:  # handler cancellation: the client is gone
            self._count_hang_up()
            raise
        return response

    def _count_hang_up(self) -> None:
        with self._lock:
            self._hung_up += 1


SIM_KEY = web.AppKey("sim", _SimServer)


def _hang_up(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Drop the connection mid-reply, as a crashed upstream or proxy does."""
    request.transport.abort()
    return response


def _unauthorized() -> web.Response:
    # Never echo the received key: it could end up in someone's logs.
    message = "Incorrect API key provided to the crd simulator (not a model)."
    return _error(401, message, "invalid_request_error", "invalid_api_key")


def _unknown_model(model: str) -> web.Response:
    message = (
        f"The model `{model}` does not exist in the crd simulator (not a model). "
        f"Known models: {', '.join(SHAPES)}, and raters named sim-scorer…, sim-judge…."
    )
    return _error(404, message, "invalid_request_error", "model_not_found")


async def _label(request: web.Request, response: web.StreamResponse) -> None:
    # A prepare hook rather than a middleware: streamed replies send headers early.
    response.headers[HEADER] = HEADER_VALUE


def build_app(settings: SimSettings) -> web.Application:
    """The aiohttp application; ``app[SIM_KEY]`` is the handler object (stats, reset)."""
    server = _SimServer(settings)
    app = web.Application()
    app.on_response_prepare.append(_label)
    app[SIM_KEY] = server
    app.router.add_get("/v1/models", server.models)
    app.router.add_post("/v1/chat/completions", server.chat)
    app.router.add_get("/sim/stats", server.get_stats)
    app.router.add_post("/sim/reset", server.post_reset)
    BatchSim(settings.batch).register(app)
    return app


async def _start(app: web.Application, sock: socket.socket, shutdown_timeout: float):
    # handler_cancellation: a hung reply stops when its client gives up, instead of
    # holding a task for hang_seconds. access_log=None: no per-request logging.
    runner = web.AppRunner(
        app, access_log=None, handler_cancellation=True, shutdown_timeout=shutdown_timeout
    )
    await runner.setup()
    # A deep backlog: benchmarks open hundreds of connections at once.
    await web.SockSite(runner, sock, backlog=1024).start()
    return runner


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _banner(base_url: str) -> str:
    return (f"crd simulator (not a model) on {base_url} — models: {', '.join(SHAPES)}; "
            f"raters: sim-scorer…, sim-judge…, sim-judge-parts…")


class Simulator:
    """The simulator in a background thread with its own event loop.

    Synchronous and asyncio callers can both use it::

        with Simulator(SimSettings()) as sim:
            client = openai.OpenAI(base_url=sim.base_url, api_key="x")
    """

    def __init__(self, settings: SimSettings | None = None, host: str = "127.0.0.1", port: int = 0):
        self.settings = settings or SimSettings()
        self._app = build_app(self.settings)
        self._sock = _bind(host, port)  # bound here so port 0 resolves before start
        self.url = _url(self._sock)
        self.base_url = self.url + "/v1"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    def start(self) -> Simulator:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="crd-sim", daemon=True)
        self._thread.start()
        start = _start(self._app, self._sock, shutdown_timeout=1.0)
        self._runner = asyncio.run_coroutine_threadsafe(start, self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
        self._loop = None

    def stats(self) -> dict:
        """The same JSON as ``GET /sim/stats``, without a request."""
        return self._app[SIM_KEY].stats()

    def reset(self) -> None:
        self._app[SIM_KEY].reset()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_server_forever(settings: SimSettings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until interrupted (``crd sim``, benchmarks in a separate process)."""
    sock = _bind(host, port)

    async def serve() -> None:
        runner = await _start(build_app(settings), sock, shutdown_timeout=5.0)
        print(_banner(_url(sock) + "/v1"), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
