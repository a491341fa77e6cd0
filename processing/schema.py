"""Canonical columns, Arrow schemas, stable ids and the SFT / messages formats.

This is the one place that writes `<think>…</think>`: every config derived from the
default rows goes through `sft_output` / `sft_output_column`.
"""

from __future__ import annotations

import hashlib
from itertools import count

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from nanoid.method import method as nanoid_method
from nanoid.resources import alphabet as NANOID_ALPHABET

ID_LENGTH = 12
THINK_OPEN = "<think>\n"
THINK_CLOSE = "\n</think>\n\n"

DEFAULT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("prompt", pa.string()),
        ("reasoning", pa.string()),
        ("response", pa.string()),
        ("score", pa.float64()),
        ("source", pa.string()),
    ]
)

# Provenance kept out of `default` so trainers never get surprise columns.
FULL_SCHEMA = pa.schema(
    list(DEFAULT_SCHEMA)
    + [
        ("prompt_id", pa.string()),
        ("model", pa.string()),
        ("sample", pa.int32()),
        ("category", pa.string()),
        ("complexity", pa.float64()),
        ("tier", pa.string()),
        ("verify_method", pa.string()),
        ("verify_note", pa.string()),
        ("judge_parts", pa.string()),
        ("quality_flags", pa.list_(pa.string())),
        ("reference_answer", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("reasoning_tokens", pa.int64()),
        ("finish_reason", pa.string()),
        ("created_at", pa.string()),
        ("system_fingerprint", pa.string()),  # as the server sent it: "crd-simulator" marks simulated rows
    ]
)

SFT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("instruction", pa.string()),
        ("input", pa.string()),
        ("output", pa.string()),
        ("score", pa.float64()),
        ("source", pa.string()),
    ]
)

MESSAGE_TYPE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("messages", pa.list_(MESSAGE_TYPE)),
        ("score", pa.float64()),
        ("source", pa.string()),
    ]
)

SCHEMAS = {
    "default": DEFAULT_SCHEMA,
    "sft": SFT_SCHEMA,
    "messages": MESSAGES_SCHEMA,
    "full": FULL_SCHEMA,
}
CONFIG_NAMES = tuple(SCHEMAS)


def sft_output(reasoning: str, response: str) -> str:
    """The assistant turn a trainer sees: reasoning in think tags, then the answer."""
    return THINK_OPEN + reasoning + THINK_CLOSE + response


def sft_output_column(reasoning: pa.ChunkedArray, response: pa.ChunkedArray) -> pa.ChunkedArray:
    """`sft_output` over whole columns, in Arrow, for large tables."""
    return pc.binary_join_element_wise(THINK_OPEN, reasoning, THINK_CLOSE, response, "")


def to_messages(prompt: str, output: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]


def messages_column(prompts: pa.ChunkedArray, outputs: pa.ChunkedArray) -> pa.Array:
    """`to_messages` over whole columns, in Arrow: [user, assistant] per row without Python strings."""
    rows = len(prompts)
    contents = pa.concat_arrays([prompts.combine_chunks(), outputs.combine_chunks()])
    interleaved = pa.array(np.arange(2 * rows).reshape(2, rows).T.ravel())  # p0, o0, p1, o1, ...
    roles = pa.array(np.tile(np.array(["user", "assistant"], dtype=object), rows), pa.string())
    turns = pa.StructArray.from_arrays([roles, contents.take(interleaved)], fields=list(MESSAGE_TYPE))
    return pa.ListArray.from_arrays(pa.array(np.arange(0, 2 * rows + 1, 2, dtype=np.int32)), turns)


def derive(table: pa.Table, config: str) -> pa.Table:
    """Build any config from a table holding at least the default columns."""
    if config in ("default", "full"):
        return table.select(SCHEMAS[config].names).cast(SCHEMAS[config])
    output = sft_output_column(table["reasoning"], table["response"])
    if config == "sft":
        columns = {
            "id": table["id"],
            "instruction": table["prompt"],
            "input": pa.array([""] * table.num_rows, pa.string()),
            "output": output,
            "score": table["score"],
            "source": table["source"],
        }
        return pa.table(columns, schema=SFT_SCHEMA)
    if config == "messages":
        columns = {
            "id": table["id"],
            "messages": messages_column(table["prompt"], output),
            "score": table["score"],
            "source": table["source"],
        }
        return pa.table(columns, schema=MESSAGES_SCHEMA)
    raise ValueError(f"unknown config {config!r}; known: {', '.join(CONFIG_NAMES)}")


def stable_id(*parts: object) -> str:
    """A 12-character nanoid that is a pure function of `parts`.

    nanoid draws random bytes; feeding it a hash-seeded byte stream instead keeps its
    alphabet and uniform mapping while making the id reproducible across runs.
    """
    seed = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=32).digest()
    counter = count()

    def deterministic_bytes(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.blake2b(seed + next(counter).to_bytes(8, "little")).digest()
        return out[:n]

    return nanoid_method(deterministic_bytes, NANOID_ALPHABET, ID_LENGTH)
