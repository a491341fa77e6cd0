"""kill -9 during each stage of `crd build`, then a plain rerun: the dataset equals an
uninterrupted build's, and no folder a loader reads is ever half written.

The crash is real: the build runs in its own process, and a function inside the stage
under test is wrapped so that the process sends itself SIGKILL part-way through.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from processing.sim import SimSettings, Simulator

PROMPTS = [f"一个长方形长 {a} 米、宽 {a + 3} 米，面积是多少平方米？" for a in range(1, 41)]

# stage -> (module, function) to wrap, and after how many calls the process dies
KILL_POINTS = {
    "pool": ("processing.pool.run", "dedup", 1),
    "routing": ("processing.pipeline", "plan_routes", 1),
    "generation": ("processing.llm.journal.Journal", "write", 15),
    "verify": ("processing.verify", "score", 2),
    "shards": ("processing.publish.shards.ShardWriter", "close", 2),
    "card": ("processing.publish.card", "write_plots", 1),
}

KILLER = textwrap.dedent('''
    import importlib, os, signal, sys
    import processing.pipeline
    processing.pipeline.BATCH_ROWS = 8  # several batches, so a kill can land between two
    target, name, after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    module_name, _, class_name = target.rpartition(".")
    try:
        owner = importlib.import_module(target)
    except ModuleNotFoundError:
        owner = getattr(importlib.import_module(module_name), class_name)
    original = getattr(owner, name)
    calls = []
    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) >= after:
            result = original(*args, **kwargs)  # part of the stage's work is done...
            os.kill(os.getpid(), signal.SIGKILL)  # ...then the process dies at once
        return original(*args, **kwargs)
    setattr(owner, name, dying)
    from processing.cli import main
    sys.exit(main(sys.argv[4:]))
''')


def write_run(tmp_path: Path, base_url: str) -> Path:
    lines = (json.dumps({"prompt": p, "category": "math", "reference_answer": str(a * (a + 3))}, ensure_ascii=False)
             for a, p in enumerate(PROMPTS, start=1))
    (tmp_path / "pool.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = tmp_path / "run.toml"
    config.write_text(f'[[sources]]\npath = "pool.jsonl"\nname = "areas"\n'
                      f'[[models]]\nname = "sim-deepseek-r1"\nbase_url = "{base_url}"\nmax_concurrency = 4\n'
                      f'[output]\nmax_shard_bytes = 20000\nrow_group_bytes = 4000\n', encoding="utf-8")
    return config


def snapshot(out: Path) -> dict[str, object]:
    """Everything a loader reads, minus what records when it was made (created_at, build times)."""
    files: dict[str, object] = {}
    for path in sorted(out.rglob("*")):
        name = str(path.relative_to(out))
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            files[name] = table.drop_columns([c for c in ("created_at",) if c in table.column_names]).to_pylist()
        elif path.name == "README.md":  # byte counts of `full` follow its created_at column
            files[name] = [line for line in path.read_text(encoding="utf-8").splitlines()
                           if not line.strip().startswith(("num_bytes:", "download_size:", "dataset_size:"))]
        elif path.name == "manifest.json":
            stages = json.loads(path.read_text(encoding="utf-8"))["stages"]
            files[name] = {stage: (value["fingerprint"], value["output"]) for stage, value in stages.items()}
        elif path.is_file():
            files[name] = path.stat().st_size
    return files


def build(config: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "processing.cli", "build", str(config), "--out", str(out), "-q"],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def sim():
    with Simulator(SimSettings()) as server:
        yield server


@pytest.mark.parametrize("stage", list(KILL_POINTS))
def test_kill_during_a_stage_then_rerun_gives_the_uninterrupted_dataset(tmp_path, sim, stage):
    config = write_run(tmp_path, sim.base_url)
    uninterrupted = build(config, tmp_path / "reference" / "out")
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    reference = snapshot(tmp_path / "reference" / "out")
    out = tmp_path / "out"
    target, name, after = KILL_POINTS[stage]
    killed = subprocess.run([sys.executable, "-c", KILLER, target, name, str(after),
                             "build", str(config), "--out", str(out), "-q"], capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert not out.exists(), "nothing is published before the build completes"
    rerun = build(config, out)
    assert rerun.returncode == 0, rerun.stderr
    assert snapshot(out) == reference
    assert not list(tmp_path.glob(".out.*")), "the staging folder of the killed build is gone"
