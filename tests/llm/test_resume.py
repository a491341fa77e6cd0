"""Crash safety: `kill -9` a running `crd generate`, rerun it, and get exactly a clean run's rows.

Also: a rerun of a finished run sends nothing and writes nothing, and a journal line cut
by a crash is dropped (its request asked again) without corrupting the next line.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from processing.errors import CrdError
from processing.llm.generate import GENERATIONS, JOURNAL
from processing.llm.journal import Journal, Record
from processing.sim import SimSettings, Simulator

PROMPTS = 400
CONCURRENCY = 8


def write_prompts(path: Path) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for number in range(PROMPTS):
            handle.write(json.dumps({"prompt": f"请解释第{number}个成语的意思。"}, ensure_ascii=False) + "\n")
    return path


def crd_generate(prompts: Path, base_url: str, out: Path) -> list[str]:
    return [sys.executable, "-m", "processing.cli", "generate", str(prompts), "--model", "sim-deepseek-r1",
            "--base-url", base_url, "--concurrency", str(CONCURRENCY), "--out", str(out), "-q"]


def journal_lines(out: Path) -> int:
    path = out / JOURNAL
    return path.read_bytes().count(b"\n") if path.exists() else 0


def kill_when_journal_has(process: subprocess.Popen, out: Path, lines: int) -> None:
    deadline = time.monotonic() + 120
    while journal_lines(out) < lines:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def rows(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / GENERATIONS).select("id", "prompt_id", "reasoning", "response").sort("id")


def test_kill_9_mid_run_then_rerun_equals_a_clean_run(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    crashed, clean = tmp_path / "crashed", tmp_path / "clean"
    with Simulator(SimSettings(latency=0.05)) as sim:
        process = subprocess.Popen(crd_generate(prompts, sim.base_url, crashed))
        kill_when_journal_has(process, crashed, PROMPTS // 4)
        assert process.returncode == -signal.SIGKILL
        assert PROMPTS // 4 <= journal_lines(crashed) < PROMPTS
        assert not (crashed / GENERATIONS).exists()
        subprocess.run(crd_generate(prompts, sim.base_url, crashed), check=True)
        asked = sim.stats()["by_prompt"]
    with Simulator(SimSettings(latency=0.05)) as sim:
        subprocess.run(crd_generate(prompts, sim.base_url, clean), check=True)

    assert rows(crashed).equals(rows(clean))
    assert rows(crashed).height == PROMPTS
    # Only the requests in flight at the kill were asked twice.
    assert len(asked) == PROMPTS
    assert max(asked.values()) <= 2
    assert sum(count == 2 for count in asked.values()) <= CONCURRENCY


def test_rerun_of_a_finished_run_sends_and_writes_nothing(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    out = tmp_path / "run"
    with Simulator(SimSettings()) as sim:
        subprocess.run(crd_generate(prompts, sim.base_url, out), check=True)
        before, lines = sim.stats()["requests"], journal_lines(out)
        subprocess.run(crd_generate(prompts, sim.base_url, out), check=True)
        assert sim.stats()["requests"] == before
    assert journal_lines(out) == lines == PROMPTS
    assert rows(out).height == PROMPTS


def test_a_line_cut_by_a_crash_is_dropped_and_the_next_one_stays_whole(tmp_path):
    path = tmp_path / JOURNAL
    journal = Journal(path)
    journal.write(Record("a", "m", 0, "ok", "想", "答"))
    journal.close()
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"prompt_id": "b", "model": "m", "sample": 0, "status": "o')  # kill -9 mid-write

    journal = Journal(path)
    assert journal.done(("a", "m", 0, "")) and not journal.done(("b", "m", 0, ""))
    journal.write(Record("b", "m", 0, "ok", "想", "答"))
    journal.close()
    decoded = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [record["prompt_id"] for record in decoded] == ["a", "b"]


def test_a_second_process_cannot_write_the_same_journal(tmp_path):
    first = Journal(tmp_path / JOURNAL)
    first.write(Record("a", "m", 0, "ok", "想", "答"))
    try:
        with pytest.raises(CrdError, match="in use by another crd process"):
            Journal(tmp_path / JOURNAL)
    finally:
        first.close()


def test_a_journal_is_created_only_by_its_first_line(tmp_path):
    journal = Journal(tmp_path / "run" / JOURNAL)
    assert not (tmp_path / "run").exists()
    assert journal.records == {} and journal.failures({("a", "m", 0)}) == []
    journal.close()


def test_a_journal_from_before_system_fingerprint_resumes_and_reads_it_as_null(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    out = tmp_path / "run"
    with Simulator(SimSettings()) as sim:
        subprocess.run(crd_generate(prompts, sim.base_url, out), check=True)
        lines = (out / JOURNAL).read_bytes().splitlines()
        # The field follows the long texts, so loading a journal decodes only the heads.
        assert all(line.index(b'"system_fingerprint"') > line.index(b'"response"') for line in lines)
        old = [json.dumps({k: v for k, v in json.loads(line).items() if k != "system_fingerprint"}).encode()
               for line in lines[:100]]
        (out / JOURNAL).write_bytes(b"\n".join(old + lines[100:]) + b"\n")
        asked = sim.stats()["requests"]
        subprocess.run(crd_generate(prompts, sim.base_url, out), check=True)
        assert sim.stats()["requests"] == asked  # every line still counts as finished
    servers = pl.read_parquet(out / GENERATIONS)["system_fingerprint"]
    assert servers.null_count() == 100 and servers.drop_nulls().unique().to_list() == ["crd-simulator"]
