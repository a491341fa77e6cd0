"""`crd compare` at scale: two sides of 200,000 prompts each, on this machine.

    python bench/compare.py --rows 200000

Side A: Alpaca texts joined in pairs (bench/pool_data.paired), plus a planted 5% of
renumbered Ape210K problems; side B: renumbered Ape210K problems only. Both are built from
../shared/data, written as JSON Lines and compared through the CLI. Printed: the CLI's
own lines (each stage's seconds as it ends, the overlap figures), then wall and CPU
seconds of the whole command and peak RSS. The planted share is the expected answer for "A's prompts whose
nearest neighbour is in B" (a little more: an Alpaca pair about numbers may land there too).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pool_data  # noqa: E402
from processing.cli import main  # noqa: E402

PLANTED_SHARE = 0.05


def renumbered(problems: list[str], count: int, rng: np.random.Generator) -> list[str]:
    out = []
    while len(out) < count:
        for variant, text in enumerate(problems, start=len(out)):
            again = pool_data.renumber(text, variant, rng)
            if again:
                out.append(again)
    return out[:count]


def sides(rows: int, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    pools = pool_data.instructions()
    planted = int(rows * PLANTED_SHARE)
    math = renumbered(pools["ape210k"].to_list(), rows + planted, rng)
    a = pool_data.paired(pools["alpaca"].to_list(), rows - planted, rng) + math[rows:]
    return a, math[:rows]


def run(rows: int) -> None:
    a, b = sides(rows, np.random.default_rng(0))
    with tempfile.TemporaryDirectory() as folder:
        for name, prompts in (("alpaca_pairs.jsonl", a), ("ape210k_renumbered.jsonl", b)):
            pl.DataFrame({"prompt": prompts}).write_ndjson(Path(folder) / name)
        wall, cpu = time.perf_counter(), os.times()
        code = main(["compare", str(Path(folder) / "alpaca_pairs.jsonl"), str(Path(folder) / "ape210k_renumbered.jsonl"),
                     "--sample", str(rows), "--out", "compare_map.png"])
        after = os.times()
    print(f"exit {code}; planted share of A in B: {PLANTED_SHARE:.1%}")
    print(f"whole command: {time.perf_counter() - wall:.0f} s wall, "
          f"{after.user - cpu.user + after.system - cpu.system:.0f} s CPU (2 cores: wall >= CPU / 2 when unloaded), "
          f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.1f} GiB; map in compare_map.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="prompts per side")
    run(parser.parse_args().rows)
