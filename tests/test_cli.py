"""Errors a user meets at the `crd` command line: each is one line, found before any work
where it can be, and a full disk leaves a run that the same command resumes."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import polars as pl
import pytest

from processing.cli import main, parser
from processing.llm.generate import GENERATIONS, JOURNAL
from processing.sim import SimSettings, Simulator, load_answers

from helpers import REPO, without_simulator_notice

PROMPTS = ["一个数加上5等于12，这个数是多少？", "请写一首关于春天的五言绝句。", "水在标准大气压下多少摄氏度沸腾？"]
DEV_FULL = Path("/dev/full")  # every write to it fails with ENOSPC, as on a full disk
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full (Linux) to simulate a full disk")


def crd(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "processing.cli", *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})})


def write_prompts(path: Path, encoding: str = "utf-8") -> Path:
    path.write_bytes("".join(json.dumps({"prompt": p}, ensure_ascii=False) + "\n" for p in PROMPTS).encode(encoding))
    return path


def generate_args(prompts: Path, base_url: str, out: Path, *extra: str) -> list[str]:
    return ["generate", str(prompts), "--model", "sim-deepseek-r1", "--base-url", base_url, "--no-stream",
            "--out", str(out), "-q", *extra]


def one_line(text: str) -> str:
    text = without_simulator_notice(text)
    assert text.count("\n") == 1, text
    return text


# --- help and version ------------------------------------------------------------------


def test_bare_crd_prints_help_and_exits_0():
    result = crd()
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: crd") and all(command in result.stdout for command in ("build", "pool", "sim"))


def test_version_is_the_package_version():
    result = crd("--version")
    assert result.returncode == 0
    assert result.stdout == f"crd {metadata.version('chinese-reasoning-distil')}\n"


# --- --out under a file ----------------------------------------------------------------


def test_out_under_a_file_fails_before_the_first_request(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    (tmp_path / "build.toml").write_text(
        '[[sources]]\npath = "prompts.jsonl"\n\n[[models]]\nname = "sim-deepseek-r1"\nbase_url = "BASE"\n', encoding="utf-8")
    (tmp_path / "pool.toml").write_text('[[sources]]\npath = "prompts.jsonl"\n', encoding="utf-8")
    with Simulator(SimSettings()) as sim:
        build_config = tmp_path / "build.toml"
        build_config.write_text(build_config.read_text(encoding="utf-8").replace("BASE", sim.base_url), encoding="utf-8")
        commands = {
            "build": ["build", str(build_config), "--out", str(blocker / "out"), "-q"],
            "demo": ["demo", "--out", str(blocker / "demo" / "out"), "-q"],
            "generate": generate_args(prompts, sim.base_url, blocker),
            "pool": ["pool", str(tmp_path / "pool.toml"), "--out", str(blocker / "run")],
            "import": ["import", "mxode", str(prompts), "--out", str(blocker / "parts")],
            "verify": ["verify", str(prompts), "--out", str(blocker / "rescored.parquet"), "-q"],
        }
        for name, arguments in commands.items():
            assert main(arguments) == 2, name
            error = one_line(capsys.readouterr().err)
            assert f"{blocker} is a file, not a folder" in error and "--out" in error, name
        assert sim.stats()["requests"] == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["build.toml", "notes.txt", "pool.toml", "prompts.jsonl"]


def test_run_dir_under_a_file_is_named_as_such(tmp_path, capsys):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x", encoding="utf-8")
    write_prompts(tmp_path / "prompts.jsonl")
    (tmp_path / "build.toml").write_text(
        '[[sources]]\npath = "prompts.jsonl"\n\n[[models]]\nname = "m"\nbase_url = "http://127.0.0.1:9/v1"\n', encoding="utf-8")
    assert main(["build", str(tmp_path / "build.toml"), "--out", str(tmp_path / "out"), "--run-dir", str(blocker / "run")]) == 2
    assert f"--run-dir {blocker / 'run'}: {blocker} is a file" in one_line(capsys.readouterr().err)


# --- crd sim --answers -------------------------------------------------------------------


def test_sim_answers_missing_or_malformed_is_one_line(tmp_path, capsys):
    assert main(["sim", "--answers", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl: answers file not found" in one_line(capsys.readouterr().err)

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "一加一", "reference_answer": "2"}\n{"prompt": \n', encoding="utf-8")
    assert main(["sim", "--answers", str(broken)]) == 2
    assert "broken.jsonl:2: malformed JSON" in one_line(capsys.readouterr().err)

    unnamed = tmp_path / "unnamed.jsonl"
    unnamed.write_text('{"question": "一加一", "reference_answer": "2"}\n', encoding="utf-8")
    assert main(["sim", "--answers", str(unnamed)]) == 2
    assert "unnamed.jsonl:1: no text field 'prompt'; fields present: question, reference_answer" in capsys.readouterr().err


def test_sim_answers_in_gbk_detected_or_declared(tmp_path):
    path = tmp_path / "answers.jsonl"
    path.write_bytes('{"prompt": "三加四等于几？", "reference_answer": " 7 "}\n'.encode("gbk"))
    assert load_answers(path) == load_answers(path, "gbk") == {"三加四等于几？": "7"}


# --- temperature -----------------------------------------------------------------------


def test_temperature_outside_0_to_2_is_refused_naming_key_or_flag(tmp_path, capsys):
    write_prompts(tmp_path / "prompts.jsonl")
    config = tmp_path / "build.toml"
    config.write_text('[[sources]]\npath = "prompts.jsonl"\n\n[[models]]\nname = "m"\n'
                      'base_url = "http://127.0.0.1:9/v1"\ntemperature = 2.5\n', encoding="utf-8")
    assert main(["build", str(config), "--out", str(tmp_path / "out")]) == 2
    assert "build.toml: models.0.temperature: Input should be less than or equal to 2" in one_line(capsys.readouterr().err)

    arguments = generate_args(tmp_path / "prompts.jsonl", "http://127.0.0.1:9/v1", tmp_path / "gen", "--temperature", "-0.1")
    assert main(arguments) == 2
    assert "--temperature: Input should be greater than or equal to 0" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists() and not (tmp_path / "gen").exists()


# --- --encoding ------------------------------------------------------------------------


def test_generate_reads_a_gbk_input_detected_or_declared(tmp_path):
    prompts = write_prompts(tmp_path / "prompts.jsonl", "gbk")
    with Simulator(SimSettings()) as sim:
        for out, extra in ((tmp_path / "detected", ()), (tmp_path / "declared", ("--encoding", "gbk"))):
            assert main(generate_args(prompts, sim.base_url, out, *extra)) == 0
            assert sorted(pl.read_parquet(out / GENERATIONS)["prompt"]) == sorted(PROMPTS)


def test_import_reads_a_declared_encoding_and_refuses_an_unknown_one(tmp_path, capsys):
    path = tmp_path / "mxode.jsonl"
    rows = [{"prompt": p, "reasoning": "想一想。", "response": "好。"} for p in PROMPTS]
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("gb18030"))
    assert main(["import", "mxode", str(path), "--out", str(tmp_path / "parts"), "--encoding", "gb18030"]) == 0
    assert pl.read_parquet(tmp_path / "parts")["prompt"].to_list() == PROMPTS
    with pytest.raises(SystemExit):
        main(["import", "mxode", str(path), "--out", str(tmp_path / "parts"), "--encoding", "nonesuch"])
    assert "argument --encoding: unknown encoding 'nonesuch'" in capsys.readouterr().err


# --- crd pool -q -----------------------------------------------------------------------


def test_pool_quiet_silences_the_dataset_loading_bars(tmp_path):
    folder = tmp_path / "repo"  # a dataset repository on disk: `datasets` draws a bar while it loads
    folder.mkdir()
    write_prompts(folder / "train.jsonl")
    (tmp_path / "pool.toml").write_text('[[sources]]\npath = "repo"\nname = "repo"\n', encoding="utf-8")
    env = {"HF_DATASETS_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    loud = crd("pool", str(tmp_path / "pool.toml"), "--out", str(tmp_path / "loud"), env=env)
    quiet = crd("pool", str(tmp_path / "pool.toml"), "--out", str(tmp_path / "quiet"), "-q",
                env={**env, "HF_DATASETS_CACHE": str(tmp_path / "cache2")})
    assert loud.returncode == quiet.returncode == 0, loud.stderr + quiet.stderr
    assert "examples" in loud.stderr  # the bar this test expects to see silenced
    assert quiet.stderr == ""
    assert "pool of 3 prompts" in quiet.stdout


# --- a full disk -----------------------------------------------------------------------


@needs_dev_full
def test_disk_full_in_crd_generate_keeps_the_journal_and_the_rerun_resumes(tmp_path, capsys):
    prompts = write_prompts(tmp_path / "prompts.jsonl")
    out = tmp_path / "gen"
    out.mkdir()
    (out / f".{GENERATIONS}.tmp").symlink_to(DEV_FULL)  # the rows file is written there, then renamed
    with Simulator(SimSettings()) as sim:
        assert main(generate_args(prompts, sim.base_url, out)) == 2
        error = one_line(capsys.readouterr().err)
        assert error.startswith("crd: error: disk full") and "stay in the journal" in error
        assert "run the same command again to resume" in error
        assert not (out / GENERATIONS).exists()
        assert len((out / JOURNAL).read_text(encoding="utf-8").splitlines()) == len(PROMPTS)

        assert main(generate_args(prompts, sim.base_url, out)) == 0
        assert sim.stats()["requests"] == len(PROMPTS)  # nothing asked twice
    assert sorted(pl.read_parquet(out / GENERATIONS)["prompt"]) == sorted(PROMPTS)


@needs_dev_full
def test_disk_full_in_crd_pool_leaves_nothing_half_written(tmp_path, capsys):
    write_prompts(tmp_path / "prompts.jsonl")
    (tmp_path / "pool.toml").write_text('[[sources]]\npath = "prompts.jsonl"\n', encoding="utf-8")
    run = tmp_path / "run"
    run.mkdir()
    (run / ".pool.parquet.tmp").symlink_to(DEV_FULL)
    arguments = ["pool", str(tmp_path / "pool.toml"), "--out", str(run), "-q"]
    assert main(arguments) == 2
    error = one_line(capsys.readouterr().err)
    assert error.startswith("crd: error: disk full") and "no output file is left half-written" in error
    assert not (run / "pool.parquet").exists() and not (run / ".pool.parquet.tmp").exists()
    assert main(arguments) == 0
    assert sorted(pl.read_parquet(run / "pool.parquet")["prompt"]) == sorted(PROMPTS)


# --- examples in --help ----------------------------------------------------------------


def help_examples(command: argparse.ArgumentParser, prefix: str) -> list[str]:
    """The lines of a --help that show an invocation: `crd COMMAND ...`."""
    lines = [line.strip() for line in command.format_help().splitlines()]
    return [line for line in lines if line == prefix or line.startswith(prefix + " ")]


def subcommands() -> dict[str, argparse.ArgumentParser]:
    (action,) = [action for action in parser()._actions if isinstance(action, argparse._SubParsersAction)]
    return action.choices


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_command_help_shows_examples_that_parse(name):
    examples = help_examples(subcommands()[name], f"crd {name}")
    assert 1 <= len(examples) <= 3, examples
    for example in examples:
        argv = shlex.split(example, comments=True)[1:]
        try:
            args = parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"the example does not parse: {example}")
        assert args.command == name


def test_crd_help_shows_examples_of_several_commands():
    examples = help_examples(parser(), "crd")
    assert len(examples) >= 2
    assert {parser().parse_args(shlex.split(example)[1:]).command for example in examples} >= {"demo", "build"}
