"""The licence identifiers a dataset card's `license:` field takes on the Hugging Face Hub.

Shared by the settings of the sources (a licence declared per source) and of the output
(`[output] license`), so a typo fails when the config is read, not when the Hub shows
the card with no licence.
"""

from __future__ import annotations

import difflib

# The Hub's list (https://huggingface.co/docs/hub/repositories-licenses), in its order.
# huggingface_hub ships no copy of it, so it is kept here.
HUB_LICENSES = (
    "apache-2.0", "mit", "openrail", "bigscience-openrail-m", "creativeml-openrail-m",
    "bigscience-bloom-rail-1.0", "bigcode-openrail-m", "afl-3.0", "artistic-2.0", "bsl-1.0", "bsd",
    "bsd-2-clause", "bsd-3-clause", "bsd-3-clause-clear", "c-uda", "cc", "cc0-1.0", "cc-by-2.0", "cc-by-2.5",
    "cc-by-3.0", "cc-by-4.0", "cc-by-sa-3.0", "cc-by-sa-4.0", "cc-by-nc-2.0", "cc-by-nc-3.0", "cc-by-nc-4.0",
    "cc-by-nd-4.0", "cc-by-nc-nd-3.0", "cc-by-nc-nd-4.0", "cc-by-nc-sa-2.0", "cc-by-nc-sa-3.0", "cc-by-nc-sa-4.0",
    "cdla-sharing-1.0", "cdla-permissive-1.0", "cdla-permissive-2.0", "wtfpl", "ecl-2.0", "epl-1.0", "epl-2.0",
    "etalab-2.0", "eupl-1.1", "eupl-1.2", "agpl-3.0", "gfdl", "gpl", "gpl-2.0", "gpl-3.0", "lgpl", "lgpl-2.1",
    "lgpl-3.0", "isc", "h-research", "intel-research", "lppl-1.3c", "ms-pl", "apple-ascl", "apple-amlr", "mpl-2.0",
    "odc-by", "odbl", "openmdw-1.0", "openrail++", "osl-3.0", "postgresql", "ofl-1.1", "ncsa", "unlicense", "zlib",
    "pddl", "lgpl-lr", "deepfloyd-if-license", "fair-noncommercial-research-license", "llama2", "llama3",
    "llama3.1", "llama3.2", "llama3.3", "llama4", "grok2-community", "gemma", "unknown", "other",
)
LICENSE_LIST = "https://huggingface.co/docs/hub/repositories-licenses"


def hub_license(value: str) -> str:
    """The Hub's identifier for `value` (case does not matter: `Apache-2.0` is `apache-2.0`);
    anything else raises ValueError naming the closest identifiers."""
    identifier = value.strip().lower()
    if identifier in HUB_LICENSES:
        return identifier
    close = difflib.get_close_matches(identifier, HUB_LICENSES, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(close)}?" if close else "use `other` for a licence the Hub does not list"
    raise ValueError(f"{value!r} is not a licence identifier of the Hugging Face Hub; {hint} (list: {LICENSE_LIST})")
