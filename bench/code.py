"""Code verification throughput on HumanEval (run by hand).

    python bench/code.py
    python bench/code.py --data /path/to/shared/data --repeat 2

Checks the 164 canonical solutions (all must score 10) with 1 and 2 workers, in the
namespace sandbox and in the rlimits-only fallback. The reference is the floor of any
process-per-item design: a bare `python -c` per item running the same solution and
`check()` with nothing around it, 2 at a time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processing.verify.code import check_code  # noqa: E402
from processing.verify.sandbox import sandbox_problem  # noqa: E402
from processing.verify.settings import CodeSettings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=1, help="times each problem is checked")
    args = parser.parse_args()
    rows = [json.loads(line) for line in (args.data / "code" / "humaneval.jsonl").read_text(encoding="utf-8").splitlines()] * args.repeat
    items = [(f"```python\n{row['prompt']}{row['canonical_solution']}\n```", json.dumps({"test": row["test"], "entry_point": row["entry_point"]})) for row in rows]

    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(bare_run, rows))
    reference = len(rows) / (time.perf_counter() - start)
    print(f"{len(rows)} HumanEval items; reference (bare python -c per item, 2 at a time): {reference:.1f} items/s")
    for isolation in ("namespaces", "rlimits"):
        if problem := sandbox_problem(CodeSettings(isolation=isolation)):
            print(f"{isolation:<11} not available here: {problem}")
            continue
        for workers in (1, 2):
            start = time.perf_counter()
            verdicts = check_code(items, CodeSettings(isolation=isolation, workers=workers))
            rate = len(items) / (time.perf_counter() - start)
            right = sum(verdict.score == 10.0 for verdict in verdicts)
            print(f"{isolation:<11} workers={workers}: {rate:5.1f} items/s ({rate / reference:.0%} of the reference), {right}/{len(items)} scored 10")


def bare_run(row: dict) -> None:
    program = f"{row['prompt']}{row['canonical_solution']}\n{row['test']}\ncheck({row['entry_point']})\n"
    subprocess.run([sys.executable, "-I", "-c", program], check=True, capture_output=True)


if __name__ == "__main__":
    main()
