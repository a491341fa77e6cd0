"""Batch mode against the simulator's /v1/files and /v1/batches: same rows as real time,
kill -9 safe (no batch twice, nothing lost), failures retried in real time, packing limits,
`crd batches` and its --cancel, and the batch discount on the cost."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import polars as pl
import pytest

from processing.config import load_config
from processing.errors import CrdError
from processing.llm.batch_api import BatchClient
from processing.llm.batch_files import custom_id, entry_of, limits, pack
from processing.llm.batch_ledger import LEDGER, Ledger
from processing.llm.client import RequestBuilder
from processing.llm.generate import FAILURES, GENERATIONS, JOURNAL, generate_file
from processing.llm.journal import make_job
from processing.llm.settings import ModelConfig
from processing.pipeline import build
from processing import demo as demo_data
from processing.sim import SimSettings, Simulator
from processing.sim_batch import BatchSimSettings

from helpers import REPO

MODEL = "sim-deepseek-r1"


def write_prompts(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for number in range(count):
            handle.write(json.dumps({"prompt": f"第{number}题：请解释“温故而知新”。"}, ensure_ascii=False) + "\n")
    return path


def batch_model(sim: Simulator, **fields) -> ModelConfig:
    return ModelConfig(name=MODEL, base_url=sim.base_url, mode="batch", batch_poll=0.05, **fields)


def rows(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / GENERATIONS).drop("created_at").sort("id")


def batch_stats(sim: Simulator) -> dict:
    with urllib.request.urlopen(sim.url + "/sim/batch_stats") as reply:
        return json.loads(reply.read())


def crd(*args: str) -> list[str]:
    return [sys.executable, "-m", "processing.cli", *args]


def crd_generate_batch(prompts: Path, sim: Simulator, out: Path, *flags: str) -> list[str]:
    return crd("generate", str(prompts), "--model", MODEL, "--base-url", sim.base_url, "--out", str(out), "-q",
               "--batch", "--batch-poll", "0.05", *flags)


def ledger_events(out: Path) -> list[dict]:
    path = out / LEDGER
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_bytes().splitlines(keepends=True) if line.endswith(b"\n")]


# ------------------------------------------------------------------ same rows as real time


def test_batch_rows_equal_realtime_rows(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl", 40)
    with Simulator(SimSettings(batch=BatchSimSettings(delay=0.2))) as sim:
        batched = generate_file(prompts, batch_model(sim, samples=2, batch_max_requests=25), tmp_path / "batch",
                                quiet=True)
        realtime = generate_file(prompts, ModelConfig(name=MODEL, base_url=sim.base_url, samples=2),
                                 tmp_path / "realtime", quiet=True)
        stats = batch_stats(sim)
    assert batched.finished == realtime.finished == 80
    assert rows(tmp_path / "batch").equals(rows(tmp_path / "realtime"))
    assert stats["batches_created"] == 4  # 80 requests, 25 per file
    assert not (tmp_path / "batch" / "batches").exists()  # result files are deleted once journaled


def test_batch_build_equals_realtime_build_for_every_reply_shape(tmp_path):
    """The demo's four teachers (reasoning in each of the four shapes), streamed and not in real time."""
    outputs = {}
    with Simulator(SimSettings(batch=BatchSimSettings(delay=0.1))) as sim:
        for mode in ("batch", "realtime"):
            config = load_config(demo_data.CONFIG)
            for model in config.models:
                model.base_url, model.mode, model.batch_poll = sim.base_url, mode, 0.05
            config.judge.base_url = sim.base_url  # the demo's simulated judge, real time in both builds
            out = tmp_path / mode
            summary = build(config, out, tmp_path / f"{mode}.run", quiet=True)
            assert summary.failed == 0
            outputs[mode] = pl.read_parquet(out / "data" / "full").drop("created_at", strict=False).sort("id")
        assert batch_stats(sim)["batches_created"] == 4  # one per teacher
    assert outputs["batch"].height > 0
    assert outputs["batch"].equals(outputs["realtime"])
    assert outputs["batch"]["system_fingerprint"].unique().to_list() == ["crd-simulator"]  # read from result lines too


# ------------------------------------------------------------------ kill -9


def run_until(process: subprocess.Popen, ready, what: str) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        assert process.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within 120 s"
        time.sleep(0.005)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def journal_lines(out: Path) -> int:
    path = out / JOURNAL
    return path.read_bytes().count(b"\n") if path.exists() else 0


def test_killed_three_times_loses_nothing_and_batches_nothing_twice(tmp_path):
    total, per_file = 300, 15  # 20 batches
    batches = total // per_file
    prompts = write_prompts(tmp_path / "prompts.jsonl", total)
    out = tmp_path / "killed"
    draw = random.Random(os.environ.get("CRD_TEST_SEED", "batch-kill"))
    settings = SimSettings(batch=BatchSimSettings(delay=1.0, delay_step=0.25))
    with Simulator(settings) as sim:
        command = crd_generate_batch(prompts, sim, out, "--batch-max-requests", str(per_file))
        # 1. while files are uploaded and batches created
        steps = draw.randint(1, 2 * batches - 2)
        run_until(subprocess.Popen(command), lambda: len(ledger_events(out)) >= steps, f"{steps} ledger steps")
        # 2. with every batch created and pending
        created = lambda: sum(event["event"] == "created" for event in ledger_events(out)) == batches
        run_until(subprocess.Popen(command), created, "every batch created")
        assert journal_lines(out) < total
        # 3. while results are downloaded and written to the journal
        lines = draw.randint(max(journal_lines(out), 1), total - 2 * per_file)
        run_until(subprocess.Popen(command), lambda: journal_lines(out) >= lines, f"{lines} journal lines")
        subprocess.run(command, check=True)
        stats = batch_stats(sim)
        realtime = generate_file(prompts, ModelConfig(name=MODEL, base_url=sim.base_url), tmp_path / "clean",
                                 quiet=True)
    assert realtime.finished == total
    assert rows(out).equals(rows(tmp_path / "clean"))
    assert stats["batches_created"] == batches
    assert len(stats["batched"]) == total and max(stats["batched"].values()) == 1  # no request in two batches
    assert not (out / FAILURES).read_text()
    assert all(event["status"] == "completed" for event in ledger_events(out) if event["event"] == "finished")


def test_a_file_uploaded_before_a_kill_is_batched_once(tmp_path):
    """Kills between upload and create, and between create and its ledger line."""
    prompts = write_prompts(tmp_path / "prompts.jsonl", 20)
    with Simulator(SimSettings()) as sim:
        model = batch_model(sim, batch_max_requests=10)
        jobs = [make_job(f"p{number}", model, 0, (("user", f"问题{number}"),)) for number in range(20)]
        out = tmp_path / "run"
        ledger = Ledger(out / LEDGER)

        async def upload_and_maybe_create() -> None:
            client = BatchClient(model)
            try:
                for number, packed in enumerate(pack(jobs, model)):
                    file = await client.upload("f.jsonl", packed.data)
                    ledger.uploaded(file, JOURNAL, model, [job.entry for job in packed.jobs])
                    if number == 0:
                        await client.create(file)  # created, then killed before the ledger line
            finally:
                await client.close()

        asyncio.run(upload_and_maybe_create())
        assert batch_stats(sim)["batches_created"] == 1
        # The rerun's own prompts are other ones: the ledger's live files are collected anyway.
        generate_file(prompts, model, out, quiet=True)
        stats = batch_stats(sim)
    # The adopted batch, the second file's, and two for the rerun's own 20 prompts; a second
    # batch of the first file would put its requests in two batches.
    assert stats["batches_created"] == 4
    assert max(stats["batched"].values()) == 1
    journaled = [json.loads(line) for line in (out / JOURNAL).read_text().splitlines()]
    assert {record["prompt_id"] for record in journaled} >= {f"p{number}" for number in range(20)}
    assert all(record["status"] == "ok" for record in journaled)


# ------------------------------------------------------------------ failures and expiry


def test_failed_and_expired_lines_are_listed_then_filled_in_real_time(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl", 60)
    out = tmp_path / "run"
    with Simulator(SimSettings(batch=BatchSimSettings(fail_rate=0.15, expire_rate=0.1))) as sim:
        result = generate_file(prompts, batch_model(sim, batch_max_requests=20), out, quiet=True)
        listed = [json.loads(line) for line in (out / FAILURES).read_text().splitlines()]
        reasons = {record["error"].split(":")[0] for record in listed}
        assert len(listed) == len(result.failures) == 60 - result.finished > 0
        assert reasons == {"HTTP 500", "batch_expired"}
        statuses = {event["status"] for event in ledger_events(out) if event["event"] == "finished"}
        assert "expired" in statuses
        process = subprocess.run(crd("generate", str(prompts), "--model", MODEL, "--base-url", sim.base_url,
                                     "--out", str(out), "-q", "--retry-failed"), capture_output=True, text=True)
        assert process.returncode == 0, process.stderr
        asked_again = sim.stats()["requests"]
        generate_file(prompts, ModelConfig(name=MODEL, base_url=sim.base_url), tmp_path / "clean", quiet=True)
    assert not (out / FAILURES).read_text()
    assert rows(out).equals(rows(tmp_path / "clean"))
    # Real time asked only the failed requests (the batch's own lines are loopback requests too).
    assert asked_again == result.finished + len(listed)


# ------------------------------------------------------------------ packing


def test_packing_respects_request_and_byte_limits():
    model = ModelConfig(name="m", base_url="http://x/v1", preset="dashscope", batch_max_requests=7,
                        batch_max_bytes=3000)
    jobs = [make_job(f"id:{number}", model, 0, (("user", "题" * (50 + 20 * (number % 5))),)) for number in range(60)]
    files = list(pack(jobs, model))
    assert [job for packed in files for job in packed.jobs] == jobs  # every job once, in order
    for packed in files:
        lines = packed.data.splitlines()
        assert len(lines) == len(packed.jobs) <= 7
        assert len(packed.data) <= 3000
        for job, line in zip(packed.jobs, lines):
            request = orjson.loads(line)
            assert entry_of(request["custom_id"], "m") == job.entry  # prompt ids may hold ':'
            expected = orjson.loads(RequestBuilder(model).body(job.messages))
            assert "stream" in expected and expected.pop("stream") and expected.pop("stream_options")
            assert request["body"] == expected  # dashscope's enable_thinking kept, streaming dropped
    assert any(len(packed.jobs) < 7 for packed in files[:-1])  # the byte limit cut some files early
    with pytest.raises(CrdError, match="batch_max_bytes"):
        list(pack(jobs, model.model_copy(update={"batch_max_bytes": 100})))


def test_preset_limits():
    assert (limits(ModelConfig(name="m", base_url="u", preset="siliconflow")).requests,
            limits(ModelConfig(name="m", base_url="u", preset="dashscope")).bytes) == (5000, 100_000_000)
    assert custom_id(make_job("a:b", ModelConfig(name="m", base_url="u"), 3, (("user", "x"),))).startswith("3:")


def test_files_over_the_providers_line_limit_are_never_uploaded(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl", 30)
    with Simulator(SimSettings(batch=BatchSimSettings(max_lines=7))) as sim:
        result = generate_file(prompts, batch_model(sim, batch_max_requests=7), tmp_path / "ok", quiet=True)
        assert result.finished == 30 and batch_stats(sim)["batches_created"] == 5
        with pytest.raises(CrdError, match="at most 7 lines"):
            generate_file(prompts, batch_model(sim, batch_max_requests=8), tmp_path / "over", quiet=True)


# ------------------------------------------------------------------ crd batches, cost


def test_crd_batches_lists_and_cancels(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl", 10)
    out = tmp_path / "run"
    with Simulator(SimSettings(batch=BatchSimSettings(delay=600))) as sim:
        process = subprocess.Popen(crd_generate_batch(prompts, sim, out), stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not any(event["event"] == "created" for event in ledger_events(out)):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        listed = subprocess.run(crd("batches", str(out)), capture_output=True, text=True, check=True).stdout
        assert re.search(r"batch-sim-\S+\s+sim-deepseek-r1\s+in_progress\s+0\s+0\s+10\s+waiting", listed), listed
        realtime = subprocess.run(crd("generate", str(prompts), "--model", MODEL, "--base-url", sim.base_url,
                                      "--out", str(tmp_path / "other"), "-q"), capture_output=True, text=True)
        assert realtime.returncode == 0  # another folder: nothing held
        held = subprocess.run(crd("generate", str(prompts), "--model", MODEL, "--base-url", sim.base_url,
                                  "--out", str(out), "-q"), capture_output=True, text=True)
        assert "10 requests wait in live batches" in held.stderr and sim.stats()["requests"] == 10
        cancelled = subprocess.run(crd("batches", str(out), "--cancel"), capture_output=True, text=True,
                                   check=True).stdout
        assert "cancel sent" in cancelled
        assert process.wait(timeout=60) == 1  # the run collects the cancelled batch: 10 failures
        report = process.stdout.read()
        after = subprocess.run(crd("batches", str(out)), capture_output=True, text=True, check=True).stdout
    assert "0 of 10 requests finished, 10 failed" in report
    assert re.search(r"\scancelled\s.*collected", after), after
    assert all("cancelled before this request ran" in json.loads(line)["error"]
               for line in (out / FAILURES).read_text().splitlines())


def test_crd_batches_without_a_ledger_is_one_line(tmp_path):
    process = subprocess.run(crd("batches", str(tmp_path)), capture_output=True, text=True)
    assert process.returncode == 2
    assert process.stderr.count("\n") == 1 and "no batch ledger" in process.stderr


def test_the_summary_cost_has_the_batch_discount(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl", 12)
    prices = {"input_price": 2.0, "output_price": 8.0}
    with Simulator(SimSettings()) as sim:
        batched = generate_file(prompts, batch_model(sim, batch_discount=0.5, **prices), tmp_path / "b", quiet=True)
        realtime = generate_file(prompts, ModelConfig(name=MODEL, base_url=sim.base_url, **prices), tmp_path / "r",
                                 quiet=True)
    cost = lambda stats: float(re.search(r"cost ([\d.,]+)", stats)[1].replace(",", ""))
    assert cost(realtime.stats) > 0
    assert cost(batched.stats) == pytest.approx(cost(realtime.stats) / 2, abs=0.01)
    assert "batch discount saved" in batched.stats and "saved" not in realtime.stats


def test_a_batch_the_provider_does_not_know_is_one_line(tmp_path):
    with Simulator(SimSettings()) as sim:
        model = batch_model(sim)
        job = make_job("p", model, 0, (("user", "问题"),))
        ledger = Ledger(tmp_path / LEDGER)
        ledger.created(ledger.uploaded("file-gone", JOURNAL, model, [job.entry]), "batch-gone")
        process = subprocess.run(crd("batches", str(tmp_path)), capture_output=True, text=True)
    assert process.returncode == 2
    assert process.stderr.count("\n") == 1 and "HTTP 404: no such batch" in process.stderr


def test_batch_mode_says_once_that_the_endpoint_is_the_simulator(tmp_path):
    """Batch mode never probes /models, so the notice comes from the batch calls' replies."""
    prompts = write_prompts(tmp_path / "prompts.jsonl", 6)
    with Simulator(SimSettings()) as sim:
        process = subprocess.run(crd_generate_batch(prompts, sim, tmp_path / "out"), capture_output=True, text=True)
    assert process.returncode == 0, process.stderr
    assert process.stderr.count(f"{sim.base_url.rstrip('/')} is the crd simulator, not a model") == 1
