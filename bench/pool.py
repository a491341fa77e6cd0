"""Pool benchmark: ingest → clean → exact + near dedup → decontam on a million prompts.

    python bench/pool.py --rows 1000000

The pool is built from ../shared/data by controlled variation (bench/pool_data.py) with
a known set of planted near-duplicates and contaminated prompts, written as JSON Lines to
a temporary directory and read back through processing.pool.sources. Printed: wall time per
stage, peak RSS, MinHash docs/s on one core for ours and datasketch on the same
500-character Chinese texts (goal: ≥ 5×), and recall/precision of the plants.
Targets (issue #4): under 5 minutes, peak memory under 8 GB.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pool_data  # noqa: E402
from processing.pool.clean import CleanSettings, clean, comparison_key  # noqa: E402
from processing.pool.settings import SourceConfig  # noqa: E402
from processing.pool.decontam import BenchmarkFile, DecontamSettings, decontaminate, load_benchmarks  # noqa: E402
from processing.pool.dedup import DedupSettings, dedup, minhash  # noqa: E402
from processing.pool.sources import read_pool  # noqa: E402

MATH_SHARE = 0.45  # of the distinct prompts: renumbered Ape210K problems; the rest paired texts
NEAR_SHARE = 0.01  # planted near-duplicate copies, as a share of all rows


def build_pool(rows: int, rng: np.random.Generator, benchmarks: pl.DataFrame) -> pl.DataFrame:
    """prompt, source, category, plus the ground truth: kind and group (the planted original)."""
    pools = {name: _distinct(texts, benchmarks) for name, texts in pool_data.instructions().items()}
    contaminated = _contaminations(rng)
    copies = int(rows * NEAR_SHARE)
    distinct = rows - copies - len(contaminated)
    math = _renumbered(pools["ape210k"].to_list(), int(distinct * MATH_SHARE), rng)
    general = pool_data.paired(pools["alpaca"].to_list() + pools["cmmlu"].to_list(), distinct - len(math), rng)
    base = pl.DataFrame(
        {
            "prompt": math + general,
            "source": ["ape210k-variants"] * len(math) + ["alpaca-cmmlu-pairs"] * len(general),
            "category": ["math"] * len(math) + ["general"] * len(general),
            "kind": "distinct",
        }
    ).with_row_index("group")
    originals = rng.choice(len(base), size=copies, replace=False)
    kinds = list(pool_data.NEAR_DUPLICATES)
    planted = base[originals].with_columns(
        pl.Series("kind", [kinds[i % len(kinds)] for i in range(copies)]),
    )
    planted = planted.with_columns(
        pl.Series(
            "prompt",
            [pool_data.NEAR_DUPLICATES[k](p, rng) for k, p in zip(planted["kind"], planted["prompt"])],
        )
    )
    pool = pl.concat([base, planted, contaminated.select(base.columns)], how="vertical_relaxed")
    return pool.sample(fraction=1.0, shuffle=True, seed=int(rng.integers(1 << 31)))


def _distinct(texts: pl.Series, benchmarks: pl.DataFrame) -> pl.Series:
    """The real texts minus those that already match a benchmark or duplicate each other,
    so that every removal of an unplanted prompt is a mistake."""
    frame = pl.DataFrame({"id": pl.int_range(len(texts), eager=True).cast(pl.String), "prompt": texts, "source": "real"})
    kept, matched = decontaminate(frame, benchmarks, DecontamSettings())
    for row in matched.select("prompt", "benchmark", "benchmark_question").iter_rows():
        print(f"  real prompt matches {row[1]}: {row[0][:40]!r} ~ {row[2][:40]!r}")
    kept, duplicates, _ = dedup(kept, DedupSettings())
    print(f"  {len(duplicates)} of {len(texts)} real prompts are duplicates in the real pool; left out of the base")
    return kept["prompt"]


def _renumbered(problems: list[str], count: int, rng: np.random.Generator) -> list[str]:
    """Variants with other numbers; exact repeats that variation itself creates (two
    templates meeting at the same numbers) are dropped, as they are not planted."""
    with_numbers = [p for p in problems if pool_data.renumber(p, 0, rng)]
    variants = -(-count // len(with_numbers)) + 1
    out = pl.Series([pool_data.renumber(p, v, rng) for v in range(variants) for p in with_numbers])
    return out.filter(comparison_key(out).is_first_distinct()).head(count).to_list()


def _contaminations(rng: np.random.Generator) -> pl.DataFrame:
    questions = pool_data.benchmark_questions()
    frames = []
    for kind, make in pool_data.CONTAMINATIONS.items():
        frames.append(
            questions.select(
                pl.Series("prompt", [make(q, rng) for q in questions["question"]]),
                pl.lit("planted-benchmarks").alias("source"),
                pl.lit("math").alias("category"),
                pl.lit(f"contaminated:{kind}").alias("kind"),
                pl.lit(None, pl.UInt32).alias("group"),
            )
        )
    return pl.concat(frames)


def write_jsonl(pool: pl.DataFrame, path: Path) -> Path:
    pool.select("prompt", "source", "category").write_ndjson(path)
    return path


def minhash_speed(texts: list[str]) -> tuple[float, float]:
    """docs/s on one core: ours and datasketch, char 5-grams, 128 permutations."""
    from datasketch import MinHash

    keys = comparison_key(pl.Series(texts))
    started = time.perf_counter()
    minhash(keys, 5, 128, seed=1)
    ours = len(texts) / (time.perf_counter() - started)
    sample = keys.to_list()[:1000]
    started = time.perf_counter()
    for key in sample:
        signature = MinHash(num_perm=128)
        signature.update_batch([key[i : i + 5].encode() for i in range(len(key) - 4)])
    theirs = len(sample) / (time.perf_counter() - started)
    return ours, theirs


def chinese_500(count: int) -> list[str]:
    text = "".join(pl.read_ndjson(pool_data.DATA / "instructions" / "alpaca_zh.jsonl")["output"].to_list())
    text = "".join(text.split())
    return [text[i * 500 : (i + 1) * 500] for i in range(min(count, len(text) // 500))]


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    timings: dict[str, float] = {}

    def timed(stage, function, *arguments):
        started = time.perf_counter()
        result = function(*arguments)
        timings[stage] = time.perf_counter() - started
        print(f"{stage:>9}: {timings[stage]:7.1f} s   peak RSS {peak_rss_gib():.2f} GiB", flush=True)
        return result

    benchmarks = load_benchmarks([BenchmarkFile(**spec) for spec in pool_data.benchmark_files()])
    pool = timed("build", build_pool, args.rows, rng, benchmarks)
    truth = pool.select("kind", "group")
    with tempfile.TemporaryDirectory() as folder:
        path = timed("write", write_jsonl, pool, Path(folder) / "pool.jsonl")
        frame = timed("ingest", read_pool, [SourceConfig(path=str(path))])
    frame = frame.with_columns(truth)
    del pool
    kept, clean_rejects = timed("clean", clean, frame, CleanSettings())
    kept, dup_rejects, clusters = timed("dedup", dedup, kept, DedupSettings())
    kept, contaminated = timed("decontam", decontaminate, kept, benchmarks, DecontamSettings())
    pipeline = sum(v for k, v in timings.items() if k not in ("build", "write"))
    print(f"pipeline (ingest..decontam): {pipeline:.1f} s for {len(frame):,} prompts (goal < 300 s)")
    print(f"peak RSS: {peak_rss_gib():.2f} GiB (goal < 8)")
    print(f"kept {len(kept):,}; removed: clean {len(clean_rejects):,} {dict(clean_rejects['reason'].value_counts().rows())}, "
          f"dedup {len(dup_rejects):,} in {len(clusters):,} clusters, decontam {len(contaminated):,}")
    report_duplicates(frame, clean_rejects, dup_rejects)
    report_contamination(frame, clean_rejects, dup_rejects, contaminated)
    ours, theirs = minhash_speed(chinese_500(4000))
    print(f"MinHash, 500-char Chinese, 5-grams, 128 permutations, one core: ours {ours:,.0f} docs/s, "
          f"datasketch {theirs:,.0f} docs/s, ratio {ours / theirs:.1f}x (goal >= 5x)")


def report_duplicates(frame: pl.DataFrame, clean_rejects: pl.DataFrame, dup_rejects: pl.DataFrame) -> None:
    """Recall over planted copies whose original also passed cleaning; precision over removals."""
    survivors = frame.join(dup_rejects.select("id", "duplicate_of"), on="id", how="left").with_columns(
        pl.coalesce("duplicate_of", "id").alias("survivor")
    )
    group_of = survivors.filter(pl.col("group").is_not_null())
    cleaned = set(clean_rejects["id"])
    originals = group_of.filter(pl.col("kind") == "distinct").select("group", pl.col("survivor").alias("original_survivor"))
    copies = group_of.filter(pl.col("kind") != "distinct", ~pl.col("id").is_in(cleaned)).join(originals, on="group")
    found = copies.with_columns((pl.col("survivor") == pl.col("original_survivor")).alias("found"))
    by_kind = found.group_by("kind").agg(pl.col("found").mean(), pl.len()).sort("kind")
    removed = dup_rejects.select("id", "duplicate_of", "group", "kind").join(
        frame.select(pl.col("id").alias("duplicate_of"), pl.col("group").alias("survivor_group")), on="duplicate_of"
    )
    planted = removed.filter(pl.col("group").is_not_null() & (pl.col("group") == pl.col("survivor_group")))
    contaminated_twins = removed.filter(pl.col("kind").str.starts_with("contaminated"))
    print(f"near-duplicates planted: {len(copies):,}; recall {found['found'].mean():.2%} "
          + ", ".join(f"{k} {m:.2%} of {n:,}" for k, m, n in by_kind.rows()))
    other = len(removed) - len(planted) - len(contaminated_twins)
    print(f"dedup precision: {len(planted):,} of {len(removed) - len(contaminated_twins):,} removals are planted pairs "
          f"({len(planted) / max(len(removed) - len(contaminated_twins), 1):.2%}); {other:,} other removals; "
          f"{len(contaminated_twins):,} planted benchmark copies were duplicates of each other")


def report_contamination(frame, clean_rejects, dup_rejects, contaminated) -> None:
    reached = frame.filter(~pl.col("id").is_in(pl.concat([clean_rejects["id"], dup_rejects["id"]]).implode()))
    planted = reached.filter(pl.col("kind").str.starts_with("contaminated"))
    caught = set(contaminated["id"])
    by_kind = planted.group_by("kind").agg(pl.col("id").is_in(list(caught)).mean().alias("recall"), pl.len()).sort("kind")
    clean_reached = reached.filter(~pl.col("kind").str.starts_with("contaminated"))
    false_positives = clean_reached.filter(pl.col("id").is_in(list(caught)))
    print(f"decontam recall: {planted['id'].is_in(list(caught)).mean():.2%} of {len(planted):,} planted that reached it ("
          + ", ".join(f"{k.split(':')[1]} {r:.2%}" for k, r, _ in by_kind.rows()) + ")")
    print(f"decontam false positives: {len(false_positives):,} of {len(clean_reached):,} other prompts "
          f"({len(false_positives) / len(clean_reached):.4%})")
    for prompt in false_positives["prompt"].head(3):
        print("   removed:", prompt[:80].replace("\n", " "))


if __name__ == "__main__":
    main()
