"""Generation throughput and memory against the simulator (run by hand, never in CI).

    python bench/generation.py --concurrency 500 --latency 2 --requests 5000
    python bench/generation.py --concurrency 500 --latency 2 --requests 100000   # memory

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
        simulator, base_url = start_simulator(args.latency)
        try:
            print(f"simulator: crd sim in process {simulator.pid}, latency {args.latency:g} s, {base_url}")
            print(f"load average before: {load()}")
            print(f"{'mode':<10} {'requests':>8} {'C':>5} {'seconds':>8} {'req/s':>8} {'ceiling':>8} {'share':>6} {'peak RSS':>9}")
            for mode in args.modes.split(","):
                result = run_mode(args, mode, prompts, base_url, Path(scratch) / mode)
                show(args, mode, result)
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
    parser.add_argument("--child", nargs=3, metavar=("MODE", "BASE_URL", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--prompts", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args()


def write_prompts(path: Path, count: int) -> None:
    """Distinct prompts, so the simulator's per-prompt counts stay meaningful."""
    with path.open("w", encoding="utf-8") as handle:
        for number in range(count):
            handle.write(json.dumps({"id": f"q{number:07d}", "prompt": f"第{number}题：请计算 {number} 的平方。"},
                                    ensure_ascii=False) + "\n")


def start_simulator(latency: float) -> tuple[subprocess.Popen, str]:
    """`crd sim` on a free port; its banner names the URL."""
    command = [sys.executable, "-m", "processing.cli", "sim", "--port", "0", "--latency", str(latency)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    banner = process.stdout.readline()
    match = re.search(r"(http://\S+/v1)", banner)
    if not match:
        process.kill()
        sys.exit(f"the simulator did not start: {banner!r}")
    return process, match.group(1)


def run_mode(args: argparse.Namespace, mode: str, prompts: Path, base_url: str, out: Path) -> dict:
    command = [sys.executable, __file__, "--child", mode, base_url, str(out), "--prompts", str(prompts),
               "--concurrency", str(args.concurrency), "--latency", str(args.latency)]
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(finished.stdout.strip().splitlines()[-1])


def run_child(args: argparse.Namespace) -> None:
    """One mode through `crd generate`'s code path; prints one JSON line."""
    from processing.llm.settings import ModelConfig
    from processing.llm.generate import generate_file

    mode, base_url, out = args.child
    model = ModelConfig(name=MODEL, base_url=base_url, max_concurrency=args.concurrency,
                        stream=mode == "stream", timeout=60 + 10 * args.latency)
    result = generate_file(args.prompts, model, Path(out), quiet=True)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"requests": result.requests, "finished": result.finished, "failed": len(result.failures),
                      "seconds": result.seconds, "peak_rss_mib": peak_kib / 1024}))


def show(args: argparse.Namespace, mode: str, result: dict) -> None:
    rate = result["finished"] / result["seconds"]
    ceiling = args.concurrency / args.latency
    print(f"{mode:<10} {result['finished']:>8} {args.concurrency:>5} {result['seconds']:>8.2f} {rate:>8.1f} "
          f"{ceiling:>8.1f} {rate / ceiling:>6.1%} {result['peak_rss_mib']:>6.0f} MiB"
          + (f"   ({result['failed']} failed)" if result["failed"] else ""))


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
