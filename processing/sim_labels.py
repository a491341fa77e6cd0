"""How the crd simulator labels what it says, and how the rest of crd recognises it.

The simulator (processing/sim.py) puts these labels on every reply; the engine keeps the
`system_fingerprint` of each answer, so a build counts its simulated rows from the data
itself and its card never presents them as a model's answers.
"""

from __future__ import annotations

import sys

OWNED_BY = "crd-simulator (not a model)"  # `owned_by` of its /v1/models entries
FINGERPRINT = "crd-simulator"  # `system_fingerprint` of every completion and stream chunk
HEADER = "X-Crd-Simulator"  # on every HTTP reply, /v1/models included
HEADER_VALUE = "not a model"

_told: set[str] = set()  # simulator base URLs the user has been told about in this process


def announce_simulator(base_url: str) -> None:
    """One line per simulator endpoint and process: a notice, since tests and users
    rightly build against `crd sim`, but one that cannot be missed."""
    url = base_url.rstrip("/")
    if url not in _told:
        _told.add(url)
        print(f"{url} is the crd simulator, not a model: its answers will be marked as simulated "
              "(system_fingerprint, and a notice at the top of the card)", file=sys.stderr)


def simulator_told(base_url: str) -> None:
    """The caller told the user itself (`crd demo`): no second line for this endpoint."""
    _told.add(base_url.rstrip("/"))
