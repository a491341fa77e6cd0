"""`dataset_info.json`: the output folder registered for LLaMA-Factory as it is.

With `dataset_dir: OUT` and `dataset: sft` (or `messages`) in a LLaMA-Factory training
config, the shards are read straight from `data/<config>/`. What LLaMA-Factory accepts
(src/llamafactory/data/parser.py, loader.py, converter.py and data/README.md of
hiyouga/LLaMA-Factory, checked at commit ff6d4d1):
- an entry with none of the hub or script keys is read from `file_name`, joined to
  `dataset_dir`; a folder means every file directly in it (no glob, no recursion), all
  with one extension, here `.parquet`;
- `formatting` `alpaca` takes `columns.prompt` / `query` / `response` (the user turn is
  prompt and query joined by a newline, skipping an empty query);
- `sharegpt` takes `columns.messages`, and `tags` naming the role and content keys of a
  message and the user and assistant role values; turns alternate user, assistant.
Its think tags are ours, `<think>…</think>`, so `output` goes in unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from processing.files import atomic_path

INFO_FILE = "dataset_info.json"
ENTRIES = {
    "sft": {
        "formatting": "alpaca",
        "columns": {"prompt": "instruction", "query": "input", "response": "output"},
    },
    "messages": {
        "formatting": "sharegpt",
        "columns": {"messages": "messages"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                 "system_tag": "system"},
    },
}


def llamafactory_entries(configs: Iterable[str]) -> dict[str, dict]:
    """The registration of every materialized config LLaMA-Factory can train on."""
    return {name: {"file_name": f"data/{name}", **ENTRIES[name]} for name in configs if name in ENTRIES}


def write_llamafactory_info(out_dir: Path, configs: Iterable[str]) -> Path | None:
    """Write OUT/dataset_info.json after the shards; None when no config fits LLaMA-Factory."""
    entries = llamafactory_entries(configs)
    if not entries:
        return None
    path = Path(out_dir) / INFO_FILE
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(entries, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return path
