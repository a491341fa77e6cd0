"""Progress bars on stderr (tqdm), silent with -q; stdout is left to the commands' reports.

- `GenerationProgress`: generation's live bar: done/total, requests/s and ETA, tokens/s,
  failures, loops cancelled, cost; `summary()` gives the closing line either way.
- `stage_bar`: one bar for a long stage that is not generation (pool, verify, shards,
  card, import): rows of a known total, else a running count. Loops deep inside the
  stage report with `advance(rows)`, once per batch, so no bar has to be handed down.
Bars appear only after BAR_DELAY seconds: a quick stage, or one that fails at once,
prints nothing extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from time import monotonic

import pyarrow.parquet as pq
from tqdm import tqdm

# The progress of the generation running in this context. Engines report the loops they
# cancel here (`report_loop`): those attempts never become records, which is all that
# reaches the bar otherwise. Tasks inherit the variable, so every engine started under
# a progress reports to it without being handed it.
_RUNNING: ContextVar[GenerationProgress | None] = ContextVar("generation_progress", default=None)


def report_loop(tokens_saved: int) -> None:
    """A looping reply was cancelled, `tokens_saved` tokens short of its max_tokens."""
    progress = _RUNNING.get()
    if progress is not None:
        progress.loop_cancelled(tokens_saved)

POSTFIX_INTERVAL = 0.5  # seconds; formatting the postfix on every reply would cost more than the bar
BAR_DELAY = 1.0  # seconds before a bar appears: a run that fails at once shows only its error


class GenerationProgress:
    def __init__(self, total: int, quiet: bool, description: str = "generate", done: int = 0) -> None:
        """`done` counts requests finished by earlier runs, so a resumed bar starts where it was."""
        self.failures = 0
        self.finished = 0
        self.tokens = 0
        self.loops = 0  # looping replies cancelled (retried or failed)
        self.tokens_saved = 0
        self.cost: float | None = None
        self.saved = 0.0  # by the batch discount, included in `cost` already
        self._started = monotonic()
        self._stopped: float | None = None
        self._shown = 0.0
        self.bar = tqdm(total=total, initial=done, disable=quiet, desc=description, unit="req", dynamic_ncols=True,
                        delay=BAR_DELAY)
        _RUNNING.set(self)

    def loop_cancelled(self, tokens_saved: int) -> None:
        self.loops += 1
        self.tokens_saved += tokens_saved

    def add(self, total: int, done: int = 0) -> None:
        """More requests joined the run (re-asks); `done` of them were finished by earlier runs."""
        self.bar.total += total
        self.bar.update(done)

    def update(self, record, cost: float | None = None, saved: float = 0.0) -> None:
        """`cost` is what the request cost; `saved`, what a discount took off it."""
        self.saved += saved
        if record.status == "ok":
            self.finished += 1
            self.tokens += record.completion_tokens or 0
        else:
            self.failures += 1
        if cost is not None:
            self.cost = (self.cost or 0.0) + cost
        now = monotonic()
        if now - self._shown >= POSTFIX_INTERVAL:
            self._shown = now
            self.bar.set_postfix_str(self._postfix(now - self._started), refresh=False)
        self.bar.update(1)

    def _postfix(self, elapsed: float) -> str:
        parts = [f"{self.tokens / max(elapsed, 1e-9):,.0f} tok/s", f"failed {self.failures}"]
        if self.loops:
            parts.append(f"loops cancelled {self.loops}")
        if self.cost is not None:
            parts.append(f"cost {self.cost:,.2f}")
        return ", ".join(parts)

    @property
    def elapsed(self) -> float:
        """Seconds from the start to `close()` (or to now while running)."""
        return (self._stopped or monotonic()) - self._started

    def summary(self) -> str:
        elapsed = self.elapsed
        done = self.finished + self.failures
        line = (f"{self.finished} finished, {self.failures} failed in {elapsed:,.1f} s: "
                f"{done / max(elapsed, 1e-9):,.1f} req/s, {self.tokens / max(elapsed, 1e-9):,.0f} tok/s")
        if self.loops:
            line += f"; {self.loops} looping replies cancelled, ≥ {self.tokens_saved:,} tokens saved"
        line += f", cost {self.cost:,.2f}" if self.cost is not None else ""
        return line + (f" (batch discount saved {self.saved:,.2f})" if self.saved else "")

    def close(self) -> None:
        self._stopped = self._stopped or monotonic()
        self.bar.set_postfix_str(self._postfix(self.elapsed), refresh=False)  # the final counts, not the last shown
        self.bar.close()


# The bar of the stage running in this context, which `advance` moves.
_STAGE_BAR: ContextVar[tqdm | None] = ContextVar("stage_bar", default=None)


@contextmanager
def stage_bar(description: str, total: int | None = None, *, quiet: bool) -> Iterator[tqdm]:
    """A bar for one long stage: of `total` rows, or a count when the total is unknown (None)."""
    bar = tqdm(total=total, desc=description, unit="row", disable=quiet, delay=BAR_DELAY, dynamic_ncols=True)
    token = _STAGE_BAR.set(bar)
    try:
        yield bar
    finally:
        _STAGE_BAR.reset(token)
        bar.close()


def parquet_rows(path: Path) -> int | None:
    """A bar's total for a Parquet file or folder of parts, from their metadata; None for other inputs."""
    if path.is_dir():
        return sum(pq.ParquetFile(part).metadata.num_rows for part in path.glob("*.parquet"))
    if path.suffix == ".parquet" and path.exists():
        return pq.ParquetFile(path).metadata.num_rows
    return None


def advance(rows: int) -> None:
    """`rows` more done in the stage whose bar is showing (nothing when none is)."""
    bar = _STAGE_BAR.get()
    if bar is not None:
        bar.update(rows)
