"""Licences and citations declared per source: the check when `crd build` starts, the card's
warning, Sources table and Citations. Every build here is a real `crd build` against the
simulator."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from helpers import REPO, SHARED_DATA
from processing.sim import SimSettings, Simulator
from test_run_record import build, crd, stage_status  # `crd build` as a subprocess, and its stage lines

CMMLU_BIBTEX = "@misc{li2023cmmlu,\n  title={CMMLU: Measuring massive multitask language understanding in Chinese},\n  year={2023}\n}"
EXAM = [("下列哪一项是中国的首都？", "上海", "北京", "广州", "深圳", "B"),
        ("水的化学式是什么？", "H2O", "CO2", "O2", "NaCl", "A"),
        ("《红楼梦》的作者是谁？", "罗贯中", "施耐庵", "曹雪芹", "吴承恩", "C"),
        ("地球绕太阳公转一周约需多少天？", "30", "180", "730", "365", "D")]


def write_pools(folder: Path) -> None:
    """A CMMLU-like exam pool, and a math pool whose records carry their own `source` labels."""
    exam = [{"question": q, "A": a, "B": b, "C": c, "D": d, "answer": answer} for q, a, b, c, d, answer in EXAM]
    math = [{"prompt": f"小明有 {n} 个苹果，又买了 {n + 7} 个，一共有多少个？", "reference_answer": str(2 * n + 7),
             "category": "math", "source": "apples-easy" if n < 6 else "apples-hard"} for n in range(1, 11)]
    for name, rows in (("exam.jsonl", exam), ("apples.jsonl", math)):
        (folder / name).write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")


def write_config(folder: Path, base_url: str, *, cmmlu_license: str = "cc-by-nc-sa-4.0",
                 output_license: str = "apache-2.0", citation: str = CMMLU_BIBTEX) -> Path:
    config = folder / "run.toml"
    config.write_text(f'''name = "licences"
[[sources]]
path = "exam.jsonl"
name = "cmmlu"
template = "{{question}}\\nA. {{A}}\\nB. {{B}}\\nC. {{C}}\\nD. {{D}}"
reference_column = "answer"
category = "exam"
license = "{cmmlu_license}"
homepage = "https://github.com/haonan-li/CMMLU"
citation = """{citation}"""

[[sources]]
path = "apples.jsonl"
license = "mit"
citation = "Apple problems, written for this test."

[[models]]
name = "sim-deepseek-r1"
base_url = "{base_url}"
max_concurrency = 8

[output]
license = "{output_license}"
''', encoding="utf-8")
    return config


def card_text(out: Path) -> str:
    return (out / "README.md").read_text(encoding="utf-8")


def section(card: str, title: str) -> str:
    return card.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def sources_table(card: str) -> dict[str, tuple[int, str, str]]:
    """source -> (rows published, licence, homepage), read from the card's Sources table."""
    table = {}
    for line in section(card, "Sources").splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 4 and cells[1].replace(",", "").isdigit():
            table[cells[0]] = (int(cells[1].replace(",", "")), cells[2], cells[3])
    return table


def shard_sources(out: Path) -> Counter:
    counts: Counter = Counter()
    for shard in sorted((out / "data" / "default").glob("train-*.parquet")):
        counts.update(pq.read_table(shard, columns=["source"])["source"].to_pylist())
    return counts


@pytest.fixture()
def sim():
    with Simulator(SimSettings()) as server:
        yield server


@pytest.fixture()
def pools(tmp_path) -> Path:
    write_pools(tmp_path)
    return tmp_path


def test_a_stricter_source_is_warned_about_at_the_start_and_on_the_card(pools, sim):
    config, out = write_config(pools, sim.base_url), pools / "out"
    dry = crd("build", str(config), "--out", str(out), "--dry-run", "-q")
    assert dry.returncode == 0, dry.stderr
    result = build(config, out)
    for stderr in (dry.stderr, result.stderr):
        warning = next(line for line in stderr.splitlines() if "warning: source 'cmmlu'" in line)
        assert "cc-by-nc-sa-4.0" in warning and "'apache-2.0'" in warning
        assert "forbids commercial use" in warning and 'set [output] license = "cc-by-nc-sa-4.0"' in warning
        assert "'apples'" not in stderr, "an MIT source is not stricter than Apache-2.0"
    card = card_text(out)
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == "apache-2.0", "the output licence is never changed silently"
    top = card.split("\n## Load it\n")[0]
    notice = next(line for line in top.splitlines() if line.startswith("> **Licence.**"))
    assert "`apache-2.0`" in notice and "`cmmlu`" in notice and "`cc-by-nc-sa-4.0`" in notice
    assert "Publishing it under `cc-by-nc-sa-4.0`" in top
    assert sources_table(card)["cmmlu"][1].startswith("**cc-by-nc-sa-4.0** (stricter")


def test_the_same_source_under_its_own_licence_is_not_warned_about(pools, sim):
    out = pools / "out"
    result = build(write_config(pools, sim.base_url, output_license="cc-by-nc-sa-4.0"), out)
    assert "warning:" not in result.stderr and "note:" not in result.stderr
    card = card_text(out)
    assert "**Licence.**" not in card and "stricter" not in card
    assert yaml.safe_load(card.split("---\n")[1])["license"] == "cc-by-nc-sa-4.0"
    assert sources_table(card)["cmmlu"][1] == "cc-by-nc-sa-4.0"


def test_the_sources_table_counts_the_published_rows_of_each_source(pools, sim):
    out = pools / "out"
    build(write_config(pools, sim.base_url, output_license="cc-by-nc-sa-4.0"), out)
    table = sources_table(card_text(out))
    published = shard_sources(out)
    assert set(published) == {"cmmlu", "apples-easy", "apples-hard"}
    assert {source: row[0] for source, row in table.items()} == dict(published)
    # the labels the apples records carry are attributed to the entry that read them
    assert table["apples-easy"][1] == table["apples-hard"][1] == "mit"
    assert table["cmmlu"][2] == "<https://github.com/haonan-li/CMMLU>"


def test_citations_are_collected_with_bibtex_fenced(pools, sim):
    out = pools / "out"
    build(write_config(pools, sim.base_url), out)
    citations = section(card_text(out), "Citations")
    assert f"```bibtex\n{CMMLU_BIBTEX}\n```" in citations
    plain = citations.split("`apples-easy`, `apples-hard`:", 1)[1]
    assert "Apple problems, written for this test." in plain and "```" not in plain.split("Built with")[0]


def test_a_changed_licence_or_citation_renders_the_card_again_and_nothing_else(pools, sim):
    out = pools / "out"
    build(write_config(pools, sim.base_url), out)
    asked = sim.stats()["requests"]
    before = {path.name: path.read_bytes() for path in (out / "data" / "default").glob("*.parquet")}
    rerun = build(write_config(pools, sim.base_url, cmmlu_license="cc-by-nc-4.0", citation="CMMLU, arXiv:2306.09212."),
                  out)
    assert sim.stats()["requests"] == asked, "declaring a licence must not ask the teachers again"
    status = stage_status(rerun)
    assert {status[name] for name in ("pool", "routing", "generation", "verify", "shards")} == {"reused"}
    assert status["card"] == "recomputed"
    assert {path.name: path.read_bytes() for path in (out / "data" / "default").glob("*.parquet")} == before
    card = card_text(out)
    assert sources_table(card)["cmmlu"][1] == "**cc-by-nc-4.0** (stricter than this dataset's)"
    assert "CMMLU, arXiv:2306.09212." in section(card, "Citations") and "```bibtex" not in card


def test_a_mistyped_licence_is_one_line_naming_the_source_and_the_close_identifiers(pools, sim):
    result = crd("build", str(write_config(pools, sim.base_url, cmmlu_license="cc-by-nc-sa4.0")),
                 "--out", str(pools / "out"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "run.toml" in lines[0] and "sources.0.license" in lines[0] and "'cmmlu'" in lines[0]
    assert "did you mean cc-by-nc-sa-4.0" in lines[0]
    assert sim.stats()["requests"] == 0


def test_the_output_licence_is_checked_against_the_hub_list_too(pools, sim):
    result = crd("build", str(write_config(pools, sim.base_url, output_license="apache2")), "--out", str(pools / "o"))
    assert result.returncode == 2 and "output.license" in result.stderr and "apache-2.0" in result.stderr


def test_an_undeclared_licence_is_said_to_be_not_judged(pools, sim):
    config = write_config(pools, sim.base_url, output_license="cc-by-nc-sa-4.0")
    config.write_text(config.read_text(encoding="utf-8").replace('license = "mit"\n', ""), encoding="utf-8")
    out = pools / "out"
    result = build(config, out)
    note = next(line for line in result.stderr.splitlines() if "note:" in line)
    assert "'apples' (not declared)" in note and "cmmlu" not in note
    assert "Not judged against `cc-by-nc-sa-4.0`: `apples` (not declared)" in section(card_text(out), "Sources")


@pytest.mark.skipif(not (SHARED_DATA / "instructions").is_dir(), reason=f"{SHARED_DATA} absent: the public pools")
def test_the_public_pools_example_plans_with_its_licences_checked(tmp_path):
    """examples/public-pools.toml on the real CMMLU, Ape210K and Alpaca files (a dry run: no teacher is asked)."""
    shutil.copy(REPO / "examples" / "public-pools.toml", tmp_path)
    (tmp_path / "data").symlink_to(SHARED_DATA / "instructions", target_is_directory=True)
    result = crd("build", str(tmp_path / "public-pools.toml"), "--out", str(tmp_path / "out"), "--dry-run", "-q")
    assert result.returncode == 0, result.stderr
    assert "warning:" not in result.stderr, "CC BY-NC-SA 4.0 meets CMMLU's and Alpaca's terms"
    note = next(line for line in result.stderr.splitlines() if "note:" in line)
    assert "'ape210k' (unknown)" in note and "cmmlu" not in note and "alpaca" not in note
    labels = json.loads((tmp_path / "out.run" / "pool" / "sources.json").read_text(encoding="utf-8"))
    assert labels == [["cmmlu"], ["ape210k"], ["alpaca-zh"]]
    assert re.search(r"\bcmmlu\b", (tmp_path / "out.run" / "pool" / "summary.csv").read_text(encoding="utf-8"))
