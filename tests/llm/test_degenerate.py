"""Degenerate (looping) replies: caught while they stream, cancelled, retried, then listed,
with the tokens saved in the summary; genuine text is never cut."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time

import pytest

from processing.llm.degenerate import Degenerate, LoopDetector, scan
from processing.llm.generate import JOURNAL, generate_file
from processing.llm.settings import ModelConfig
from processing.sim import SimSettings, Simulator, _reasoning

from helpers import REPO, SHARED_DATA
from test_faults import write_prompts

PROMPTS = 12


def genuine(chars: int) -> str:
    """Long, varied reasoning-like text: the simulator's canned steps, reshuffled, never in a loop."""
    return _reasoning(random.Random(5), "一个长问题", chars)


def feed(text: str, seed: int = 0) -> int | None:
    """Characters fed when the detector fired on `text` streamed in 1–3 character pieces, or None."""
    rng = random.Random(seed)
    detector = LoopDetector()
    position = 0
    try:
        while position < len(text):
            size = rng.randint(1, 3)
            detector.feed(text[position:position + size])
            position += size
    except Degenerate:
        return position
    return None


def test_long_varied_text_is_never_cut():
    text = genuine(30000)
    assert feed(text) is None
    scan(text)


@pytest.mark.parametrize("passage", ["等等，我再检查一下。", "所以 x = 3，代回原式验证：3 × 3 + 1 = 10，没错。\n" * 1,
                                     genuine(600)[200:600]])
def test_a_loop_is_caught_within_2000_characters_of_its_start(passage):
    opening = genuine(2500)
    caught = feed(opening + passage * (8000 // len(passage)))
    assert caught is not None and 0 < caught - len(opening) <= 2000
    with pytest.raises(Degenerate, match=f"a {len(passage)}-character passage repeated"):
        scan(opening + passage * (8000 // len(passage)))


def test_a_passage_said_twice_is_not_a_loop():
    opening = genuine(2500)
    assert feed(opening + genuine(700)[100:700] * 2 + genuine(3000)[1000:]) is None


@pytest.mark.skipif(not SHARED_DATA.exists(), reason="../shared/data absent")
def test_the_bench_table_on_real_chinese_texts():
    """A small run of bench/degenerate.py: genuine long texts uncut, planted loops caught early."""
    run = subprocess.run([sys.executable, str(REPO / "bench" / "degenerate.py"), "--data",
                          str(SHARED_DATA / "instructions"), "--texts", "300", "--loops", "300", "--json"],
                         capture_output=True, text=True, check=True, cwd=REPO)
    table = json.loads(run.stdout)
    assert table["genuine"]["texts"] == 300 and table["genuine"]["cut"] == 0
    assert table["loops"]["passages"]["share"] >= 0.99 and table["loops"]["early"] == 0


def looping_run(tmp_path, stream: bool, **fields):
    """Every attempt loops; the simulator sends a chunk every 2 ms, as a generating server does."""
    prompts = write_prompts(tmp_path / "prompts.jsonl", PROMPTS)
    with Simulator(SimSettings(rate_loop=1.0, chunk_delay=0.002)) as sim:
        model = ModelConfig(name="sim-deepseek-r1", base_url=sim.base_url, stream=stream, max_tokens=6000,
                            max_concurrency=4, backoff=0.01, **fields)
        result = generate_file(prompts, model, tmp_path / "run", quiet=True)
        stats = settled_stats(sim) if stream and model.stop_degenerate else sim.stats()
    return result, stats


def settled_stats(sim: Simulator) -> dict:
    """The simulator's stats once it has noticed the last hang-up (it learns of them a moment later)."""
    for _ in range(100):
        stats = sim.stats()
        if stats["hung_up"] >= stats["faults"]["loop"]:
            break
        time.sleep(0.05)
    return stats


def test_looping_streams_are_cancelled_retried_then_listed_with_the_tokens_saved(tmp_path):
    result, stats = looping_run(tmp_path, stream=True, degenerate_retries=1)
    assert result.finished == 0 and len(result.failures) == PROMPTS
    assert {failure["error"] for failure in result.failures} == {"degenerate: the reply looped in 2 attempts"}
    assert {failure["attempts"] for failure in result.failures} == {2}
    # Each attempt was cut off mid-stream: the simulator saw its client leave every time.
    assert stats["faults"]["loop"] == stats["hung_up"] == 2 * PROMPTS
    assert f"{2 * PROMPTS} looping replies cancelled" in result.stats
    saved = int(result.stats.split("≥ ")[1].split(" tokens saved")[0].replace(",", ""))
    assert 2 * PROMPTS * (6000 - 2000) <= saved < 2 * PROMPTS * 6000


def test_a_looping_whole_reply_fails_the_same_way_but_saves_nothing(tmp_path):
    result, _ = looping_run(tmp_path, stream=False, degenerate_retries=0)
    assert {failure["error"] for failure in result.failures} == {"degenerate: the reply looped in 1 attempts"}
    assert "looping replies cancelled" not in result.stats


def test_without_stop_degenerate_the_loop_runs_to_max_tokens(tmp_path):
    result, stats = looping_run(tmp_path, stream=True, stop_degenerate=False, max_retries=0)
    assert {failure["error"] for failure in result.failures} == {
        "gave up after 1 attempts: truncated (finish_reason=length)"}
    assert stats["hung_up"] == 0


def test_loops_now_and_then_are_asked_again_until_a_good_reply(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl", 40)
    with Simulator(SimSettings(rate_loop=0.4, seed=1)) as sim:
        model = ModelConfig(name="sim-inline-think", base_url=sim.base_url, max_tokens=4000, degenerate_retries=5)
        result = generate_file(prompts, model, tmp_path / "run", quiet=True)
        stats = sim.stats()
    records = [json.loads(line) for line in (tmp_path / "run" / JOURNAL).read_text().splitlines()]
    assert result.finished == 40 and stats["faults"]["loop"] > 5
    assert sum(record["attempts"] for record in records) == stats["requests"]
    assert all(record["finish_reason"] == "stop" for record in records)
