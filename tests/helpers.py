"""Paths the tests share: the repository, its fixtures, and ../shared/data when present."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
# ../shared/data from the project root; a git worktree sits one level deeper, so look upwards.
SHARED_DATA = next(
    (parent / "shared" / "data" for parent in REPO.parents if (parent / "shared" / "data").is_dir()),
    REPO.parent / "shared" / "data",
)
