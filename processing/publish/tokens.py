"""Token counts for the card: the training model's tokenizer (`[output] tokenizer`), read locally.

The setting names a `tokenizer.json`, a folder holding one, or a model id whose
`tokenizer.json` is already in the local Hugging Face cache. Nothing is downloaded: a
build must not depend on the network for its card. Counting uses the `tokenizers`
library (an optional extra), in batches, without special tokens: the figures are the
tokens of each text itself, not of a chat template around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import try_to_load_from_cache
from huggingface_hub.errors import HFValidationError

from processing.errors import CrdError
from processing.stages import file_digest

if TYPE_CHECKING:
    from tokenizers import Tokenizer

FILE = "tokenizer.json"
INSTALL = 'pip install "chinese-reasoning-distil[tokens]"'


@dataclass(frozen=True)
class CardTokenizer:
    name: str  # how the card names it: the model id, or the folder (or file) it came from
    digest: str  # content hash of its tokenizer.json: a changed file re-renders the card
    tokenizer: Tokenizer

    @property
    def identity(self) -> dict:
        """What the card stage's fingerprint takes from it."""
        return {"name": self.name, "digest": self.digest}

    def count(self, texts: list[str]) -> list[int]:
        """Tokens of each text, encoded as one batch (the library spreads it over the cores)."""
        return [len(encoding.ids) for encoding in self.tokenizer.encode_batch_fast(texts, add_special_tokens=False)]


def open_tokenizer(setting: str | None) -> CardTokenizer | None:
    """The configured tokenizer, loaded; None when none is configured. Fails with one line when
    the library is missing or the setting names nothing readable, so before any request is sent."""
    if not setting:
        return None
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise CrdError(f"output.tokenizer = {setting!r} needs the tokenizers library: {INSTALL}") from None
    path, name = _locate(setting)
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:  # the library raises plain Exception for a malformed file
        raise CrdError(f"output.tokenizer: {path} is not a readable tokenizer.json: {exc}") from None
    return CardTokenizer(name, file_digest(path), tokenizer)


def _locate(setting: str) -> tuple[Path, str]:
    """The tokenizer.json the setting names, and the name the card shows for it."""
    path = Path(setting).expanduser()
    if path.is_dir() and (path / FILE).is_file():
        return path / FILE, path.resolve().name
    if path.is_file():
        return path, path.resolve().parent.name if path.name == FILE else path.name
    cached = _cached(setting)
    if cached is not None:
        return cached, setting
    where = f"{path} has no {FILE}" if path.is_dir() else f"no file or folder {path}"
    raise CrdError(f"output.tokenizer = {setting!r}: {where}, and no model of that id in the local Hugging Face "
                   f"cache; nothing is downloaded at build time, so point it at a {FILE} or a folder holding one")


def _cached(repo_id: str) -> Path | None:
    try:
        found = try_to_load_from_cache(repo_id, FILE)
    except HFValidationError:  # not shaped like a model id (an absolute path, say)
        return None
    return Path(found) if isinstance(found, str) else None
