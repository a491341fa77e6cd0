"""The Parquet writer shared by the build's shards and `crd import` parts."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from processing.publish.shards import ShardWriter, write_parquet
from processing.schema import SCHEMAS, derive


def test_row_groups_are_sized_by_bytes_not_rows(tmp_path):
    long_rows = pa.table({"reasoning": ["推理" * 2_000] * 400})  # about 12 kB a row
    short_rows = pa.table({"reasoning": ["短"] * 400})
    write_parquet(long_rows, tmp_path / "long.parquet", row_group_bytes=1_000_000)
    write_parquet(short_rows, tmp_path / "short.parquet", row_group_bytes=1_000_000)
    long_meta = pq.ParquetFile(tmp_path / "long.parquet").metadata
    assert long_meta.num_row_groups > 1
    bytes_per_row = long_rows.nbytes / long_rows.num_rows
    for index in range(long_meta.num_row_groups):
        assert long_meta.row_group(index).num_rows * bytes_per_row <= 1_000_000
    assert pq.ParquetFile(tmp_path / "short.parquet").metadata.num_row_groups == 1


def test_every_column_has_a_page_index(tmp_path):
    table = pa.table({"id": ["a", "b"], "score": [10.0, None]})
    write_parquet(table, tmp_path / "t.parquet", row_group_bytes=1 << 20)
    meta = pq.ParquetFile(tmp_path / "t.parquet").metadata
    for column in range(meta.num_columns):
        chunk = meta.row_group(0).column(column)
        assert chunk.has_offset_index and chunk.has_column_index
    assert pq.read_table(tmp_path / "t.parquet").equals(table)


def reasoning_rows(count: int, start: int = 0) -> pa.Table:
    rows = [{"id": f"r{i}", "prompt": f"第{i}题", "reasoning": "推理" * 2_000, "response": "答", "score": 1.0,
             "source": "s"} for i in range(start, start + count)]
    return pa.Table.from_pylist(rows, schema=SCHEMAS["default"])


def test_the_shard_writer_rotates_shards_by_bytes_and_names_them_when_done(tmp_path):
    writer = ShardWriter(tmp_path, "sft", SCHEMAS["sft"], max_shard_bytes=1_000_000, row_group_bytes=200_000)
    for start in range(0, 300, 50):  # batches as the build streams them
        writer.add(derive(reasoning_rows(50, start), "sft"))
    shards = writer.close()
    assert len(shards) > 1
    assert [path.name for path in shards] == [f"train-{i:05d}-of-{len(shards):05d}.parquet" for i in range(len(shards))]
    assert not list((tmp_path / "data" / "sft").glob(".*")), "no temporary part is left"
    ids = [i for path in shards for i in pq.read_table(path)["id"].to_pylist()]
    assert ids == [f"r{i}" for i in range(300)]
    for path in shards:
        meta = pq.ParquetFile(path).metadata
        assert all(meta.row_group(g).total_byte_size <= 2 * 200_000 for g in range(meta.num_row_groups))


def test_a_config_with_no_rows_still_gets_one_loadable_shard(tmp_path):
    shards = ShardWriter(tmp_path, "default", SCHEMAS["default"], 1 << 20, 1 << 16).close()
    assert [path.name for path in shards] == ["train-00000-of-00001.parquet"]
    assert pq.read_table(shards[0]).schema.equals(SCHEMAS["default"])
