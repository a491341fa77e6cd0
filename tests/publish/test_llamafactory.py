"""dataset_info.json is accepted by LLaMA-Factory's loader as it is.

LLaMA-Factory is not installed here (it pulls torch and transformers), so `lf_load` below
re-states the rules its loader applies, as read in hiyouga/LLaMA-Factory at commit ff6d4d1:
- src/llamafactory/data/parser.py (`DatasetAttr`, `get_dataset_list`): the accepted keys
  of an entry, its `columns` and `tags`, and that an entry with no hub or script key is
  loaded from `file_name`;
- src/llamafactory/data/loader.py (`_load_single_dataset`): `file_name` is joined to
  `dataset_dir`; a folder means every entry of `os.listdir`, all with one extension that
  maps to a `datasets` builder (`FILEEXT2TYPE` in extras/constants.py), loaded with
  `load_dataset(type, data_files=..., split="train")`;
- src/llamafactory/data/converter.py (`AlpacaDatasetConverter`, `SharegptDatasetConverter`):
  how a row becomes the user turn and the assistant turn.
"""

from __future__ import annotations

import json
import os

import pytest
from datasets import load_dataset

from processing.publish.llamafactory import INFO_FILE, write_llamafactory_info
from processing.schema import sft_output

from output_folder import ROWS

SOURCE_KEYS = {"hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name", "file_name"}
ENTRY_KEYS = SOURCE_KEYS | {"formatting", "ranking", "subset", "split", "folder", "num_samples", "columns", "tags"}
COLUMN_KEYS = {"prompt", "query", "response", "history", "messages", "system", "tools", "images", "videos",
               "audios", "chosen", "rejected", "kto_tag"}
TAG_KEYS = {"role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag", "function_tag", "system_tag"}
FILEEXT2TYPE = {"arrow": "arrow", "csv": "csv", "json": "json", "jsonl": "json", "parquet": "parquet", "txt": "text"}
SHAREGPT_DEFAULT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                         "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}


def lf_load(dataset_dir, name: str) -> list[dict]:
    """(user turns, assistant turn) of every row, as LLaMA-Factory would align them."""
    info = json.loads((dataset_dir / INFO_FILE).read_text(encoding="utf-8"))
    entry = info[name]
    assert not (set(entry) & (SOURCE_KEYS - {"file_name"})), "a local entry is read from file_name only"
    assert entry.get("formatting", "alpaca") in {"alpaca", "sharegpt", "openai"}
    assert set(entry.get("columns", {})) <= COLUMN_KEYS and set(entry.get("tags", {})) <= TAG_KEYS
    local_path = os.path.join(dataset_dir, entry["file_name"])
    files = [os.path.join(local_path, f) for f in os.listdir(local_path)] if os.path.isdir(local_path) else [local_path]
    types = {FILEEXT2TYPE.get(os.path.splitext(f)[-1][1:]) for f in files}
    assert len(types) == 1 and None not in types, f"file types must be identical and known: {files}"
    return lf_align(load_dataset(types.pop(), data_files=files, split=entry.get("split", "train")), entry)


def lf_align(rows, entry: dict) -> list[dict]:
    """The rows of an entry as LLaMA-Factory's converter for its `formatting` aligns them."""
    assert set(entry) <= ENTRY_KEYS, set(entry) - ENTRY_KEYS
    align = _alpaca if entry.get("formatting", "alpaca") == "alpaca" else _sharegpt
    return [align(row, entry) for row in rows]


def _alpaca(row: dict, entry: dict) -> dict:
    columns = {"prompt": "instruction", "query": "input", "response": "output", **entry.get("columns", {})}
    query = [row[columns[key]] for key in ("prompt", "query") if row[columns[key]]]
    assert isinstance(row[columns["response"]], str)
    return {"user": ["\n".join(query)], "assistant": row[columns["response"]]}


def _sharegpt(row: dict, entry: dict) -> dict:
    tags = {**SHAREGPT_DEFAULT_TAGS, **entry.get("tags", {})}
    messages = row[entry.get("columns", {}).get("messages", "conversations")]
    if messages and messages[0][tags["role_tag"]] == tags["system_tag"]:
        messages = messages[1:]
    accepted = ((tags["user_tag"], tags["observation_tag"]), (tags["assistant_tag"], tags["function_tag"]))
    for index, message in enumerate(messages):
        assert message[tags["role_tag"]] in accepted[index % 2], f"invalid role tag in {messages}"
    assert len(messages) % 2 == 0, f"invalid message count in {messages}"
    contents = [message[tags["content_tag"]] for message in messages]
    return {"user": contents[:-1:2], "assistant": contents[-1]}


@pytest.mark.parametrize("name", ["sft", "messages"])
def test_llamafactory_sees_prompt_and_think_tagged_answer(out, name):
    aligned = lf_load(out, name)
    assert aligned == [{"user": [row["prompt"]], "assistant": sft_output(row["reasoning"], row["response"])}
                       for row in ROWS]


def test_only_trainable_materialized_configs_are_registered(tmp_path):
    assert write_llamafactory_info(tmp_path, ["default", "full"]) is None
    assert not (tmp_path / INFO_FILE).exists()
    write_llamafactory_info(tmp_path, ["default", "messages"])
    assert list(json.loads((tmp_path / INFO_FILE).read_text(encoding="utf-8"))) == ["messages"]


def test_datasets_still_loads_the_folder_beside_dataset_info_json(out):
    """`datasets` also knows a file of that name; it must not mistake the folder for a saved dataset."""
    assert (out / INFO_FILE).exists()
    assert load_dataset(str(out), "sft", split="train")["instruction"] == [row["prompt"] for row in ROWS]
