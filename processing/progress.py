"""A live bar for long stages: done/total, rate, failures, ETA; silent with -q."""

from __future__ import annotations

from tqdm import tqdm


class GenerationProgress:
    def __init__(self, total: int, quiet: bool, description: str = "generate") -> None:
        self.failures = 0
        self.bar = tqdm(total=total, disable=quiet, desc=description, unit="req", dynamic_ncols=True)

    def update(self, record) -> None:
        if record.status != "ok":
            self.failures += 1
            self.bar.set_postfix(failed=self.failures, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
