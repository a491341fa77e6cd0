from __future__ import annotations

import pyarrow as pa
import pytest

from processing.schema import DEFAULT_SCHEMA, NANOID_ALPHABET, SCHEMAS, derive, sft_output, stable_id


def default_table() -> pa.Table:
    return pa.table(
        {
            "id": ["a", "b"],
            "prompt": ["问题一", "问题二"],
            "reasoning": ["想一想", ""],
            "response": ["答案是 \\boxed{1}", "好的"],
            "score": [10.0, None],
            "source": ["s", "t"],
        },
        schema=DEFAULT_SCHEMA,
    )


def test_stable_id_is_a_pure_function_of_its_parts():
    assert stable_id("src", "问题", 0) == stable_id("src", "问题", 0)
    assert stable_id("src", "问题", 0) != stable_id("src", "问题", 1)
    assert stable_id("a", "bc") != stable_id("ab", "c")


def test_stable_ids_look_like_nanoids_and_do_not_collide():
    ids = [stable_id("pool", i) for i in range(20000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 12 and set(i) <= set(NANOID_ALPHABET) for i in ids)


def test_sft_output_bytes():
    assert sft_output("r", "s") == "<think>\nr\n</think>\n\ns"


@pytest.mark.parametrize("config", ["default", "sft", "messages"])
def test_derive_gives_the_config_schema(config):
    table = default_table()
    derived = derive(table, config)
    assert derived.schema == SCHEMAS[config]
    assert derived.num_rows == table.num_rows


def test_derived_sft_and_messages_agree_with_the_python_formatter():
    table = default_table()
    sft = derive(table, "sft").to_pylist()
    messages = derive(table, "messages").to_pylist()
    for row, s, m in zip(table.to_pylist(), sft, messages):
        assert s["output"] == sft_output(row["reasoning"], row["response"])
        assert m["messages"][1]["content"] == s["output"]
        assert m["messages"][0] == {"role": "user", "content": row["prompt"]}


def test_unknown_config_is_refused():
    with pytest.raises(ValueError, match="unknown config"):
        derive(default_table(), "chat")
