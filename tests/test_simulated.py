"""Simulated answers are found in the data, not taken on trust: `crd build` against `crd sim`
says so in the card's first line and in the manifest, however the simulator was started.

A local stand-in for a real provider answers with a wire payload of DeepSeek's (its
`system_fingerprint` is `fp_7e73fd9a08`), so a build can mix real-looking and simulated
answers and the counts can be checked exactly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from aiohttp import web
from datasets import load_dataset
from huggingface_hub import DatasetCard

from processing.publish.card import PARTLY_SIMULATED_NOTICE, SIMULATOR_NOTICE
from processing.sim_labels import FINGERPRINT

from helpers import FIXTURES, SIMULATOR_ENDPOINT as NOTICE_LINE, serving
from test_pipeline import PROMPTS, crd_build, write_run

PROVIDER_FINGERPRINT = "fp_7e73fd9a08"  # in tests/fixtures/wire/deepseek.{json,sse}


@contextmanager
def crd_sim(*flags: str) -> Iterator[str]:
    """`crd sim` in its own process on a free port; gives its base URL from the banner."""
    command = [sys.executable, "-m", "processing.cli", "sim", "--port", "0", *flags]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            banner = process.stdout.readline()
            assert " on http://" in banner, banner
            yield banner.split(" on ", 1)[1].split(" ", 1)[0]
        finally:
            process.terminate()


def provider_stand_in() -> web.Application:
    """Answers every request with DeepSeek's wire payload, streamed or whole as asked."""
    async def chat(request: web.Request) -> web.Response:
        stream = (await request.json()).get("stream")
        payload = (FIXTURES / "wire" / ("deepseek.sse" if stream else "deepseek.json")).read_bytes()
        return web.Response(body=payload, content_type="text/event-stream" if stream else "application/json")

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "deepseek-reasoner", "object": "model"}]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    return app


def first_line_after_title(out: Path) -> str:
    """The card body's first paragraph after its `# title` line, as the Hub reads the card."""
    paragraphs = DatasetCard.load(out / "README.md").text.strip().split("\n\n")
    assert paragraphs[0].startswith("# ") and "\n" not in paragraphs[0], paragraphs[0]
    return paragraphs[1] + "\n\n"


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def servers(out: Path) -> Counter:
    return Counter(load_dataset(str(out), "full", split="train")["system_fingerprint"])


def test_a_build_against_crd_sim_is_marked_simulated(tmp_path):
    with crd_sim() as base_url:
        result = crd_build(write_run(tmp_path, base_url), tmp_path / "out")
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if NOTICE_LINE in line]
    assert notices == [f"{base_url} {NOTICE_LINE}: its answers will be marked as simulated "
                       "(system_fingerprint, and a notice at the top of the card)"]
    assert first_line_after_title(tmp_path / "out") == SIMULATOR_NOTICE
    assert manifest(tmp_path / "out")["simulated"] is True
    assert manifest(tmp_path / "out")["simulated_rows"] == len(PROMPTS)
    assert servers(tmp_path / "out") == {FINGERPRINT: len(PROMPTS)}


def test_a_build_from_a_provider_has_no_notice_and_keeps_its_fingerprint(tmp_path):
    with serving(provider_stand_in()) as base_url:
        result = crd_build(write_run(tmp_path, base_url), tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert NOTICE_LINE not in result.stderr
    assert "simulat" not in first_line_after_title(tmp_path / "out").lower()
    assert (manifest(tmp_path / "out")["simulated"], manifest(tmp_path / "out")["simulated_rows"]) == (False, 0)
    assert servers(tmp_path / "out") == {PROVIDER_FINGERPRINT: len(PROMPTS)}


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "whole"])
def test_a_build_mixing_simulated_and_provider_answers_counts_them(tmp_path, stream):
    """Answers the simulator failed are asked again of the provider (`--retry-failed`, another
    base_url): the card re-renders with exactly how many rows are simulated."""
    extra = f"max_retries = 0\nstream = {str(stream).lower()}\n"
    with crd_sim("--fault", "500=0.4", "--seed", "5") as base_url:
        first = crd_build(write_run(tmp_path, base_url, extra), tmp_path / "out")
    failed = len((tmp_path / "out.run" / "failures.jsonl").read_text().splitlines())
    assert first.returncode == 1 and 0 < failed < len(PROMPTS), first.stderr
    assert first_line_after_title(tmp_path / "out") == SIMULATOR_NOTICE  # every published row is simulated
    with serving(provider_stand_in()) as base_url:
        config = write_run(tmp_path, base_url, extra)
        second = subprocess.run([sys.executable, "-m", "processing.cli", "build", str(config), "--out",
                                 str(tmp_path / "out"), "-q", "--retry-failed"], capture_output=True, text=True)
    assert second.returncode == 0 and NOTICE_LINE not in second.stderr, second.stderr
    simulated = len(PROMPTS) - failed
    assert servers(tmp_path / "out") == {FINGERPRINT: simulated, PROVIDER_FINGERPRINT: failed}
    notice = PARTLY_SIMULATED_NOTICE.format(simulated=simulated, rows=len(PROMPTS), label=FINGERPRINT)
    assert first_line_after_title(tmp_path / "out") == notice
    assert f"{simulated} of the {len(PROMPTS)} answers" in notice
    assert (manifest(tmp_path / "out")["simulated"], manifest(tmp_path / "out")["simulated_rows"]) == (True, simulated)
