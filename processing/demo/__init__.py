"""The offline demo's pool and config, shipped as package data.

They live inside the package (not in the repository's examples/) so that an installed
`crd` runs `crd demo` and `crd sim` from any directory. Wheels install unpacked, so the
package folder is a real directory and the config can name the pool beside it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

FOLDER = Path(str(files(__name__)))
CONFIG = FOLDER / "demo.toml"
POOL = FOLDER / "prompts.jsonl"
