"""Generation throughput, client CPU and memory against the simulator (run by hand, never in CI).

    python bench/generation.py --concurrency 500 --latency 2 --requests 5000
    python bench/generation.py --concurrency 500 --latency 2 --requests 100000   # memory
    python bench/generation.py --modes stream --concurrency 300 --latency 0 --requests 600 \
        --chunks-per-reply 1000 --chunk-delay 0.04                                # token level

Token level: real servers stream a chunk per token, so an 8,000-token reply is 8,000
SSE events. With --chunks-per-reply N the simulator streams N one-character chunks of
reasoning per reply (plus the answer's), one every --chunk-delay seconds; the ceiling is
then C / (L + E × delay), E being the events per reply the simulator counted. "CPU/chunk" is the user + sys time of the process running the
engine (resource.getrusage in that child, around the whole generate call: journal and
Parquet output included, imports and one-time setup left out by a first request)
divided by the SSE events the simulator sent it.

The simulator runs in its own process (`crd sim`) and answers every request after
exactly L seconds, so no client can beat the ceiling C / L requests per second. Each mode
(streaming, non-streaming) runs `crd generate`'s code path in a fresh child process,
which reports its generation time and its peak resident memory; the table puts the
measured rate next to the ceiling of the same run. Both processes share this machine's
cores: the load average is printed so a busy machine shows.

To see where the engine's time goes (py-spy comes with the `bench` extra):
    py-spy record --subprocesses -o profile.svg -- python bench/generation.py --modes stream
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

MODEL = "sim-deepseek-r1"  # reasoning in `reasoning_content`; 400 characters by default


def main() -> None:
    args = parse_args()
    if args.child:
        run_child(args)
        return
    with tempfile.TemporaryDirectory(prefix="crd-bench-") as scratch:
        prompts = Path(scratch) / "prompts.jsonl"
        write_prompts(prompts, args.requests)
        simulator, base_url = start_simulator(args)
        try:
            print(f"simulator: crd sim in process {simulator.pid}, latency {args.latency:g} s, {base_url}"
                  + (f", {args.chunks_per_reply} chunks per reply, {args.chunk_delay:g} s apart" if args.chunks_per_reply
                     else ""))
            print(f"load average before: {load()}")
            print(f"{'mode':<10} {'requests':>8} {'C':>5} {'seconds':>8} {'req/s':>8} {'ceiling':>8} {'share':>6} "
                  f"{'chunks/s':>9} {'CPU/chunk':>10} {'peak RSS':>9}")
            for mode in args.modes.split(","):
                result = run_mode(args, mode, prompts, base_url, Path(scratch) / mode)
                show(args, mode, result, stream_events(base_url))
            print(f"load average after:  {load()}")
        finally:
            simulator.terminate()
            simulator.wait(timeout=30)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--latency", type=float, default=2.0, help="seconds the simulator waits before each reply")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--modes", default="stream,no-stream", help="comma-separated: stream, no-stream")
    parser.add_argument("--chunks-per-reply", type=int, default=0,
                        help="token level: one-character chunks of reasoning per reply (default: 20-40 characters a chunk)")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="token level: seconds between two chunks")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "BASE_URL", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--prompts", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def write_prompts(path: Path, count: int) -> None:
    """Distinct prompts, so the simulator's per-prompt counts stay meaningful."""
    with path.open("w", encoding="utf-8") as handle:
        for number in range(count):
            handle.write(json.dumps({"id": f"q{number:07d}", "prompt": f"第{number}题：请计算 {number} 的平方。"},
                                    ensure_ascii=False) + "\n")


def start_simulator(args: argparse.Namespace) -> tuple[subprocess.Popen, str]:
    """`crd sim` on a free port; its banner names the URL."""
    command = [sys.executable, "-m", "processing.cli", "sim", "--port", "0", "--latency", str(args.latency)]
    if args.chunks_per_reply:
        command += ["--reasoning-chars", str(args.chunks_per_reply), "--chunk-chars", "1",
                    "--chunk-delay", str(args.chunk_delay)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    banner = process.stdout.readline()
    match = re.search(r"(http://\S+/v1)", banner)
    if not match:
        process.kill()
        sys.exit(f"the simulator did not start: {banner!r}")
    return process, match.group(1)


def run_mode(args: argparse.Namespace, mode: str, prompts: Path, base_url: str, out: Path) -> dict:
    command = [sys.executable, __file__, "--child", mode, base_url, str(out), "--prompts", str(prompts),
               "--concurrency", str(args.concurrency), "--latency", str(args.latency),
               "--chunks-per-reply", str(args.chunks_per_reply), "--chunk-delay", str(args.chunk_delay)]
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(finished.stdout.strip().splitlines()[-1])


def run_child(args: argparse.Namespace) -> None:
    """One mode through `crd generate`'s code path; prints one JSON line."""
    from processing.llm.settings import ModelConfig
    from processing.llm.generate import generate_file

    mode, base_url, out = args.child
    model = ModelConfig(name=MODEL, base_url=base_url, max_concurrency=args.concurrency,
                        stream=mode == "stream", timeout=60 + 10 * args.latency)
    # One request first, so that imports and one-time setup (the SSL context, the Parquet
    # writer) are not counted; then the simulator's counts start again.
    warm_up = Path(out).with_name(Path(out).name + "-warm-up")
    write_prompts(warm_up.with_suffix(".jsonl"), 1)
    generate_file(warm_up.with_suffix(".jsonl"), model, warm_up, quiet=True)
    reset(base_url)
    before = cpu_seconds()
    result = generate_file(args.prompts, model, Path(out), quiet=True)
    cpu = cpu_seconds() - before
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"requests": result.requests, "finished": result.finished, "failed": len(result.failures),
                      "seconds": result.seconds, "cpu_seconds": cpu, "peak_rss_mib": peak_kib / 1024}))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reset(base_url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(base_url.removesuffix("/v1") + "/sim/reset", method="POST")).read()


def stream_events(base_url: str) -> int:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/sim/stats") as reply:
        return json.loads(reply.read())["stream_events"]


def show(args: argparse.Namespace, mode: str, result: dict, events: int) -> None:
    rate = result["finished"] / result["seconds"]
    # A reply streams its reasoning, its answer and a few more events, each chunk_delay apart.
    per_reply = events / max(1, result["requests"]) if args.chunks_per_reply else 0
    ceiling = args.concurrency / (args.latency + per_reply * args.chunk_delay)
    per_chunk = f"{1e6 * result['cpu_seconds'] / events:>7.1f} µs" if events else f"{'-':>10}"
    print(f"{mode:<10} {result['finished']:>8} {args.concurrency:>5} {result['seconds']:>8.2f} {rate:>8.1f} "
          f"{ceiling:>8.1f} {rate / ceiling:>6.1%} {events / result['seconds']:>9,.0f} {per_chunk} "
          f"{result['peak_rss_mib']:>6.0f} MiB" + (f"   ({result['failed']} failed)" if result["failed"] else ""))


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
