"""`datasets` builder for a crd dataset folder: configs default, sft, messages, full.

`default`, `sft` and `messages` are derived on the fly from the default shards
(`data/default/train-*.parquet`); `full` reads the full shards. Point `data_dir` at the
dataset folder that `crd build` / `crd demo` wrote.

With `datasets` 4 or newer (scripts are no longer loaded by `load_dataset`), import and call:

    from chinese_reasoning_distil import ChineseReasoningDistil
    builder = ChineseReasoningDistil(config_name="sft", data_dir="out/demo")
    builder.download_and_prepare()
    ds = builder.as_dataset(split="train")

With `datasets` < 4:

    load_dataset("path/to/chinese_reasoning_distil.py", "sft", data_dir="out/demo")

Either way `processing` (this package) must be importable: the formatting lives there once.
Without a builder, `load_dataset("out/demo", "sft")` reads the materialized shards directly.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from processing.schema import SCHEMAS, derive

try:  # datasets >= 4 wants typed keys; older versions take any hashable key
    from datasets.builder import Key
except ImportError:
    def Key(shard: int, batch: int) -> str:  # noqa: N802 - stands in for the class
        return f"{shard}_{batch}"

_SOURCE_SHARDS = {"default": "default", "sft": "default", "messages": "default", "full": "full"}


class ChineseReasoningDistil(datasets.ArrowBasedBuilder):
    """Chinese reasoning-distillation rows, ready for SFT."""

    BUILDER_CONFIGS = [
        datasets.BuilderConfig(name="default", description="id, prompt, reasoning, response, score, source"),
        datasets.BuilderConfig(name="sft", description="id, instruction, input, output (<think>…</think> + answer), score, source"),
        datasets.BuilderConfig(name="messages", description="id, messages [user, assistant], score, source"),
        datasets.BuilderConfig(name="full", description="default columns plus provenance (model, category, tokens, …)"),
    ]
    DEFAULT_CONFIG_NAME = "default"

    def __init__(self, *args, data_dir: str | None = None, **kwargs) -> None:
        # The `datasets` cache is keyed by this hash: deriving it from the shards themselves
        # makes a rebuilt folder miss the cache instead of serving the previous build's rows.
        if data_dir is not None:
            kwargs.setdefault("hash", shards_fingerprint(Path(data_dir)))
        super().__init__(*args, data_dir=data_dir, **kwargs)

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description="Chinese prompts with a teacher model's reasoning and answer.",
            features=datasets.Features.from_arrow_schema(SCHEMAS[self.config.name]),
        )

    def _split_generators(self, dl_manager):
        if not self.config.data_dir:
            raise ValueError("pass data_dir= the dataset folder written by `crd build` or `crd demo`")
        folder = Path(self.config.data_dir) / "data" / _SOURCE_SHARDS[self.config.name]
        files = sorted(folder.glob("train-*.parquet"))
        if not files:
            raise FileNotFoundError(f"no shards in {folder}; was this config materialized?")
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={"files": files})]

    def _generate_tables(self, files):
        for file_index, path in enumerate(files):
            for batch_index, batch in enumerate(pq.ParquetFile(path).iter_batches(batch_size=1024)):
                table = derive(pa.Table.from_batches([batch]), self.config.name)
                yield Key(file_index, batch_index), table



def shards_fingerprint(data_dir: Path) -> str:
    """A hash of every shard's name, size and modification time: it changes with each build."""
    hasher = hashlib.blake2b(digest_size=8)
    for path in sorted((data_dir / "data").glob("*/train-*.parquet")):
        stat = path.stat()
        hasher.update(f"{path.relative_to(data_dir)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return hasher.hexdigest()
