"""Memory and speed of `crd build` after generation, on N rows of long Chinese reasoning.

    python bench/build.py --rows 100000
    python bench/build.py --rows 1000000 --scratch /path/with/60GB/free

No network: the bench first runs `crd build` against a closed port, which stops after
the pool and routing stages (the endpoint is unreachable), then writes the journal
directly, one finished answer per request with the fingerprint the build expects
(reasoning 2,000–8,000 characters and a response of 200–1,500, cut from real Chinese text
in ../shared/data, else from a synthetic Chinese alphabet), and runs `crd build` again.
That second process asks nothing: it loads the journal (generation), then assembles and
verifies (verify), writes the shards of every config (shards) and the card (card).
Prompts carry no reference answer, so math verification is not part of the figure.

Printed: each stage's wall time, its CPU time (user + system: on a machine shared with
other work, the wall time a quiet machine would show), and the peak resident memory of the process while the
stage ran (sampled every 0.1 s), rows/s of the post-generation stages, and the whole
process's peak RSS from the kernel's own accounting (getrusage), the number to hold
against the goal of under 2 GB at any size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import orjson
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from processing.config import load_config  # noqa: E402
from processing.llm.engine import Record  # noqa: E402
from processing.pipeline import JOURNAL, Build  # noqa: E402

ALPACA = ROOT.parent / "shared" / "data" / "instructions" / "alpaca_zh.jsonl"
MODEL = "bench-teacher"
POST_GENERATION = ("verify", "shards", "card")


def main() -> None:
    args = parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="crd-build-bench-", dir=args.scratch))
    try:
        config = write_inputs(scratch, args.rows)
        out = scratch / "out"
        first = crd(["build", str(config), "--out", str(out), "-q"])
        if "cannot reach" not in first.stderr:
            raise SystemExit(f"expected the first build to stop at generation; it said: {first.stderr}")
        started = time.perf_counter()
        write_journal(config, out, scratch / "out.run", args.rows)
        print(f"rows: {args.rows:,}; journal written in {time.perf_counter() - started:.0f} s "
              f"({(scratch / 'out.run' / JOURNAL).stat().st_size / 2**30:.2f} GiB)")
        stages, peak_kib, wall = measured_build(config, out)
        report(stages, peak_kib, wall, args.rows)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--scratch", help="folder for the temporary run (about 45 KiB of disk per row)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    return parser.parse_args()


def write_inputs(scratch: Path, rows: int) -> Path:
    """A pool of `rows` distinct general prompts and a config whose one teacher cannot be reached."""
    with (scratch / "pool.jsonl").open("w", encoding="utf-8") as handle:
        for i in range(rows):
            handle.write(json.dumps({"prompt": f"第{i}号问题：请详细说明题目中的推理过程并给出结论。编号{i * 7919 % 1000003}",
                                     "category": "general"}, ensure_ascii=False) + "\n")
    config = scratch / "bench.toml"
    config.write_text(
        'name = "build-bench"\n[[sources]]\npath = "pool.jsonl"\nname = "bench"\n'
        '[dedup]\nnear = false\n'  # the pool stage is not what is measured here
        f'[[models]]\nname = "{MODEL}"\nbase_url = "http://127.0.0.1:9/v1"\n', encoding="utf-8")
    return config


def write_journal(config_path: Path, out: Path, run_dir: Path, rows: int) -> None:
    """One finished record per request of the build, with the fingerprints it will look for."""
    text = chinese_text()
    rng = np.random.default_rng(0)
    build = Build(load_config(config_path), out, run_dir, quiet=True, retry_failed=False)
    with (run_dir / JOURNAL).open("wb") as handle:
        for job in build.jobs():
            reasoning = window(text, rng, 2000, 8000)
            response = window(text, rng, 200, 1500)
            record = Record(job.prompt_id, job.model, job.sample, "ok", reasoning, response, "stop",
                            prompt_tokens=60, completion_tokens=len(reasoning) + len(response),
                            fingerprint=job.fingerprint)
            handle.write(orjson.dumps(vars(record)) + b"\n")


def chinese_text() -> str:
    if ALPACA.exists():
        lines = (json.loads(line) for line in ALPACA.read_text(encoding="utf-8").splitlines())
        text = "".join(row["output"] for row in lines)
    else:  # no shared data: common Hanzi in a fixed random order
        rng = np.random.default_rng(1)
        text = "".join(map(chr, rng.integers(0x4E00, 0x4E00 + 3000, 2_000_000)))
    return text * max(1, 2_000_000 // len(text))


def window(text: str, rng: np.random.Generator, shortest: int, longest: int) -> str:
    length = int(rng.integers(shortest, longest))
    start = int(rng.integers(0, len(text) - length))
    return text[start:start + length]


def crd(arguments: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "processing.cli", *arguments], capture_output=True, text=True,
                          cwd=ROOT, **kwargs)


def measured_build(config: Path, out: Path) -> tuple[list[dict], int, float]:
    """The second build in a child process: per-stage wall time and peak RSS, and getrusage's peak."""
    command = [sys.executable, "-m", "processing.cli", "build", str(config), "--out", str(out), "-q"]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    sampler = RssSampler(child.pid)
    stages = []
    cpu_before = 0.0
    for line in child.stdout:
        words = line.split()
        if len(words) > 2 and words[1] in ("done", "reused", "recomputed"):
            cpu = sampler.cpu_seconds()
            stages.append({"stage": words[0], "status": words[1], "seconds": float(words[2]),
                           "cpu": cpu - cpu_before, "peak_mib": sampler.take_peak() / 2**20})
            cpu_before = cpu
    stderr = child.stderr.read()
    child.wait()
    wall = time.perf_counter() - started
    sampler.stop()
    if child.returncode != 0:
        raise SystemExit(f"build failed: {stderr}")
    return stages, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, wall


class RssSampler:
    """The largest resident size seen since the last `take_peak()`, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self.running = True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while self.running:
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        """User + system CPU of the build so far: what a quiet machine's wall time would be."""
        try:
            times = self.process.cpu_times()
        except psutil.Error:
            return 0.0
        return times.user + times.system

    def take_peak(self) -> int:
        peak, self.peak = self.peak, 0
        return peak

    def stop(self) -> None:
        self.running = False
        self.thread.join()


def report(stages: list[dict], peak_kib: int, wall: float, rows: int) -> None:
    print(f"{'stage':<11} {'status':<11} {'wall s':>8} {'CPU s':>8} {'peak RSS MiB':>13}")
    for stage in stages:
        print(f"{stage['stage']:<11} {stage['status']:<11} {stage['seconds']:>8.1f} {stage['cpu']:>8.1f} "
              f"{stage['peak_mib']:>13.0f}")
    post = sum(stage["seconds"] for stage in stages if stage["stage"] in POST_GENERATION)
    cpu = sum(stage["cpu"] for stage in stages if stage["stage"] in POST_GENERATION)
    print(f"post-generation stages ({', '.join(POST_GENERATION)}): {post:.1f} s wall = {rows / max(post, 1e-9):,.0f} "
          f"rows/s; {cpu:.1f} s CPU = {rows / max(cpu, 1e-9):,.0f} rows/s (goal: at least 2,000 rows/s)")
    print(f"whole second build: {wall:.1f} s wall; peak RSS {peak_kib / 1024:.0f} MiB (goal: under 2,048 MiB)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
