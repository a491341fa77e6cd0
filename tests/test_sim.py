"""The reasoning-provider simulator, driven through the real openai clients."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import openai
import pytest

from processing.sim import (

    RATER_MODELS,
    SHAPES,
    SimSettings,
    Simulator,
    approx_tokens,
    expected_answer,
    load_answers,
    prompt_key,
)

from helpers import REPO, SHARED_DATA

SUFFIX = "\n请一步步推理，并把最终答案放到 \\boxed{}。"
SHARED_DATA = SHARED_DATA

# Known answers of every kind the simulator distinguishes.
ANSWERS = {
    "小明有3个苹果，又买了5个，一共有几个？": "8",
    "一瓶水2.5元，买两瓶多少元？": "5.0",
    "一个蛋糕平均分成4份，吃了3份，吃了几分之几？": "\\frac{3}{4}",
    "化简：x+x": "2x",
    "下列哪个是质数？\nA. 4\nB. 6\nC. 7\nD. 9": "C",
}
MANY = {f"第{i}题：{i}加{i}等于多少？": str(2 * i) for i in range(300)}
PLAIN = "请写一首关于秋天的短诗。"
WRONG_RATE = 0.2
FIELD = {"reasoning_content": "reasoning_content", "reasoning": "reasoning"}  # shape -> field


@pytest.fixture(scope="module")
def sim():
    settings = SimSettings(answers={**ANSWERS, **MANY}, wrong_rate=WRONG_RATE)
    with Simulator(settings) as server:
        yield server


@pytest.fixture(scope="module")
def client(sim):
    with openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0) as c:
        yield c


def ask(client, model: str, prompt: str, **kwargs):
    messages = [{"role": "user", "content": prompt}]
    return client.chat.completions.create(model=model, messages=messages, **kwargs)


def fields(message) -> dict[str, str]:
    """The message's text fields that are set, by name."""
    names = ("content", "reasoning_content", "reasoning")
    return {n: getattr(message, n, None) for n in names if getattr(message, n, None) is not None}


async def stream_fields(base_url: str, model: str, messages, **settings) -> tuple[dict, list]:
    """Stream through the aiohttp transport; return joined fields and the raw chunks."""
    async with openai.AsyncOpenAI(
        base_url=base_url, api_key="x", max_retries=0, http_client=openai.DefaultAioHttpClient()
    ) as c:
        stream = await c.chat.completions.create(
            model=model, messages=messages, stream=True, **settings
        )
        chunks = [chunk async for chunk in stream]
    joined: dict[str, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            for name, text in fields(choice.delta).items():
                joined[name] = joined.get(name, "") + text
    return joined, chunks


def user(prompt: str) -> list[dict]:
    return [{"role": "user", "content": prompt}]


# ---------------------------------------------------------------- shapes


def test_models_are_labelled_as_simulator(client):
    models = client.models.list().data
    assert [m.id for m in models] == [*SHAPES, *RATER_MODELS]
    assert all(m.owned_by == "crd-simulator (not a model)" for m in models)


@pytest.mark.parametrize("model", list(SHAPES))
def test_reasoning_is_where_the_shape_puts_it(client, model):
    reply = ask(client, model, PLAIN)
    assert reply.system_fingerprint == "crd-simulator"
    assert reply.choices[0].finish_reason == "stop"
    got = fields(reply.choices[0].message)
    shape = SHAPES[model]
    if shape in FIELD:
        assert set(got) == {"content", FIELD[shape]}
        assert "秋天" in got[FIELD[shape]]  # reasoning mentions the question
        assert "think>" not in got["content"] + got[FIELD[shape]]
        return
    assert set(got) == {"content"}
    content = got["content"]
    assert content.count("</think>") == 1
    reasoning, response = content.split("\n</think>\n\n")
    assert response and "秋天" in reasoning
    if shape == "inline":
        assert reasoning.startswith("<think>\n") and len(reasoning) > len("<think>\n")
    else:
        assert "<think>" not in content and reasoning.strip()


@pytest.mark.parametrize("model", list(SHAPES))
def test_stream_concatenates_to_the_whole_reply(client, sim, model):
    prompt = next(iter(ANSWERS))
    whole = ask(client, model, prompt)
    joined, chunks = asyncio.run(
        stream_fields(sim.base_url, model, user(prompt), stream_options={"include_usage": True})
    )
    assert joined == fields(whole.choices[0].message)
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    text_chunks = [c for c in chunks if c.choices and fields(c.choices[0].delta)]
    assert len(text_chunks) > 5  # really split, not one blob
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage


def test_stream_sometimes_splits_think_tags(sim):
    """Readers must cope with tags cut across chunks; the simulator must produce that."""

    async def tag_splits(prompt: str) -> tuple[bool, bool]:
        _, chunks = await stream_fields(sim.base_url, "sim-inline-think", user(prompt))
        pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
        return (
            not any("<think>" in p for p in pieces),
            not any("</think>" in p for p in pieces),
        )

    async def main():
        return await asyncio.gather(*(tag_splits(f"问题{i}：为什么天是蓝的？") for i in range(16)))

    splits = asyncio.run(main())
    assert {open_split for open_split, _ in splits} == {True, False}
    assert {close_split for _, close_split in splits} == {True, False}


def test_same_request_same_text(client):
    for model in SHAPES:
        first, second = (fields(ask(client, model, PLAIN).choices[0].message) for _ in "12")
        assert first == second
    other = fields(ask(client, "sim-deepseek-r1", "解释一下光合作用。").choices[0].message)
    assert other != fields(ask(client, "sim-deepseek-r1", PLAIN).choices[0].message)


def test_reasoning_length_follows_setting():
    for chars in (100, 1500):
        with Simulator(SimSettings(reasoning_chars=chars)) as sim:
            with openai.OpenAI(base_url=sim.base_url, api_key="x") as c:
                reasoning = ask(c, "sim-deepseek-r1", PLAIN).choices[0].message.reasoning_content
        assert chars <= len(reasoning) <= chars + 60


def test_usage_counts_tokens_by_characters(client):
    assert approx_tokens("你好abcd") == 3
    assert approx_tokens("abcde") == 2
    usage = ask(client, "sim-deepseek-r1", PLAIN).usage
    assert usage.prompt_tokens == approx_tokens(PLAIN)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert 0 < usage.completion_tokens_details.reasoning_tokens < usage.completion_tokens
    system = {"role": "system", "content": "你是助手"}
    messages = [system, *user(PLAIN)]
    with_system = client.chat.completions.create(model="sim-deepseek-r1", messages=messages)
    assert with_system.usage.prompt_tokens == approx_tokens(PLAIN) + 4


# ---------------------------------------------------------------- answers


def test_expected_answer_wrong_values():
    def wrong(answer: str) -> str:
        given, correct = expected_answer("q", {"q": answer}, 1.0, "sim-deepseek-r1")
        assert not correct
        return given

    assert wrong("12") == "13"
    assert wrong("-3") == "-2"
    assert wrong("2.50") == "3.50"
    assert wrong("\\frac{3}{4}") == "\\frac{4}{4}"
    assert wrong("2x") == "2x+1"
    assert wrong("C") in "ABD" and len(wrong("C")) == 1
    assert expected_answer("q", {"q": "12"}, 0.0, "sim-deepseek-r1") == ("12", True)
    assert expected_answer("other", {"q": "12"}, 0.0, "sim-deepseek-r1") is None


def test_wrong_share_is_near_wrong_rate():
    answers = {f"题目{i}": str(i) for i in range(4000)}
    verdicts = [expected_answer(p, answers, WRONG_RATE, "sim-qwq-vllm")[1] for p in answers]
    assert abs(verdicts.count(False) / len(verdicts) - WRONG_RATE) < 0.03


def test_known_answers_end_as_expected_answer_predicts(client):
    wrong = 0
    for prompt in [*ANSWERS, *list(MANY)[:150]]:
        model = "sim-deepseek-r1"
        given, correct = expected_answer(prompt, {**ANSWERS, **MANY}, WRONG_RATE, model)
        reference = {**ANSWERS, **MANY}[prompt]
        assert (given == reference) == correct
        response = ask(client, model, prompt).choices[0].message.content
        assert response.endswith(f"\\boxed{{{given}}}"), (prompt, response)
        if reference in ("A", "B", "C", "D"):
            assert f"答案：{given}\n" in response
        wrong += not correct
    assert 0 < wrong < 60  # about 20% of 155, and both kinds occur


def test_suffix_after_newline_still_matches(client):
    prompt = "小明有3个苹果，又买了5个，一共有几个？"
    given, _ = expected_answer(prompt, ANSWERS, WRONG_RATE, "sim-qwq-vllm")
    assert expected_answer(prompt + SUFFIX, ANSWERS, WRONG_RATE, "sim-qwq-vllm")[0] == given
    response = ask(client, "sim-qwq-vllm", prompt + SUFFIX).choices[0].message.content
    assert response.endswith(f"\\boxed{{{given}}}")
    # A longer, different question that merely starts with a known one is not that one.
    other = ask(client, "sim-qwq-vllm", prompt + "再买2个呢？").choices[0].message.content
    assert "\\boxed" not in other


def test_unknown_prompt_gets_plain_response(client):
    response = ask(client, "sim-inline-think", PLAIN).choices[0].message.content
    assert "\\boxed" not in response and "答案：" not in response


def test_assistant_prefix_is_continued_not_repeated(client):
    prefixed = [*user(PLAIN), {"role": "assistant", "content": "<think>\n"}]
    for model in SHAPES:
        plain = ask(client, model, PLAIN).choices[0].message
        continued = client.chat.completions.create(model=model, messages=prefixed)
        continued = continued.choices[0].message
        if SHAPES[model] == "inline":
            assert continued.content == plain.content.removeprefix("<think>\n")
            assert not continued.content.startswith("<think>")
        else:  # nothing to continue: the reply already lacks the tag, or keeps it apart
            assert fields(continued) == fields(plain)


@pytest.mark.skipif(not (SHARED_DATA / "instructions").is_dir(), reason="../shared/data absent")
def test_real_chinese_pools_round_trip_through_load_answers(tmp_path):
    rows = []
    with open(SHARED_DATA / "instructions" / "ape210k_valid.jsonl", encoding="utf-8") as f:
        for r in [json.loads(line) for line in f][:50]:
            rows.append({"prompt": r["question"], "reference_answer": r["answer"]})
    with open(SHARED_DATA / "instructions" / "cmmlu_test.jsonl", encoding="utf-8") as f:
        for r in [json.loads(line) for line in f][:50]:
            options = "\n".join(f"{k}. {r[k]}" for k in "ABCD")
            rows.append({"prompt": f"{r['question']}\n{options}", "reference_answer": r["answer"]})
    rows.append({"prompt": "没有参考答案的题", "reference_answer": None})
    path = tmp_path / "pool.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in rows]
    path.write_text("".join(lines), encoding="utf-8")

    answers = load_answers(path)
    assert len(answers) == len(rows) - 1 and "没有参考答案的题" not in answers
    with Simulator(SimSettings(answers=answers)) as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="x") as c:
            for prompt in list(answers)[::10]:
                given, _ = expected_answer(prompt, answers, 0.2, "sim-r1-no-open-tag")
                content = ask(c, "sim-r1-no-open-tag", prompt + SUFFIX).choices[0].message.content
                assert content.endswith(f"\\boxed{{{given}}}")


# ---------------------------------------------------------------- errors


def test_unknown_model_is_404_naming_it(client):
    with pytest.raises(openai.NotFoundError) as err:
        ask(client, "deepseek-reasoner", PLAIN)
    message = err.value.body["message"]
    assert "deepseek-reasoner" in message and "sim-deepseek-r1" in message


def test_wrong_key_is_401_without_echo():
    with Simulator(SimSettings(api_key="right-key")) as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="wrong-key-7f3a", max_retries=0) as c:
            with pytest.raises(openai.AuthenticationError) as err:
                ask(c, "sim-deepseek-r1", PLAIN)
            assert "wrong-key-7f3a" not in err.value.response.text
            with pytest.raises(openai.AuthenticationError):
                c.models.list()
        with openai.OpenAI(base_url=sim.base_url, api_key="right-key") as c:
            assert ask(c, "sim-deepseek-r1", PLAIN).choices[0].message.content


def test_bad_requests_are_400(sim, client):
    raw = httpx2.post(f"{sim.base_url}/chat/completions", content=b"{not json")
    assert raw.status_code == 400 and "message" in raw.json()["error"]
    no_model = httpx2.post(f"{sim.base_url}/chat/completions", json={"messages": user(PLAIN)})
    assert no_model.status_code == 400
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="sim-deepseek-r1", messages=[{"role": "system", "content": "只有系统消息"}]
        )


# ---------------------------------------------------------------- faults


def faulty(**settings) -> Simulator:
    return Simulator(SimSettings(**settings))


@pytest.mark.parametrize("retry_after", [1, 0])
def test_429_carries_retry_after(retry_after):
    with faulty(rate_429=1.0, retry_after=retry_after) as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0) as c:
            for _ in range(3):
                with pytest.raises(openai.RateLimitError) as err:
                    ask(c, "sim-deepseek-r1", PLAIN)
                assert err.value.response.headers["retry-after"] == str(retry_after)
        assert sim.stats()["faults"]["429"] == 3


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors(status):
    with faulty(**{f"rate_{status}": 1.0}) as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0) as c:
            with pytest.raises(openai.InternalServerError) as err:
                ask(c, "sim-qwq-vllm", PLAIN)
        assert err.value.status_code == status
        assert sim.stats()["faults"][str(status)] == 1


def test_hang_outlasts_the_client_timeout():
    with faulty(rate_hang=1.0, hang_seconds=30) as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0, timeout=0.3) as c:
            started = time.monotonic()
            with pytest.raises(openai.APITimeoutError):
                ask(c, "sim-deepseek-r1", PLAIN)
            assert time.monotonic() - started < 5
        assert sim.stats()["faults"]["hang"] == 1


@pytest.mark.parametrize("model", list(SHAPES))
def test_truncation_ends_inside_the_reasoning(model):
    with faulty(rate_truncate=1.0) as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="x") as c:
            reply = ask(c, model, PLAIN)
        joined, chunks = asyncio.run(stream_fields(sim.base_url, model, user(PLAIN)))
    assert reply.choices[0].finish_reason == "length"
    assert chunks[-1].choices[0].finish_reason == "length"
    got = fields(reply.choices[0].message)
    assert joined == got
    assert "</think>" not in got["content"]
    if SHAPES[model] in FIELD:
        assert got["content"] == "" and got[FIELD[SHAPES[model]]]
    else:
        assert got["content"].startswith("<think>\n") == (SHAPES[model] == "inline")


@pytest.mark.parametrize("model", ["sim-deepseek-r1", "sim-inline-think"])
def test_loop_repeats_a_paragraph_until_max_tokens(model):
    with faulty(rate_loop=1.0) as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="x") as c:
            reply = ask(c, model, PLAIN, max_tokens=3000)
        joined, chunks = asyncio.run(stream_fields(sim.base_url, model, user(PLAIN), max_tokens=3000))
        assert sim.stats()["faults"]["loop"] == 2
    got = fields(reply.choices[0].message)
    assert joined == got and reply.choices[0].finish_reason == chunks[-1].choices[0].finish_reason == "length"
    text = got.get("reasoning_content") or got["content"]
    assert "</think>" not in text and 2700 <= approx_tokens(text) <= 3000
    paragraph = text[-400:].split("\n")[-3]  # a line of the repeated paragraph
    assert text.count(paragraph + "\n") > 20


def test_token_level_streams_send_a_chunk_per_character_spaced_in_time():
    with faulty(chunk_chars=1, chunk_delay=0.0005, reasoning_chars=300) as sim:
        joined, chunks = asyncio.run(stream_fields(sim.base_url, "sim-deepseek-r1", user(PLAIN)))
    with faulty(reasoning_chars=300) as sim:
        whole_stream, _ = asyncio.run(stream_fields(sim.base_url, "sim-deepseek-r1", user(PLAIN)))
    pieces = [text for c in chunks if c.choices for text in fields(c.choices[0].delta).values() if text]
    assert joined == whole_stream
    assert len(pieces) == sum(map(len, joined.values())) and set(map(len, pieces)) == {1}


def test_long_reasoning_does_not_loop():
    """Past the pool of canned steps the simulator reshuffles them: no passage repeats in a row."""
    with faulty(reasoning_chars=20000) as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="x") as c:
            reasoning = ask(c, "sim-deepseek-r1", PLAIN).choices[0].message.reasoning_content
    lines = reasoning.split("\n")
    assert len(reasoning) >= 20000 and all(a != b for a, b in zip(lines, lines[1:]))
    assert len(set(lines[1:31])) == 30 and lines[1:31] != lines[31:61]


def test_broken_stream_raises_in_the_client():
    with faulty(rate_broken_stream=1.0) as sim:
        received: list = []

        async def consume():
            async with openai.AsyncOpenAI(
                base_url=sim.base_url, api_key="x", max_retries=0,
                http_client=openai.DefaultAioHttpClient(),
            ) as c:
                stream = await c.chat.completions.create(
                    model="sim-inline-think", messages=user(PLAIN), stream=True
                )
                async for chunk in stream:
                    received.append(chunk)

        with pytest.raises(openai.APIConnectionError):
            asyncio.run(consume())
        assert 0 < len(received) < 5  # a few chunks, then the connection dropped
        with openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0) as c:
            with pytest.raises(openai.APIConnectionError):  # incomplete non-streamed body
                ask(c, "sim-inline-think", PLAIN)
        assert sim.stats()["faults"]["broken_stream"] == 2


def test_garbage_is_not_json():
    with faulty(rate_garbage=1.0) as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0) as c:
            with pytest.raises(ValueError):
                ask(c, "sim-deepseek-r1", PLAIN)
            with pytest.raises(ValueError):
                list(ask(c, "sim-deepseek-r1", PLAIN, stream=True))


def test_empty_reply():
    with faulty(rate_empty=1.0) as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="x") as c:
            reply = ask(c, "sim-inline-think", PLAIN)
        joined, _ = asyncio.run(stream_fields(sim.base_url, "sim-inline-think", user(PLAIN)))
    assert reply.choices[0].message.content == "" and reply.choices[0].finish_reason == "stop"
    assert joined.get("content", "") == ""


def test_faults_are_per_attempt_and_reproducible():
    def outcomes(client) -> list[bool]:
        results = []
        for _ in range(24):
            try:
                ask(client, "sim-deepseek-r1", PLAIN)
                results.append(True)
            except openai.InternalServerError:
                results.append(False)
        return results

    with faulty(rate_500=0.5, seed=7) as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0) as c:
            first = outcomes(c)
            httpx2.post(f"{sim.url}/sim/reset")  # also reseeds the fault draws
            assert outcomes(c) == first
    assert set(first) == {True, False}  # the same prompt fails, then succeeds on retry
    with faulty(rate_500=0.5, seed=8) as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="x", max_retries=0) as c:
            assert outcomes(c) != first


def test_latency_delays_every_reply():
    with faulty(latency=0.2) as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="x") as c:
            started = time.monotonic()
            ask(c, "sim-deepseek-r1", PLAIN)
            assert time.monotonic() - started >= 0.2
            started = time.monotonic()
            next(iter(ask(c, "sim-deepseek-r1", PLAIN, stream=True)))
            assert time.monotonic() - started >= 0.2


# ---------------------------------------------------------------- stats and serving


def test_stats_count_requests_per_prompt():
    with Simulator() as sim:
        with openai.OpenAI(base_url=sim.base_url, api_key="x") as c:
            for prompt in ["甲", "甲", "甲", "乙"]:
                ask(c, "sim-qwq-vllm", prompt)
            with pytest.raises(openai.NotFoundError):
                ask(c, "no-such-model", "甲")
        stats = httpx2.get(f"{sim.url}/sim/stats").json()
        assert stats == sim.stats()
        assert stats["requests"] == 4 and stats["rejected"] == 1
        assert stats["by_prompt"] == {
            hashlib.sha1("甲".encode()).hexdigest(): 3,
            prompt_key("乙"): 1,
        }
        httpx2.post(f"{sim.url}/sim/reset")
        assert sim.stats()["requests"] == 0 and sim.stats()["by_prompt"] == {}


def test_settings_are_validated():
    with pytest.raises(ValueError, match="rate_500"):
        SimSettings(rate_500=1.5)
    with pytest.raises(ValueError, match="sum"):
        SimSettings(rate_429=0.6, rate_503=0.6)


def test_run_server_forever_prints_banner_and_serves():
    code = "from processing.sim import *; run_server_forever(SimSettings(), '127.0.0.1', 0)"
    with subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    ) as proc:  # closes the pipe and waits on exit
        try:
            banner = proc.stdout.readline()
            assert banner.startswith("crd simulator (not a model) on http://127.0.0.1:")
            assert "sim-deepseek-r1" in banner
            base_url = banner.split(" on ", 1)[1].split(" ", 1)[0]
            response = httpx2.get(f"{base_url}/models")
            assert response.json()["data"][0]["id"] == "sim-deepseek-r1"
            assert response.headers["x-crd-simulator"] == "not a model"
        finally:
            proc.terminate()
