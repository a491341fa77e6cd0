"""A normal (non-editable) install runs the product from any directory.

Slow: builds the wheel, creates one fresh venv, installs the wheel with its dependencies
(from pip's cache or the package registry), then runs `crd demo` and `crd sim --help`
from an empty temporary directory, far from the source tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from helpers import REPO

# What a source checkout holds that the build must not see (a stale build/ or egg-info
# could hide a packaging mistake).
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "out", "runs",
                                    "__pycache__", ".pytest_cache", "tests", "bench")


# The fresh venv must see neither the source tree nor the test venv (PYTHONPATH would let
# pip think the project is already installed, and `import processing` find the checkout).
CLEAN_ENV = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, env=CLEAN_ENV)
    assert result.returncode == 0, f"{command}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ folder of a fresh venv with the freshly built wheel installed."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    run(sys.executable, "-m", "build", "--wheel", "--outdir", root / "dist", source, cwd=root)
    (wheel,) = (root / "dist").glob("*.whl")
    venv.create(root / "venv", with_pip=True)
    bin_dir = root / "venv" / "bin"
    run(bin_dir / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel, cwd=root)
    return bin_dir


def test_demo_runs_from_an_empty_directory(installed, tmp_path):
    result = run(installed / "crd", "demo", "-q", cwd=tmp_path)
    assert "simulator" in result.stdout
    assert_dataset(tmp_path / "out" / "demo")


def test_sim_and_build_run_from_an_empty_directory(installed, tmp_path):
    """`crd sim` serves the packaged demo answers; `crd demo --base-url` builds against it."""
    server = subprocess.Popen([str(installed / "crd"), "sim", "--port", "0"], cwd=tmp_path, env=CLEAN_ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = server.stdout.readline()
        assert "not a model" in banner, server.stderr.read() if server.poll() is not None else banner
        base_url = banner.split(" on ")[1].split()[0]
        run(installed / "crd", "demo", "-q", "--base-url", base_url, "--out", "by-hand", cwd=tmp_path)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert_dataset(tmp_path / "by-hand")


def test_package_data_is_read_from_the_installed_package(installed, tmp_path):
    result = run(installed / "python", "-c",
                 "import processing.demo as d, processing.publish.card as c; print(d.CONFIG); print(c.TEMPLATE)",
                 cwd=tmp_path)
    for line in result.stdout.splitlines():
        assert "site-packages" in line and Path(line).is_file(), line


def assert_dataset(out: Path) -> None:
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "simulator" in card.lower()
    for config in ("default", "sft", "messages", "full"):
        assert list((out / "data" / config).glob("train-*.parquet")), config
    assert list((out / "images").glob("*.png"))
