"""Progress bars of the long stages: on stderr, silent with -q, never on stdout, and none at
all for a stage quicker than BAR_DELAY. Most tests set BAR_DELAY to 0 so that the small
inputs here draw the bars a large run would."""

from __future__ import annotations

import re

import polars as pl
import pytest

from processing import progress
from processing.cli import main
from processing.progress import advance, stage_bar

from helpers import REPO

MXODE = REPO / "tests" / "fixtures" / "imports" / "mxode.jsonl"
BUILD_BARS = ["pool ingest", "pool clean", "pool dedup", "pool decontam", "verify", "shards", "card"]


@pytest.fixture
def bars_at_once(monkeypatch):
    monkeypatch.setattr(progress, "BAR_DELAY", 0)


def last_state(stderr: str, description: str) -> str:
    """The last drawing of a bar (tqdm redraws in place with carriage returns)."""
    drawings = [part for part in re.split(r"[\r\n]", stderr) if part.startswith(description + ":")]
    assert drawings, f"no {description!r} bar in {stderr!r}"
    return drawings[-1]


def without_times(report: str) -> str:
    return re.sub(r"\d+\.\d s", "_ s", report)


def test_every_long_stage_of_a_build_shows_its_rows_on_stderr_and_quiet_silences_them(bars_at_once, tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "loud")]) == 0
    loud = capsys.readouterr()
    rows = pl.read_parquet(tmp_path / "loud.run" / "scored.parquet").height
    for description in BUILD_BARS[1:]:
        assert f" {rows}/{rows} " in last_state(loud.err, description), description
    assert last_state(loud.err, "pool ingest").startswith(f"pool ingest: {rows}row ")  # a count: no total known
    assert "row/s" not in loud.out
    assert main(["demo", "--out", str(tmp_path / "quiet"), "-q"]) == 0
    quiet = capsys.readouterr()
    assert not any(f"{description}:" in quiet.err for description in BUILD_BARS)
    assert without_times(quiet.out.replace("quiet", "loud")) == without_times(loud.out)  # stdout as it was


def test_pool_shows_its_steps_unless_quiet(bars_at_once, tmp_path, capsys):
    (tmp_path / "pool.toml").write_text(f'[[sources]]\npath = "{MXODE}"\nname = "mxode"\n', encoding="utf-8")
    assert main(["pool", str(tmp_path / "pool.toml"), "--out", str(tmp_path / "loud")]) == 0
    loud = capsys.readouterr()
    kept = pl.read_parquet(tmp_path / "loud" / "pool.parquet").height
    assert last_state(loud.err, "pool decontam").startswith("pool decontam: 100%")
    assert f"/{kept} " in last_state(loud.err, "pool decontam")
    assert main(["pool", str(tmp_path / "pool.toml"), "--out", str(tmp_path / "quiet"), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_import_counts_rows_read_from_json_lines_and_of_a_known_parquet_total(bars_at_once, tmp_path, capsys):
    rows = sum(1 for line in MXODE.read_text(encoding="utf-8").splitlines() if line.strip())
    assert main(["import", "mxode", str(MXODE), "--out", str(tmp_path / "parts")]) == 0
    assert last_state(capsys.readouterr().err, "import").startswith(f"import: {rows}row ")
    parquet = tmp_path / "mxode.parquet"
    pl.read_parquet(tmp_path / "parts").select("id", "prompt", "reasoning", "response").write_parquet(parquet)
    assert main(["import", "mxode", str(parquet), "--out", str(tmp_path / "again")]) == 0
    assert f" {rows}/{rows} " in last_state(capsys.readouterr().err, "import")
    assert main(["import", "mxode", str(parquet), "--out", str(tmp_path / "quiet"), "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_a_stage_quicker_than_the_delay_draws_nothing(tmp_path, capsys):
    assert progress.BAR_DELAY >= 1
    assert main(["import", "mxode", str(MXODE), "--out", str(tmp_path / "parts")]) == 0
    assert capsys.readouterr().err == ""


def test_advance_moves_only_the_bar_of_the_running_stage(bars_at_once, capsys):
    advance(5)  # no stage running: nothing to move, nothing drawn
    with stage_bar("outer", 10, quiet=False) as outer:
        advance(2)
        with stage_bar("inner", None, quiet=False) as inner:
            advance(3)
        advance(4)
    assert (outer.n, inner.n) == (6, 3)
    assert "row" not in capsys.readouterr().out
