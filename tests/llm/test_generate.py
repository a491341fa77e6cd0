"""The generation engine: request shapes per provider, retries, rate control, balancing,
and `crd generate` end to end (outputs, resume of failures, one-line fatal errors)."""

from __future__ import annotations

import asyncio
import json
import re
import socket

import polars as pl
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from processing.cli import main
from processing.config import parse_config
from processing.llm.settings import ModelConfig
from processing.errors import CrdError
from processing.llm.generate import FAILURES, GENERATIONS, JOURNAL, generate_file, read_prompts
from processing.llm.journal import Job, Record
from processing.llm import engine as engine_module
from processing.llm import ratelimit
from processing.llm.client import RequestBuilder
from processing.llm.engine import Engine
from processing.llm.extract import Usage
from processing.llm.ratelimit import AdaptiveLimit, RateLimits, TokenBucket
from processing.progress import GenerationProgress
from processing import sim_labels
from processing.sim import SimSettings, Simulator

from helpers import without_simulator_notice

REPLY = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "答案是 4。", "reasoning_content": "2+2=4"},
                      "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, "completion_tokens": 10, "total_tokens": 15}}


def jobs(count: int, model: str = "m") -> list[Job]:
    return [Job(f"p{number}", model, 0, (("user", f"第{number}题"),)) for number in range(count)]


def model_at(base_url: str, **fields) -> ModelConfig:
    return ModelConfig(name=fields.pop("name", "m"), base_url=base_url, stream=fields.pop("stream", False),
                       backoff=0.01, **fields)


async def run_against(handler, model_fields: dict, count: int) -> tuple[list[Record], Engine]:
    """Run `count` jobs through an Engine against an app whose chat handler is `handler`."""
    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    server = TestServer(app)
    await server.start_server()
    records: list[Record] = []
    try:
        async with Engine(model_at(str(server.make_url("/v1")), **model_fields)) as engine:
            await engine.run(jobs(count), records.append)
    finally:
        await server.close()
    return records, engine


# ---------------------------------------------------------------- request bodies per preset

def body_of(**fields) -> dict:
    model = ModelConfig(name="m", base_url="http://x/v1", **fields)
    builder = RequestBuilder(model)
    return {"stream": builder.stream, **json.loads(builder.body((("user", "你好"),)))}


def test_default_request_is_the_recipe():
    body = body_of()
    assert body["messages"] == [{"role": "user", "content": "你好"}]  # no system prompt
    assert (body["temperature"], body["max_tokens"], body["stream"]) == (0.6, 32768, True)
    assert body["stream_options"] == {"include_usage": True}


def test_dashscope_streams_and_thinks_even_when_told_not_to_stream():
    body = body_of(preset="dashscope", stream=False)
    assert body["stream"] is True and body["enable_thinking"] is True


def test_openrouter_asks_for_reasoning():
    assert body_of(preset="openrouter", stream=False)["reasoning"] == {"effort": "high"}
    assert "stream_options" not in body_of(preset="openrouter", stream=False)


@pytest.mark.parametrize(("preset", "fields"), [
    ("dashscope", {"enable_thinking": True, "thinking_budget": 2000}),
    ("siliconflow", {"enable_thinking": True, "thinking_budget": 2000}),
    ("openrouter", {"reasoning": {"max_tokens": 2000}}),  # in place of the effort
])
def test_thinking_budget_is_sent_where_the_preset_takes_it(preset, fields):
    body = body_of(preset=preset, thinking_budget=2000)
    assert {name: body.get(name) for name in fields} == fields


@pytest.mark.parametrize(("model", "message"), [
    ({"preset": "deepseek", "thinking_budget": 2000},
     "models.0: thinking_budget: preset deepseek has no thinking budget; it is sent to presets "
     "dashscope, siliconflow, openrouter only, so leave it out"),
    ({"thinking_budget": 2000}, "preset openai has no thinking budget"),
    ({"preset": "siliconflow", "thinking_budget": 64}, "preset siliconflow takes 128–32,768 tokens, not 64"),
])
def test_thinking_budget_is_refused_where_the_preset_has_none(model, message):
    raw = {"sources": [{"path": "p.jsonl"}], "models": [{"name": "m", "base_url": "http://x/v1", **model}]}
    with pytest.raises(CrdError, match=re.escape(message)):
        parse_config(raw)


@pytest.mark.parametrize(("preset", "fields", "prefix_extra"), [
    ("vllm", {"continue_final_message": True, "add_generation_prompt": False}, {}),
    ("sglang", {"continue_final_message": True}, {}),
    ("deepseek", {}, {"prefix": True}),
])
def test_think_prefix_where_the_server_continues_it(preset, fields, prefix_extra):
    body = body_of(preset=preset, force_think_prefix=True)
    assert body["messages"][-1] == {"role": "assistant", "content": "<think>\n", **prefix_extra}
    assert all(body[name] == value for name, value in fields.items())


def test_think_prefix_refused_where_the_server_cannot_continue_it():
    with pytest.raises(CrdError, match="force_think_prefix.*preset dashscope"):
        body_of(preset="dashscope", force_think_prefix=True)


def test_think_prefix_end_to_end_against_the_simulator(tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "1+1 等于几？"}\n{"prompt": "天为什么是蓝的？"}\n', encoding="utf-8")
    with Simulator(SimSettings()) as sim:
        model = model_at(sim.base_url, name="sim-inline-think", preset="vllm", force_think_prefix=True, stream=True)
        result = generate_file(prompts, model, tmp_path / "out", quiet=True)
    rows = pl.read_parquet(tmp_path / "out" / GENERATIONS)
    assert result.finished == rows.height == 2
    assert all(rows["reasoning"].str.len_chars() > 100) and all(rows["response"].str.len_chars() > 0)
    assert not any("think>" in text for text in rows["reasoning"].to_list() + rows["response"].to_list())


def test_a_forced_prefix_reply_without_its_closing_tag_is_never_a_row():
    """The server continued "<think>\n" and stopped before </think>: finish_reason stop or not,
    that is reasoning cut short, not an answer."""
    cut = {**REPLY, "choices": [{"index": 0, "message": {"role": "assistant", "content": "先设甲的速度为 x"},
                                 "finish_reason": "stop"}]}

    async def serve(request):
        return web.json_response(cut)

    forced, _ = asyncio.run(run_against(serve, {"preset": "vllm", "force_think_prefix": True, "max_retries": 0}, 2))
    plain, _ = asyncio.run(run_against(serve, {"max_retries": 0}, 1))
    assert {(r.status, r.error) for r in forced} == {("failed", "gave up after 1 attempts: unclosed reasoning: "
                                                      "the reply ended inside its reasoning, with no </think>")}
    assert (plain[0].status, plain[0].response) == ("ok", "先设甲的速度为 x")  # no prefix: a plain answer


def test_usage_is_read_wherever_the_provider_put_it():
    """Top level, in the choice (Moonshot) or in x_groq (Groq); SGLang's reasoning_tokens
    sits at the top of usage, OpenAI's in completion_tokens_details."""
    counts = {"prompt_tokens": 7, "completion_tokens": 30}
    replies = [
        {**REPLY, "usage": {**counts, "reasoning_tokens": 20}},
        {**REPLY, "usage": None, "choices": [{**REPLY["choices"][0], "usage": counts}]},
        {**REPLY, "usage": None, "x_groq": {"id": "req_1", "usage": counts}},
        {**REPLY, "usage": {**counts, "completion_tokens_details": {"reasoning_tokens": 20}}},
    ]

    async def serve(request):
        return web.json_response(replies[int(json.loads(await request.read())["messages"][0]["content"][1:-1])])

    records, _ = asyncio.run(run_against(serve, {}, len(replies)))
    seen = sorted((r.prompt_id, r.prompt_tokens, r.completion_tokens, r.reasoning_tokens) for r in records)
    assert seen == [("p0", 7, 30, 20), ("p1", 7, 30, None), ("p2", 7, 30, None), ("p3", 7, 30, 20)]
    assert Usage.of({"prompt_tokens": 7, "completion_tokens": 30}).total_tokens == 37
    assert Usage.of({"prompt_tokens": "7", "completion_tokens": True}) == Usage()


# ---------------------------------------------------------------- failures and retries

def test_client_errors_are_recorded_once_not_retried():
    calls = []

    async def refuse(request):
        calls.append(1)
        return web.json_response({"error": {"message": "content policy"}}, status=400)

    records, _ = asyncio.run(run_against(refuse, {}, 3))
    assert len(calls) == 3
    assert {(r.status, r.attempts, r.error) for r in records} == {("failed", 1, "HTTP 400: content policy")}


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503])
def test_retryable_statuses_are_retried(status):
    seen: dict[str, int] = {}

    async def flaky(request):
        prompt = (await request.json())["messages"][0]["content"]
        seen[prompt] = seen.get(prompt, 0) + 1
        if seen[prompt] == 1:
            return web.json_response({"error": {"message": "try again"}}, status=status, headers={"Retry-After": "0"})
        return web.json_response(REPLY)

    records, _ = asyncio.run(run_against(flaky, {}, 4))
    assert {(r.status, r.attempts, r.response) for r in records} == {("ok", 2, "答案是 4。")}


def test_retry_after_is_honoured(monkeypatch):
    waits = []
    monkeypatch.setattr(engine_module, "after_retry_after", lambda seconds: waits.append(seconds) or 0.0)
    first = []

    async def throttle_once(request):
        if not first:
            first.append(1)
            return web.json_response({"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "7"})
        return web.json_response(REPLY)

    records, _ = asyncio.run(run_against(throttle_once, {"max_concurrency": 1}, 1))
    assert waits == [7.0] and records[0].status == "ok"


@pytest.mark.parametrize(("reply", "reason"), [
    ({**REPLY, "choices": [{**REPLY["choices"][0], "finish_reason": "length"}]}, "truncated"),
    ({**REPLY, "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "stop"}]},
     "empty response"),
    ({**REPLY, "choices": [{"index": 0, "message": {"role": "assistant", "content": "<think>\n想"}, "finish_reason": "stop"}]},
     "unclosed reasoning"),
    ({**REPLY, "choices": [{"index": 0, "message": {"role": "assistant", "content": 42}, "finish_reason": "stop"}]},
     "content is a JSON number"),
    ({**REPLY, "choices": {"0": REPLY["choices"][0]}}, "reply without choices"),
])
def test_unusable_replies_are_retried_then_failed_with_the_reason(reply, reason):
    async def bad(request):
        return web.json_response(reply)

    records, _ = asyncio.run(run_against(bad, {"max_retries": 2}, 2))
    assert all(r.status == "failed" and r.attempts == 3 and reason in r.error for r in records)


def test_429s_shrink_concurrency_and_every_job_still_finishes():
    in_flight = [0]

    async def crowded(request):
        in_flight[0] += 1
        try:
            if in_flight[0] > 4:  # this server takes four requests at a time
                return web.json_response({"error": {"message": "busy"}}, status=429)
            await asyncio.sleep(0.01)
            return web.json_response(REPLY)
        finally:
            in_flight[0] -= 1

    records, engine = asyncio.run(run_against(crowded, {"max_concurrency": 32, "max_retries": 20}, 200))
    assert all(r.status == "ok" for r in records) and len(records) == 200
    assert engine.limit.limit < 32


# ---------------------------------------------------------------- rate control units

def test_adaptive_limit_halves_once_per_round_trip_and_recovers_additively():
    async def scenario():
        limit = AdaptiveLimit(40)
        epochs = [await limit.acquire() for _ in range(40)]
        assert limit.in_flight == 40
        limit.throttled(epochs[0])
        limit.throttled(epochs[1])  # same round trip: no second cut
        assert limit.limit == 20
        for _ in range(40):
            limit.release()
        later = await limit.acquire()
        limit.throttled(later)
        assert limit.limit == 10
        for _ in range(10):
            limit.succeeded()  # one round trip of successes adds 5% of the maximum (2)
        assert limit.limit == pytest.approx(12, abs=0.2)
        limit.release()

    asyncio.run(scenario())


def test_adaptive_limit_holds_waiters_beyond_the_limit():
    async def scenario():
        limit = AdaptiveLimit(2)
        await limit.acquire()
        await limit.acquire()
        waiter = asyncio.ensure_future(limit.acquire())
        await asyncio.sleep(0)
        assert not waiter.done()
        limit.release()
        await asyncio.sleep(0)
        assert waiter.done() and limit.in_flight == 2

    asyncio.run(scenario())


def test_token_bucket_paces_and_corrects_estimates(monkeypatch):
    clock = [100.0]
    slept = []

    async def fake_sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(ratelimit, "monotonic", lambda: clock[0])
    monkeypatch.setattr(ratelimit.asyncio, "sleep", fake_sleep)

    async def scenario():
        bucket = TokenBucket(per_minute=60)  # one a second
        await bucket.take(1)
        await bucket.take(1)
        assert slept == [pytest.approx(1.0)]
        tokens = TokenBucket(per_minute=600)  # 10 a second, bursts of 10
        await tokens.take(10)
        tokens.charge(20)  # the reply cost 20 more than charged
        await tokens.take(1)
        assert slept[-1] == pytest.approx(2.1)

    asyncio.run(scenario())


def test_rate_limits_learn_the_mean_completion():
    limits = RateLimits(rpm=None, tpm=6000, first_guess=1000)
    limits.settle(1005, Usage(completion_tokens=200, total_tokens=205))
    limits.settle(1005, Usage(completion_tokens=400, total_tokens=405))
    assert limits._completion_mean == 300


# ---------------------------------------------------------------- several servers

def test_requests_are_balanced_over_several_servers_and_a_dead_one_is_skipped(tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"问题{n}"}, ensure_ascii=False) + "\n" for n in range(60)),
                       encoding="utf-8")
    with Simulator(SimSettings(latency=0.02)) as first, Simulator(SimSettings(latency=0.02)) as second:
        model = model_at(first.base_url, base_urls=[second.base_url], name="sim-deepseek-r1", max_concurrency=8)
        assert generate_file(prompts, model, tmp_path / "both", quiet=True).finished == 60
        counts = first.stats()["requests"], second.stats()["requests"]
    assert min(counts) >= 15 and sum(counts) == 60

    dead = f"http://127.0.0.1:{free_port()}/v1"
    with Simulator(SimSettings()) as live:
        model = model_at(live.base_url, base_urls=[dead], name="sim-deepseek-r1", max_concurrency=4)
        engine = Engine(model)
        records: list[Record] = []
        asyncio.run(engine.run(jobs(20, "sim-deepseek-r1"), records.append))
        asyncio.run(engine.close())
    assert len(records) == 20 and all(r.status == "ok" for r in records)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- crd generate

def test_crd_generate_writes_rows_journal_and_failures(tmp_path, capsys):
    prompts = tmp_path / "prompts.parquet"
    pl.DataFrame({"id": ["a", "b", "c"], "prompt": ["甲", "乙", "丙"], "extra": [1, 2, 3]}).write_parquet(prompts)
    with Simulator(SimSettings()) as sim:
        code = main(["generate", str(prompts), "--model", "sim-qwq-vllm", "--base-url", sim.base_url,
                     "--samples", "2", "--no-stream", "--out", str(tmp_path / "out")])
    output = capsys.readouterr()
    rows = pl.read_parquet(tmp_path / "out" / GENERATIONS)
    assert code == 0 and "6 of 6 requests finished, 0 failed" in output.out
    assert "req/s" in output.out and "tok/s" in output.out  # the final summary
    assert rows.columns == ["id", "prompt_id", "sample", "prompt", "reasoning", "response", "model",
                            "finish_reason", "prompt_tokens", "completion_tokens", "reasoning_tokens", "created_at",
                            "system_fingerprint"]
    assert rows["system_fingerprint"].to_list() == ["crd-simulator"] * 6
    assert sorted(zip(rows["prompt_id"], rows["sample"])) == [(p, s) for p in "abc" for s in (0, 1)]
    assert rows["id"].n_unique() == 6 and set(rows["prompt"]) == {"甲", "乙", "丙"}
    assert rows["completion_tokens"].min() > rows["reasoning_tokens"].min() > 0
    assert (tmp_path / "out" / FAILURES).read_text() == ""
    assert len((tmp_path / "out" / JOURNAL).read_text().splitlines()) == 6


def test_quiet_prints_no_bar(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sim_labels, "_told", set())  # told once per process: this test may not be first
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "你好"}\n', encoding="utf-8")
    with Simulator(SimSettings()) as sim:
        main(["generate", str(prompts), "--model", "sim-deepseek-r1", "--base-url", sim.base_url,
              "--out", str(tmp_path / "out"), "-q"])
    # The one line that is always shown: where the answers came from.
    assert capsys.readouterr().err.splitlines() == [f"{sim.base_url} is the crd simulator, not a model: its answers "
                                                    "will be marked as simulated (system_fingerprint, and a notice "
                                                    "at the top of the card)"]


def test_failed_requests_are_listed_and_asked_again_only_with_retry_failed(tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"id": "x", "prompt": "问一"}\n{"id": "y", "prompt": "问二"}\n', encoding="utf-8")
    refusing = [True]
    calls = []

    async def sometimes(request):
        calls.append(1)
        if refusing[0]:
            return web.json_response({"error": {"message": "overloaded upstream"}}, status=422)
        return web.json_response(REPLY)

    async def scenario(retry_failed: bool):
        app = web.Application()
        app.router.add_post("/v1/chat/completions", sometimes)
        server = TestServer(app)
        await server.start_server()
        try:
            model = model_at(str(server.make_url("/v1")))
            return await asyncio.to_thread(generate_file, prompts, model, tmp_path / "out",
                                           retry_failed=retry_failed, quiet=True)
        finally:
            await server.close()

    first = asyncio.run(scenario(False))
    assert [f["error"] for f in first.failures] == ["HTTP 422: overloaded upstream"] * 2
    refusing[0] = False
    assert asyncio.run(scenario(False)).failures != [] and len(calls) == 2  # not asked again
    again = asyncio.run(scenario(True))
    assert again.finished == 2 and again.failures == [] and len(calls) == 4
    assert (tmp_path / "out" / FAILURES).read_text() == ""


def test_input_problems_are_one_line_errors(tmp_path):
    no_prompt = tmp_path / "a.jsonl"
    no_prompt.write_text('{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(CrdError, match="'prompt'; columns present: text"):
        read_prompts(no_prompt)
    duplicated = tmp_path / "b.jsonl"
    duplicated.write_text('{"id": 1, "prompt": "x"}\n{"id": 1, "prompt": "y"}\n', encoding="utf-8")
    with pytest.raises(CrdError, match="duplicates"):
        read_prompts(duplicated)
    (tmp_path / "c.csv").write_text("prompt\nx\n", encoding="utf-8")
    with pytest.raises(CrdError, match="expected JSON Lines"):
        read_prompts(tmp_path / "c.csv")
    plain = tmp_path / "d.jsonl"
    plain.write_text('{"prompt": "x"}\n{"prompt": "x"}\n', encoding="utf-8")
    assert len(read_prompts(plain)) == 2  # repeated prompts get distinct stable ids
    assert read_prompts(plain) == read_prompts(plain)


def fatal(capsys, arguments: list[str]) -> str:
    assert main(arguments) == 2
    error = without_simulator_notice(capsys.readouterr().err).strip()
    assert error.startswith("crd: error: ") and "\n" not in error
    return error


def test_unreachable_wrong_key_and_unknown_model_fail_in_one_line_leaving_nothing(tmp_path, capsys, monkeypatch):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "你好"}\n', encoding="utf-8")
    dead = f"http://127.0.0.1:{free_port()}/v1"
    error = fatal(capsys, ["generate", str(prompts), "--model", "m", "--base-url", dead, "--out", str(tmp_path / "a")])
    assert f"cannot reach {dead}" in error and "check the base_url" in error
    assert not (tmp_path / "a").exists()

    monkeypatch.setenv("CRD_TEST_KEY", "sk-wrong")
    with Simulator(SimSettings(api_key="sk-right")) as sim:
        error = fatal(capsys, ["generate", str(prompts), "--model", "sim-deepseek-r1", "--base-url", sim.base_url,
                               "--api-key-env", "CRD_TEST_KEY", "--out", str(tmp_path / "b")])
        assert f"{sim.base_url}: HTTP 401" in error and "$CRD_TEST_KEY was refused" in error
        assert not (tmp_path / "b").exists()

        monkeypatch.setenv("CRD_TEST_KEY", "sk-right")
        error = fatal(capsys, ["generate", str(prompts), "--model", "sim-nonexistent", "--base-url", sim.base_url,
                               "--api-key-env", "CRD_TEST_KEY", "--out", str(tmp_path / "c")])
        assert f"{sim.base_url}: HTTP 404" in error and "check the model name 'sim-nonexistent'" in error
        assert not (tmp_path / "c").exists()

    monkeypatch.delenv("CRD_TEST_KEY")
    error = fatal(capsys, ["generate", str(prompts), "--model", "m", "--base-url", dead, "--api-key-env",
                           "CRD_TEST_KEY", "--out", str(tmp_path / "d")])
    assert "CRD_TEST_KEY is not set" in error


def test_a_bad_flag_value_names_the_flag(capsys):
    error = fatal(capsys, ["generate", "x.jsonl", "--model", "m", "--base-url", "http://h/v1", "--concurrency", "0",
                           "--out", "o"])
    assert "--concurrency" in error


def test_the_live_bar_shows_rates_failures_and_cost(capsys, monkeypatch):
    monkeypatch.setattr("processing.progress.BAR_DELAY", 0)
    progress = GenerationProgress(2, quiet=False)
    progress.update(Record("a", "m", 0, "ok", completion_tokens=100), cost=0.25)
    progress.update(Record("b", "m", 0, "failed", error="x"), cost=None)
    progress.close()
    bar = capsys.readouterr().err
    assert "2/2" in bar and "req/s" in bar and "tok/s" in bar and "failed" in bar and "cost 0.25" in bar


def test_progress_counts_tokens_failures_and_cost():
    progress = GenerationProgress(3, quiet=True, done=1)
    progress.update(Record("a", "m", 0, "ok", completion_tokens=100), cost=0.5)
    progress.update(Record("b", "m", 0, "failed", error="x"), cost=None)
    progress.close()
    assert (progress.finished, progress.failures, progress.tokens, progress.cost) == (1, 1, 100, 0.5)
    assert "1 finished, 1 failed" in progress.summary() and "cost 0.50" in progress.summary()
    priced = Engine(ModelConfig(name="m", base_url="http://x/v1", input_price=2.0, output_price=8.0))
    assert priced.cost(Record("a", "m", 0, "ok", prompt_tokens=1000, completion_tokens=1000)) == pytest.approx(0.01)
