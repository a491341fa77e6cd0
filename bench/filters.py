"""Quality-flag throughput and false-flag rates on rows built from ../shared/data (run by hand).

    python bench/filters.py --rows 100000
    python bench/filters.py --rows 100000 --data /path/to/shared/data

Rows imitate generated ones: the reasoning (2–8K characters) strings together real Chinese
text (Alpaca-zh answers for general prompts; Ape210K problems with their equations in
LaTeX for math prompts), the response is a real Alpaca answer or a conclusion with the
Ape210K answer. General prompts are Alpaca prompts that ask for neither code nor another
language (chosen by prompt only). 1% of rows get one planted defect each, so the table shows
flags on clean rows (false flags) next to flags on planted rows (recall).

Reference for the timing: one regex pass (`count_matches(r"\\p{Han}")`) over the same
reasoning column, the cheapest thing any language check must do.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processing.verify.filters import FLAGS, quality_flags  # noqa: E402
from processing.verify.settings import FilterSettings  # noqa: E402

ASKS_FOR_CODE_OR_LANGUAGE = r"代码|函数|程序|算法|SQL|查询|翻译|英文|英语|单词|字母|密码|网址|Python|HTML|Java|脚本|正则|命令|标签|URL|网站|缩写|日语|法语|English"
CONNECTORS = ["嗯，", "我想想。", "另外，", "再检查一下：", "换个角度看，", "接下来，", "所以，"]
ENGLISH = "Okay, so I need to figure out what the user is asking here and then explain it step by step in a clear way."


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # flag the rows in this Parquet file
    args = parser.parse_args()
    if args.child:
        run_child(args.child)
        return
    frame, planted = build_rows(args.data / "instructions", args.rows, np.random.default_rng(0))
    chars = frame["reasoning"].str.len_chars().sum() + frame["response"].str.len_chars().sum()
    print(f"{frame.height:,} rows, {chars / 1e6:,.0f}M characters of reasoning + response, {frame.estimated_size() / 2**30:.1f} GiB in memory")
    with tempfile.TemporaryDirectory(prefix="crd-bench-") as scratch:
        rows = Path(scratch) / "rows.parquet"
        frame.write_parquet(rows)
        # A fresh process, so its peak memory is the frame plus what flagging adds.
        subprocess.run([sys.executable, __file__, "--child", str(rows)], check=True)
        flags = pl.read_parquet(Path(scratch) / "flags.parquet")["quality_flags"]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: on a busy machine wall time is mostly waiting")
    report(flags, planted)


def run_child(rows: Path) -> None:
    frame = pl.read_parquet(rows)
    reference, _ = timed(lambda: frame["reasoning"].str.count_matches(r"\p{Han}"))
    elapsed, flags = timed(lambda: quality_flags(frame, FilterSettings()))
    for name, (wall, cpu) in {"quality_flags": elapsed, "reference": reference}.items():
        print(f"{name:<14} wall {wall:6.1f} s ({frame.height / wall:7,.0f} rows/s)   cpu {cpu:6.1f} s ({frame.height / cpu:7,.0f} rows/s)")
    # VmHWM, not ru_maxrss: the latter keeps the parent's size from before exec.
    peak = int(Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]) * 1024
    print(f"peak memory of the flagging process: {peak / 2**30:.2f} GiB ({frame.estimated_size() / 2**30:.2f} GiB of it the rows)")
    flags.to_frame().write_parquet(rows.with_name("flags.parquet"))


def timed(action):
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return (time.perf_counter() - wall, time.process_time() - cpu), result


def build_rows(folder: Path, count: int, rng: np.random.Generator) -> tuple[pl.DataFrame, np.ndarray]:
    alpaca = pl.read_ndjson(folder / "alpaca_zh.jsonl").with_columns(
        prompt=pl.when(pl.col("input") != "").then(pl.col("instruction") + "\n" + pl.col("input")).otherwise(pl.col("instruction"))
    )
    general = alpaca.filter(~pl.col("prompt").str.contains(ASKS_FOR_CODE_OR_LANGUAGE) & (pl.col("output").str.len_chars() > 0))
    ape = pl.read_ndjson(folder / "ape210k_valid.jsonl")
    ape_steps = (ape["question"] + "\n列式：$" + ape["equation"].str.replace_all(r"\*", r"\times ") + "$，得到 " + ape["answer"] + "。").to_list()
    outputs = general["output"].to_list()
    rows = []
    for index in range(count):
        if index % 3 == 0:
            problem = int(rng.integers(ape.height))
            reasoning = reasoning_from(ape_steps, rng)
            response = f"{ape_steps[problem]}\n所以答案是 \\boxed{{{ape['answer'][problem]}}}。"
            rows.append((ape["question"][problem], reasoning, response, "math"))
        else:
            pick = int(rng.integers(general.height))
            rows.append((general["prompt"][pick], reasoning_from(outputs, rng), outputs[pick], "general"))
    frame = pl.DataFrame(rows, schema=["prompt", "reasoning", "response", "category"], orient="row")
    return plant(frame, rng)


def reasoning_from(pieces: list[str], rng: np.random.Generator) -> str:
    target, parts, length = int(rng.integers(2000, 8000)), [], 0
    while length < target:
        piece = CONNECTORS[int(rng.integers(len(CONNECTORS)))] + pieces[int(rng.integers(len(pieces)))]
        parts.append(piece)
        length += len(piece)
    return "\n".join(parts)


def plant(frame: pl.DataFrame, rng: np.random.Generator) -> tuple[pl.DataFrame, np.ndarray]:
    """One defect in 1% of rows each; planted[i] names it (empty for clean rows)."""
    planted = np.full(frame.height, "", dtype=object)
    columns = {name: frame[name].to_list() for name in frame.columns}
    chosen = rng.permutation(frame.height)[: frame.height // 20]
    for position, row in enumerate(chosen):
        flag = FLAGS[position % len(FLAGS)]
        if flag == "no_final_answer" and columns["category"][row] != "math":
            continue
        planted[row] = flag
        if flag == "missing_reasoning":
            columns["reasoning"][row] = ""
        elif flag == "not_chinese":
            columns["response"][row] = ENGLISH * 3
        elif flag == "language_mixing":
            middle = len(columns["reasoning"][row]) // 2
            columns["reasoning"][row] = columns["reasoning"][row][:middle] + "\n" + ENGLISH + "\n" + columns["reasoning"][row][middle:]
        elif flag == "repetition":
            columns["reasoning"][row] += ("我们再重新计算一遍这个式子的结果，看看对不对。" * 25)
        else:
            columns["response"][row] = "先求出每一部分，再把它们相加，"  # cut off before any result
    return pl.DataFrame(columns), planted


def report(flags: pl.Series, planted: np.ndarray) -> None:
    raised = flags.to_list()
    clean = planted == ""
    print(f"\n{'flag':<18} {'clean rows flagged':>20} {'planted rows caught':>20}")
    for flag in FLAGS:
        on_clean = sum(flag in raised[i] for i in np.flatnonzero(clean))
        targets = np.flatnonzero(planted == flag)
        caught = sum(flag in raised[i] for i in targets)
        print(f"{flag:<18} {on_clean:>9,} / {clean.sum():,} ({on_clean / clean.sum():.3%}) {caught:>8,} / {len(targets):,}")


if __name__ == "__main__":
    main()
