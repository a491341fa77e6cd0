"""The Parquet writer shared by the build's shards and `crd import` parts."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from processing.publish.shards import write_parquet


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
