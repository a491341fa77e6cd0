"""Atomic file writes: a reader sees the old complete file or the new one, never a part."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A hidden temporary path beside `path`, renamed onto it when the block succeeds.

    Hidden (leading dot) so globs such as `train-*` or `part-*` never pick it up; removed
    when the block fails, so a crash-and-rerun does not accumulate leftovers.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
