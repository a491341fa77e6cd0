"""Paths the tests share: the repository, its fixtures, and ../shared/data when present."""

import asyncio
import threading
from pathlib import Path

from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
# ../shared/data from the project root; a git worktree sits one level deeper, so look upwards.
SHARED_DATA = next(
    (parent / "shared" / "data" for parent in REPO.parents if (parent / "shared" / "data").is_dir()),
    REPO.parent / "shared" / "data",
)

# The one line crd prints on meeting an endpoint that is the crd simulator (processing/sim_labels.py).
SIMULATOR_ENDPOINT = "is the crd simulator, not a model"


def without_simulator_notice(stderr: str) -> str:
    """What a command printed on stderr besides the simulator notice (a notice, not an error)."""
    return "".join(line for line in stderr.splitlines(keepends=True) if SIMULATOR_ENDPOINT not in line)


class serving:
    """An aiohttp app on a free local port in a background thread (the CLI runs its own loop);
    `with serving(app) as base_url:` gives its OpenAI-style base URL (…/v1)."""

    def __init__(self, app: web.Application) -> None:
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def __enter__(self) -> str:
        self._thread.start()
        self._call(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._call(site.start())
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"

    def __exit__(self, *exc) -> None:
        self._call(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
