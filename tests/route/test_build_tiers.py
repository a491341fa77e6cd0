"""`crd build` on the 180K recipe against the simulator: two scorers, three teachers, three
tiers. The `full` config carries each row's complexity and tier, the rows per tier and
teacher are the plan's, and `--dry-run` prints that plan without asking a teacher."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from datasets import load_dataset

from processing.sim import SimSettings, Simulator

from helpers import REPO

EXAMPLE = REPO / "examples" / "r1-180k-sim.toml"


def crd(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "processing.cli", *args], capture_output=True, text=True)


def local_copy(tmp_path: Path, base_url: str) -> Path:
    """The example pointed at this test's simulator, its pool path made absolute."""
    text = EXAMPLE.read_text(encoding="utf-8").replace("http://127.0.0.1:8731/v1", base_url)
    source = re.search(r'^path = "(.+)"$', text, re.M).group(1)
    text = text.replace(f'path = "{source}"', f'path = "{(EXAMPLE.parent / source).resolve()}"')
    config = tmp_path / "r1-180k-sim.toml"
    config.write_text(text, encoding="utf-8")
    return config


def plan_counts(plan: str) -> dict[tuple[str, str], int]:
    """(tier, teacher) -> prompts from the plan's Markdown table."""
    table = plan[plan.index("| tier |"):].split("\n\n")[0].split("\nrequests per teacher")[0]
    rows = [line.strip("|").split("|") for line in table.splitlines() if line.startswith("|")]
    header, body = [cell.strip() for cell in rows[0]], rows[2:]
    counts = {}
    for cells in body:
        tier = cells[0].split()[0]  # "1 (≥ 0)": the label, then the bound
        for teacher, cell in zip(header[2:], cells[2:]):
            counts[(tier, teacher)] = int(cell.split()[0])
    return counts


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiers")
    with Simulator(SimSettings()) as sim:
        config = local_copy(folder, sim.base_url)
        dry = crd("build", str(config), "--out", str(folder / "out"), "--dry-run", "-q")
        # every teacher answer lands in the journal: none there means no teacher was asked
        asked_in_dry_run = (folder / "out.run" / "journal.jsonl").exists() or (folder / "out").exists()
        result = crd("build", str(config), "--out", str(folder / "out"), "-q")
    assert dry.returncode == 0, dry.stderr
    assert result.returncode == 0, result.stderr
    return folder / "out", dry.stdout, asked_in_dry_run


def test_dry_run_prints_the_plan_and_asks_no_teacher(built):
    _, dry, asked = built
    assert "requests per teacher:" in dry and "cut-off" in dry
    assert "| teacher | requests | prompt tokens | completion tokens (expected) | cost |" in dry
    assert not asked


def test_full_rows_carry_complexity_and_tier_as_planned(built):
    out, dry, _ = built
    rows = load_dataset(str(out), "full", split="train")
    assert all(value is not None for value in rows["tier"])
    scored = [value for value in rows["complexity"] if value is not None]
    assert len(scored) >= 0.9 * rows.num_rows
    assert Counter(zip(rows["tier"], rows["model"])) == {key: n for key, n in plan_counts(dry).items() if n}
    card = (out / "README.md").read_text(encoding="utf-8")
    assert plan_counts(card) == plan_counts(dry), "the card shows the tier x teacher table of the build"
    assert "![complexity](images/complexity.png)" in card and (out / "images" / "complexity.png").exists()


def test_the_easiest_share_is_not_generated(built):
    out, dry, _ = built
    dropped = int(re.search(r"the easiest (\d+) of (\d+) scored prompts dropped", dry).group(1))
    scored = int(re.search(r"the easiest (\d+) of (\d+) scored prompts dropped", dry).group(2))
    assert dropped == int(0.3 * scored)
    rows = load_dataset(str(out), "default", split="train")
    assert rows.num_rows == 133 - dropped
