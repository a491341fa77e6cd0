"""The measurements that chose the dedup and decontam defaults (run by hand).

    python bench/pool_params.py decontam   # n-gram size and overlap rule
    python bench/pool_params.py dedup      # n-gram size, bands x rows, threshold

decontam: every benchmark question in ../shared/data/benchmarks is planted four ways
(verbatim, changed punctuation/spacing, behind a prefix, embedded in a longer request)
into the Alpaca and Ape210K pools; recall is over the plants, the false-positive rate
over the untouched Alpaca and Ape210K prompts.

dedup: a near-duplicate copy of 2,000 prompts of each real pool (punctuation, 5% of the
characters edited, a phrase added) plus 2,000 Ape210K problems with other numbers; recall
is over the copies, precision over everything removed, and renumbered problems must all
survive.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pool_data  # noqa: E402
from processing.pool.decontam import BenchmarkFile, DecontamSettings, decontaminate, load_benchmarks  # noqa: E402
from processing.pool.dedup import DedupSettings, dedup  # noqa: E402


def sweep_decontam() -> None:
    rng = np.random.default_rng(0)
    pools = pool_data.instructions()
    clean = pl.concat([pools["alpaca"], pools["ape210k"]])
    questions = pool_data.benchmark_questions()["question"].to_list()
    planted, kinds = [], []
    for kind, make in pool_data.CONTAMINATIONS.items():
        planted += [make(q, rng) for q in questions]
        kinds += [kind] * len(questions)
    frame = pl.DataFrame(
        {
            "id": [f"c{i}" for i in range(len(clean))] + [f"p{i}" for i in range(len(planted))],
            "prompt": clean.to_list() + planted,
            "kind": ["clean"] * len(clean) + kinds,
        }
    )
    benchmarks = load_benchmarks([BenchmarkFile(**spec) for spec in pool_data.benchmark_files()])
    print(f"{len(clean)} clean prompts, {len(planted)} planted copies of {len(questions)} questions")
    print("ngram min_overlap  false_pos  " + "  ".join(f"{k:>11}" for k in pool_data.CONTAMINATIONS) + "  seconds")
    for ngram in (8, 10, 13, 16, 20):
        for overlap in (0.3, 0.5, 0.7):
            started = time.perf_counter()
            _, rejects = decontaminate(frame, benchmarks, DecontamSettings(ngram=ngram, min_overlap=overlap))
            seconds = time.perf_counter() - started
            removed = rejects["kind"].value_counts()
            counts = dict(zip(removed["kind"], removed["count"]))
            recall = [counts.get(kind, 0) / len(questions) for kind in pool_data.CONTAMINATIONS]
            fp = counts.get("clean", 0)
            print(
                f"{ngram:5} {overlap:11}  {fp:4} {fp / len(clean):6.3%}  "
                + "  ".join(f"{r:11.2%}" for r in recall)
                + f"  {seconds:7.2f}"
            )
            if ngram == 13 and overlap == 0.5:
                examples = rejects.filter(pl.col("kind") == "clean").select("prompt", "benchmark_question", "overlap")
                for row in examples.head(5).iter_rows():
                    print("      FP?", [str(v)[:70] for v in row])


def sweep_dedup() -> None:
    rng = np.random.default_rng(0)
    pools = pool_data.instructions()
    originals = pl.concat(list(pools.values())).to_list()
    sample = rng.choice(len(originals), size=2000 * len(pool_data.NEAR_DUPLICATES), replace=False)
    copies, kinds, of = [], [], []
    for position, kind in enumerate(pool_data.NEAR_DUPLICATES):
        make = pool_data.NEAR_DUPLICATES[kind]
        for index in sample[position * 2000 : (position + 1) * 2000]:
            copies.append(make(originals[index], rng))
            kinds.append(kind)
            of.append(int(index))
    ape = pools["ape210k"].to_list()
    renumbered = [r for r in (pool_data.renumber(ape[i], 1, rng) for i in range(2000)) if r]
    frame = pl.DataFrame(
        {
            "id": [f"o{i}" for i in range(len(originals))]
            + [f"d{i}" for i in range(len(copies))]
            + [f"n{i}" for i in range(len(renumbered))],
            "prompt": originals + copies + renumbered,
            "source": "pool",
            "kind": ["original"] * len(originals) + kinds + ["renumbered"] * len(renumbered),
        }
    )
    print(f"{len(originals)} real prompts, {len(copies)} near-duplicate copies, {len(renumbered)} renumbered")
    print("ngram bands rows threshold  removed  precision  " + "  ".join(f"{k:>11}" for k in pool_data.NEAR_DUPLICATES) + "  renumbered_removed  seconds")
    for ngram in (3, 4, 5, 7):
        for bands, rows, threshold in ((16, 8, 0.7), (32, 4, 0.7), (20, 5, 0.6), (16, 8, 0.6), (14, 8, 0.75), (32, 4, 0.5)):
            settings = DedupSettings(ngram=ngram, bands=bands, rows=rows, threshold=threshold)
            started = time.perf_counter()
            _, rejects, _ = dedup(frame, settings)
            seconds = time.perf_counter() - started
            removed = rejects["kind"].value_counts()
            counts = dict(zip(removed["kind"], removed["count"]))
            planted = sum(counts.get(k, 0) for k in pool_data.NEAR_DUPLICATES)
            # A copy can be kept while its original goes: count pairs, not rows.
            precision = planted / max(len(rejects), 1)
            recall = [counts.get(kind, 0) / 2000 for kind in pool_data.NEAR_DUPLICATES]
            if (ngram, bands, rows, threshold) == (5, 16, 8, 0.7):
                others = rejects.filter(pl.col("kind") == "original").join(
                    frame.select(pl.col("id").alias("duplicate_of"), pl.col("prompt").alias("kept")), on="duplicate_of"
                )
                for row in others.select("prompt", "kept", "detail").sample(8, seed=1).iter_rows():
                    print("      other:", [str(v)[:60] for v in row])
            print(
                f"{ngram:5} {bands:5} {rows:4} {threshold:9}  {len(rejects):7}  {precision:9.2%}  "
                + "  ".join(f"{r:11.2%}" for r in recall)
                + f"  {counts.get('renumbered', 0):18}  {seconds:7.2f}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["decontam", "dedup"])
    {"decontam": sweep_decontam, "dedup": sweep_dedup}[parser.parse_args().what]()
