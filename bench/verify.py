"""Math verification benchmark: Ape210K-style replies through the batch API.

    python bench/verify.py --rows 20000

Replies come from the accuracy table's generators (tests/verify/reply_table.py) over
../shared/data: boxed numbers, plain Chinese conclusions, Chinese and units in the box,
thousands separators, fractions, mixed numbers, percentages, Chinese numerals, last-line
answers; half right, half wrong. Printed, all measured in this run:
- verifications/s on clean replies (goal ≥ 1,000 on 2 cores), and the share decided
  without Math-Verify;
- verifications/s with 1% power towers (`\\dfrac{5^{5^{5^5}}-5}{16}`) mixed in, and the
  ratio to the clean figure (goal ≥ 0.8);
- the cost of towers forced through Math-Verify itself: soft timeouts and hard kills of the
  long-lived workers (the guard in numbers.py keeps them out in normal runs);
- the previous implementation (`verify_math` in git main) on a sample, when git has it.
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "verify")]

from helpers import SHARED_DATA  # noqa: E402
from reply_table import GROUPS, load  # noqa: E402

from processing.verify.math import SymbolicTask, check_fast  # noqa: E402
from processing.verify.settings import VerifyConfig  # noqa: E402
from processing.verify.verifier import Verifier  # noqa: E402
from processing.verify.workers import DeadlinePool  # noqa: E402

APE_STYLE = ["boxed", "plain-chinese", "chinese-in-box", "units", "thousands", "fractions", "mixed-numbers",
             "percentages", "chinese-numerals", "last-line", "answer-first"]
TOWERS = [r"\dfrac{5^{5^{5^5}}-5}{16}", r"2^{2^{2^{2^{2}}}}", r"9^{9^{9}}", r"\sqrt{10^{10^{10}}}"]
BATCH = 1_000


def replies(rows: int, seed: int, min_chars: int) -> list[tuple[str, str, str]]:
    """(reference, response, category); responses shorter than `min_chars` open with prose
    from alpaca_zh outputs, so the locator scans text of a real reply's length."""
    data = load(SHARED_DATA)
    per_group = rows // len(APE_STYLE) + 1
    cases = [case for index, name in enumerate(APE_STYLE) for case in GROUPS[name](random.Random(seed + index), data, per_group)]
    rng = random.Random(seed)
    rng.shuffle(cases)
    prose = [json.loads(line)["output"] for line in (SHARED_DATA / "instructions" / "alpaca_zh.jsonl").open(encoding="utf-8")]
    padded = []
    for case in cases[:rows]:
        opening = ""
        while len(opening) + len(case.response) < min_chars:
            opening += rng.choice(prose).replace("答案", "结论") + "\n\n"
        padded.append((case.reference, opening + case.response, "math"))
    return padded


def with_towers(rows: list[tuple[str, str, str]], share: float, seed: int) -> list[tuple[str, str, str]]:
    rng = random.Random(seed)
    towered = list(rows)
    for index in rng.sample(range(len(rows)), int(len(rows) * share)):
        reference, response, category = rows[index]
        towered[index] = (reference, f"{response}\n\n所以最终答案是 $\\boxed{{{rng.choice(TOWERS)}}}$。", category)
    return towered


def rates(verifier: Verifier, first: list, second: list) -> tuple[float, float]:
    """Rows/s of each list, their batches interleaved so load from elsewhere hits both alike."""
    spent = [0.0, 0.0]
    for start in range(0, len(first), BATCH):
        for index, rows in enumerate((first, second)):
            started = time.perf_counter()
            verifier.check(rows[start: start + BATCH])
            spent[index] += time.perf_counter() - started
    return len(first) / spent[0], len(second) / spent[1]


def forced_towers(workers: int, timeout: float, count: int) -> str:
    """Towers handed straight to Math-Verify workers, bypassing the exact path's guard."""
    tasks = [(SymbolicTask(("3",), ((tower,),)), max(1, int(timeout / 3))) for tower in (TOWERS * count)[:count]]
    with DeadlinePool("processing.verify.symbolic:decide", workers, timeout, warm_up="warm_up") as pool:
        pool.run([(SymbolicTask(("1",), (("1",),)), 1)] * workers)  # started and warm
        started = time.perf_counter()
        outcomes = pool.run(tasks)
        spent = time.perf_counter() - started
    notes = [o.failure or o.value for o in outcomes]
    return (f"{count} towers forced through Math-Verify: {spent:.1f} s, outcomes {sorted(set(map(str, notes)))}, "
            f"workers killed and replaced: {pool.replaced}")


def old_rate(rows: list, workers: int) -> str:
    """verify_math from git main, on the same replies, in this run."""
    try:
        source = subprocess.run(["git", "-C", str(ROOT), "show", "main:processing/verify/math.py"],
                                capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "previous implementation: not available from git"
    if "def verify_math" not in source:
        return "previous implementation: git main no longer has verify_math"
    folder = tempfile.mkdtemp()
    Path(folder, "previous_verify_math.py").write_text(source, encoding="utf-8")
    sys.path.insert(0, folder)  # spawned workers inherit sys.path and import it by name
    module = importlib.import_module("previous_verify_math")
    pairs = [(reference, response) for reference, response, _ in rows]
    started = time.perf_counter()
    module.verify_math(pairs, 10.0, workers)
    return f"previous implementation (git main verify_math, {workers} workers, {len(pairs)} rows): {len(pairs) / (time.perf_counter() - started):,.0f} verifications/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--tower-share", type=float, default=0.01)
    parser.add_argument("--old-rows", type=int, default=500, help="rows for the previous implementation; 0 skips it")
    parser.add_argument("--forced-towers", type=int, default=4, help="towers sent to Math-Verify directly; 0 skips")
    parser.add_argument("--min-chars", type=int, default=600, help="pad shorter replies with Chinese prose")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    if not SHARED_DATA.is_dir():
        sys.exit(f"shared data not found at {SHARED_DATA}")

    clean = replies(args.rows, args.seed, args.min_chars)
    towered = with_towers(clean, args.tower_share, args.seed)
    symbolic = sum(isinstance(check_fast(reference, response), SymbolicTask) for reference, response, _ in clean)
    length = sum(len(response) for _, response, _ in clean) / len(clean)
    print(f"{len(clean):,} Ape210K-style replies, mean {length:.0f} characters; "
          f"{1 - symbolic / len(clean):.1%} decided without Math-Verify")

    with Verifier(VerifyConfig(timeout=args.timeout, workers=args.workers)) as verifier:
        verifier.check([("2\\sqrt{3}", "\\boxed{\\sqrt{12}}", "math")])  # workers started and warm
        clean_rate, tower_rate = rates(verifier, clean, towered)
        replaced = verifier.workers_replaced
    print(f"clean replies:          {clean_rate:8,.0f} verifications/s (goal ≥ 1,000)")
    print(f"with {args.tower_share:.0%} power towers:   {tower_rate:8,.0f} verifications/s; "
          f"ratio {tower_rate / clean_rate:.2f} (goal ≥ 0.80); workers replaced {replaced}")
    if args.forced_towers:
        print(forced_towers(args.workers, args.timeout, args.forced_towers))
    if args.old_rows:
        print(old_rate(clean[: args.old_rows], args.workers))


if __name__ == "__main__":
    main()
