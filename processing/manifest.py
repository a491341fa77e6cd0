"""`manifest.json`: what made a build, written into the dataset folder and read by the card.

It holds the resolved config (no secrets: keys live in environment variables, and
credentials inside URLs are masked), the package version and, from a git checkout, the
commit, every stage's fingerprint, status, counts and time, and when the build ran.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import asdict
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path

from processing.files import atomic_path

MANIFEST = "manifest.json"
PACKAGE = "chinese-reasoning-distil"
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def write_manifest(folder: Path, config, results, *, simulated_rows: int) -> dict:
    """`simulated_rows`: published rows the crd simulator answered; `simulated` says whether
    there are any (a boolean, as manifests have always had it), `simulated_rows` how many."""
    manifest = {
        "name": config.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "package": {"name": PACKAGE, "version": version(PACKAGE), "commit": _git_commit()},
        "simulated": simulated_rows > 0,
        "simulated_rows": simulated_rows,
        "config": _mask(config.model_dump(mode="json")),
        "stages": {result.name: {key: value for key, value in asdict(result).items() if key != "name"}
                   for result in results},
    }
    with atomic_path(folder / MANIFEST) as temporary:
        temporary.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return manifest


def read_manifest(folder: Path) -> dict:
    """The manifest of a dataset folder; {} when there is none or it is unreadable."""
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return {}


def _mask(value):
    """Credentials written into URLs (https://user:secret@host) never reach the manifest."""
    if isinstance(value, dict):
        return {key: _mask(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_mask(item) for item in value]
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub("***@", value)
    return value


def _git_commit() -> str | None:
    """The commit of the checkout the package runs from, with "-dirty" for local edits; None when installed."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")
