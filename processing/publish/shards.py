"""Parquet shards in the Hub layout, written batch by batch with flat memory.

Shards are written under temporary hidden names, closed, then renamed to
`data/<config>/train-NNNNN-of-NNNNN.parquet` once their count is known. The whole dataset
folder is assembled beside the output and swapped in (files.replace_folder), so a loader
never sees a partial shard or a mix of two builds.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SHARD_NAME = "train-{index:05d}-of-{count:05d}.parquet"
# Columns of long, nearly unique text: dictionary encoding cannot shrink them and only
# costs time (measured: a third of the write time of reasoning rows).
LONG_TEXT = frozenset({"prompt", "reasoning", "response", "instruction", "output", "messages"})


def parquet_options(schema: pa.Schema) -> dict:
    """ParquetWriter options shared by the shards and the run directory's row files."""
    return {"compression": "zstd", "write_page_index": True,
            "use_dictionary": [name for name in schema.names if name not in LONG_TEXT]}


def write_parquet(table: pa.Table, path: Path, row_group_bytes: int) -> None:
    """One Parquet file (an import part) with row groups of about `row_group_bytes` and a page index."""
    rows_per_group = max(1, row_group_bytes // max(1, table.nbytes // max(1, table.num_rows)))
    pq.write_table(table, path, row_group_size=rows_per_group, **parquet_options(table.schema))


class ShardWriter:
    """Rows in, shards of at most `max_shard_bytes` and row groups of about `row_group_bytes` out.

    Sizes are uncompressed Arrow bytes: Hub viewers choke on huge row groups, and long
    reasoning rows make row counts a poor measure."""

    def __init__(self, out_dir: Path, config: str, schema: pa.Schema, max_shard_bytes: int, row_group_bytes: int) -> None:
        self.folder = out_dir / "data" / config
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_shard_bytes, self.row_group_bytes = max_shard_bytes, row_group_bytes
        self.rows = 0
        self._parts: list[Path] = []
        self._writer: pq.ParquetWriter | None = None
        self._shard_bytes = 0
        self._pending: list[pa.Table] = []
        self._pending_bytes = 0
        self._schema = schema

    def add(self, table: pa.Table) -> None:
        self._pending.append(table.cast(self._schema))
        self._pending_bytes += table.nbytes
        self.rows += table.num_rows
        if self._pending_bytes >= self.row_group_bytes:
            self._flush()

    def close(self) -> list[Path]:
        """Write what is left and give the shards their final names; returns them."""
        self._flush()
        if self._writer is None and not self._parts:
            self._open()  # no rows: one empty shard, so the config still loads
        self._close_shard()
        final = [part.with_name(SHARD_NAME.format(index=i, count=len(self._parts))) for i, part in enumerate(self._parts)]
        for part, name in zip(self._parts, final):
            part.rename(name)
        return final

    def _flush(self) -> None:
        """Write the pending rows: row groups of about row_group_bytes, a new shard whenever one is full."""
        if not self._pending:
            return
        group = pa.concat_tables(self._pending)
        self._pending, self._pending_bytes = [], 0
        bytes_per_row = max(1, group.nbytes // max(1, group.num_rows))
        offset = 0
        while offset < group.num_rows:
            if self._writer is not None and self._shard_bytes + bytes_per_row > self.max_shard_bytes:
                self._close_shard()
            if self._writer is None:
                self._open()
            room = max(1, (self.max_shard_bytes - self._shard_bytes) // bytes_per_row)
            part = group.slice(offset, room)
            self._writer.write_table(part, row_group_size=max(1, self.row_group_bytes // bytes_per_row))
            self._shard_bytes += part.num_rows * bytes_per_row
            offset += part.num_rows

    def _open(self) -> None:
        part = self.folder / f".part-{len(self._parts):05d}.tmp"
        self._parts.append(part)
        self._writer = pq.ParquetWriter(part, self._schema, **parquet_options(self._schema))
        self._shard_bytes = 0

    def _close_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

