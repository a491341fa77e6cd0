"""Parquet shards in the Hub layout, written so a loader never sees a partial one.

Each config is written into a hidden staging folder, then swapped in with renames:
`data/<config>/train-NNNNN-of-NNNNN.parquet` either holds the old complete set or the
new complete set.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SHARD_NAME = "train-{index:05d}-of-{count:05d}.parquet"


def write_config(table: pa.Table, out_dir: Path, config: str, max_shard_bytes: int, row_group_bytes: int) -> list[Path]:
    """Write `table` as the shards of one config; returns the final shard paths."""
    data_dir = out_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = data_dir / f".{config}.staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    names = _write_shards(table, staging, max_shard_bytes, row_group_bytes)
    _swap_in(staging, data_dir / config)
    return [data_dir / config / name for name in names]


def write_parquet(table: pa.Table, path: Path, row_group_bytes: int) -> None:
    """One Parquet file with row groups of about `row_group_bytes` uncompressed and a page index.

    Hub viewers choke on huge row groups, and long reasoning rows make a row count a poor
    measure, so the group size comes from the table's average bytes per row.
    """
    rows_per_group = max(1, row_group_bytes // _bytes_per_row(table))
    pq.write_table(table, path, row_group_size=rows_per_group, compression="zstd", write_page_index=True)


def _write_shards(table: pa.Table, folder: Path, max_shard_bytes: int, row_group_bytes: int) -> list[str]:
    rows_per_shard = max(1, max_shard_bytes // _bytes_per_row(table))
    count = max(1, math.ceil(table.num_rows / rows_per_shard))
    names = []
    for index in range(count):
        name = SHARD_NAME.format(index=index, count=count)
        write_parquet(table.slice(index * rows_per_shard, rows_per_shard), folder / name, row_group_bytes)
        names.append(name)
    return names


def _bytes_per_row(table: pa.Table) -> int:
    return max(1, table.nbytes // max(1, table.num_rows))


def _swap_in(staging: Path, final: Path) -> None:
    retired = final.with_name(f".{final.name}.retired")
    shutil.rmtree(retired, ignore_errors=True)
    if final.exists():
        final.rename(retired)
    staging.rename(final)
    shutil.rmtree(retired, ignore_errors=True)

