"""Atomic file writes (a reader sees the old complete file or the new one, never a part) and
the check that an output folder can be made."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from processing.errors import CrdError


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


def replace_folder(staging: Path, final: Path) -> None:
    """Swap a fully written folder in for `final`: readers see the old folder or the new one, never a mix.

    Two renames, so for a moment `final` is absent rather than half old and half new;
    the retired copy is removed only once the new one is in place.
    """
    retired = final.with_name(f".{final.name}.retired")
    shutil.rmtree(retired, ignore_errors=True)
    if final.exists():
        final.rename(retired)
    staging.rename(final)
    shutil.rmtree(retired, ignore_errors=True)


def check_folder(path: Path, flag: str = "--out") -> None:
    """Fail at once when `path` cannot be a folder because it, or a folder above it, is a file.

    Otherwise the first write fails with a traceback, after the pool was built and the
    first requests were paid for."""
    for existing in (path, *path.parents):
        if existing.exists():  # the deepest path that exists decides
            if not existing.is_dir():
                raise CrdError(f"{flag} {path}: {existing} is a file, not a folder")
            return
