"""Importers: existing distilled datasets into the canonical schema.

Each format maps one published record shape (REFERENCE.md §1) to the canonical columns
(id, prompt, reasoning, response, score, source) plus whatever provenance it carries
(model, category, reference_answer, test_cases, repo_name, token counts). Columns a
format does not carry are null, so imports of different formats concatenate.

Records are converted in batches, so a 1.4M-row AM file never has to fit in memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl

from processing.errors import CrdError
from processing.llm.extract import split_inline
from processing.schema import stable_id
from processing.pool.sources import iter_records

IMPORT_SCHEMA = {
    "id": pl.String,
    "prompt": pl.String,
    "reasoning": pl.String,
    "response": pl.String,
    "score": pl.Float64,
    "source": pl.String,
    "model": pl.String,
    "category": pl.String,
    "reference_answer": pl.String,
    "test_cases": pl.String,
    "repo_name": pl.String,
    "prompt_tokens": pl.Int64,
    "reasoning_tokens": pl.Int64,
    "response_tokens": pl.Int64,
}

Converter = Callable[[dict], dict]


def congliu_category(repo_name: str | None) -> str:
    """Category of a Congliu 110k row from its repo_name (the dataset card's four groups)."""
    name = (repo_name or "").lower()
    if "math" in name or "gsm8k" in name:
        return "math"
    if "stem_zh" in name:
        return "stem"
    if "exam" in name:
        return "exam"
    return "general"


def _congliu_common(record: dict) -> dict:
    repo = record.get("repo_name")
    return {
        "score": record.get("score"),
        "source": repo,
        "repo_name": repo,
        "category": congliu_category(repo),
        "model": "deepseek-r1",
        "prompt_tokens": record.get("prompt_tokens_len"),
        "reasoning_tokens": record.get("reasoning_content_tokens_len"),
        "response_tokens": record.get("content_tokens_len"),
    }


def congliu_raw(record: dict) -> dict:
    """Chinese-DeepSeek-R1-Distill-data-110k, raw file: input / reasoning_content / content."""
    _require(record, "input", "reasoning_content", "content")
    return {
        "prompt": record["input"],
        "reasoning": record["reasoning_content"],
        "response": record["content"],
        **_congliu_common(record),
    }


def congliu_sft(record: dict) -> dict:
    """The same dataset's SFT file: Alpaca-shaped, output with <think>…</think>."""
    return {**alpaca(record), **_congliu_common(record)}


def mxode(record: dict) -> dict:
    """Chinese-Reasoning-Distil-Data: id / prompt / reasoning / response."""
    _require(record, "prompt", "reasoning", "response")
    return {
        "id": record.get("id"),
        "prompt": record["prompt"],
        "reasoning": record["reasoning"],
        "response": record["response"],
        "source": "Mxode/Chinese-Reasoning-Distil-Data",
    }


def am(record: dict) -> dict:
    """AM-DeepSeek-R1-Distilled: messages of {role, content, info}.

    The reasoning and answer come from the assistant's info (think_content /
    answer_content) when present, else from its `<think>…</think>\\n<answer>…</answer>`
    content. The first user turn and the first assistant turn after it are imported.
    """
    _require(record, "messages")
    user, assistant = _first_exchange(record["messages"], {"user"}, {"assistant"})
    user_info = user.get("info") or {}
    info = assistant.get("info") or {}
    reasoning, response = info.get("think_content"), info.get("answer_content")
    if reasoning is None or response is None:
        reasoning, response = _am_content(_turn_text(assistant))
    test_case = user_info.get("test_case")
    return {
        "prompt": _turn_text(user),
        "reasoning": reasoning,
        "response": response,
        "source": user_info.get("source") or info.get("source"),
        "reference_answer": _text(user_info.get("reference_answer")),
        "test_cases": json.dumps(test_case, ensure_ascii=False) if test_case else None,
        "model": "deepseek-r1",
    }


def alpaca(record: dict) -> dict:
    """Alpaca style: instruction / input / output, reasoning split out of <think> tags."""
    _require(record, "instruction", "output")
    split = split_inline(record["output"])
    return {
        "prompt": _join_input(record["instruction"], record.get("input")),
        "reasoning": split.reasoning,
        "response": split.response,
        "source": record.get("source"),
    }


def sharegpt(record: dict) -> dict:
    """ShareGPT style: conversations of {from: human|gpt, value} (or role/content messages)."""
    turns = record.get("conversations", record.get("messages"))
    if turns is None:
        _require(record, "conversations")
    user, assistant = _first_exchange(turns, {"human", "user"}, {"gpt", "assistant"})
    split = split_inline(_turn_text(assistant))
    return {
        "prompt": _turn_text(user),
        "reasoning": split.reasoning,
        "response": split.response,
        "source": record.get("source"),
    }


FORMATS: dict[str, Converter] = {
    "congliu": congliu_raw,
    "congliu-sft": congliu_sft,
    "mxode": mxode,
    "am": am,
    "alpaca": alpaca,
    "sharegpt": sharegpt,
}


def iter_import(format_name: str, path: str | Path, batch_rows: int = 50_000, *,
                encoding: str | None = None) -> Iterator[pl.DataFrame]:
    """The file as canonical frames of at most `batch_rows` rows each; `encoding` of a
    JSON file, detected when None."""
    if format_name not in FORMATS:
        raise CrdError(f"unknown import format {format_name!r}; known: {', '.join(FORMATS)}")
    convert, path = FORMATS[format_name], Path(path)
    batch: list[dict] = []
    for location, record in iter_records(path, encoding):
        try:
            row = convert(record)
        except CrdError as exc:
            raise CrdError(f"{location}: {exc}") from None
        row["id"] = row.get("id") or stable_id(format_name, path.name, location)
        batch.append(row)
        if len(batch) == batch_rows:
            yield _frame(batch)
            batch = []
    if batch:
        yield _frame(batch)


def import_dataset(format_name: str, path: str | Path, *, encoding: str | None = None) -> pl.DataFrame:
    """The whole file as one canonical frame."""
    frames = list(iter_import(format_name, path, encoding=encoding))
    return pl.concat(frames) if frames else pl.DataFrame(schema=IMPORT_SCHEMA)


def _frame(rows: list[dict]) -> pl.DataFrame:
    columns = {name: [row.get(name) for row in rows] for name in IMPORT_SCHEMA}
    return pl.DataFrame(columns, schema=IMPORT_SCHEMA, strict=False)


def _require(record: dict, *fields: str) -> None:
    missing = [field for field in fields if field not in record]
    if missing:
        present = ", ".join(sorted(record)) or "none"
        raise CrdError(f"missing field {missing[0]!r}; fields present: {present}")


def _first_exchange(turns: list[dict] | None, user_roles: set[str], assistant_roles: set[str]) -> tuple[dict, dict]:
    """The first user turn and the first assistant turn after it (role under role or from)."""
    user = None
    for turn in turns or []:
        role = turn.get("role", turn.get("from"))
        if user is None and role in user_roles:
            user = turn
        elif user is not None and role in assistant_roles:
            return user, turn
    raise CrdError(f"no {'/'.join(sorted(user_roles))} turn followed by a {'/'.join(sorted(assistant_roles))} turn")


def _turn_text(turn: dict) -> str:
    return turn.get("value", turn.get("content")) or ""


def _am_content(content: str) -> tuple[str, str]:
    """Split AM's literal `<think>…</think>\\n<answer>\\n…\\n</answer>` content."""
    split = split_inline(content)
    response = split.response
    if response.startswith("<answer>"):
        response = response[len("<answer>") :]
    if response.endswith("</answer>"):
        response = response[: -len("</answer>")]
    return split.reasoning, response.strip()


def _join_input(instruction: str, extra: str | None) -> str:
    return f"{instruction}\n{extra}" if extra else instruction


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
