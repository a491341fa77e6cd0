"""A small output folder written by the build's own writers, for the publishing tests."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import yaml

from processing.publish.llamafactory import write_llamafactory_info
from processing.publish.shards import ShardWriter
from processing.schema import FULL_SCHEMA, SCHEMAS, derive

CONFIGS = ["default", "sft", "messages", "full"]
ROWS = [
    {"prompt": "鸡兔同笼，共有头35个，脚94只，问鸡兔各几只？", "reasoning": "设鸡x只……", "response": "鸡23只，兔12只。", "score": 10.0},
    {"prompt": "把“春眠不觉晓”翻译成英文。", "reasoning": "这是孟浩然的诗。", "response": "Asleep in spring, I miss the dawn.", "score": None},
]


def write_output(out: Path, rows: list[dict] = ROWS, max_shard_bytes: int = 1 << 20) -> Path:
    full = pa.Table.from_pylist(
        [{**row, "id": f"id{index:010d}", "source": "测试", "prompt_id": str(index)} for index, row in enumerate(rows)],
        schema=FULL_SCHEMA,
    )
    for name in CONFIGS:
        writer = ShardWriter(out, name, SCHEMAS[name], max_shard_bytes=max_shard_bytes, row_group_bytes=1 << 16)
        writer.add(derive(full, name))
        writer.close()
    write_llamafactory_info(out, CONFIGS)
    configs = [{"config_name": name, "data_files": [{"split": "train", "path": f"data/{name}/train-*"}]}
               for name in CONFIGS]
    header = yaml.safe_dump({"license": "apache-2.0", "language": ["zh"], "configs": configs}, allow_unicode=True,
                            sort_keys=False)
    (out / "README.md").write_text(f"---\n{header}---\n\n# 测试数据\n", encoding="utf-8")
    (out / "images").mkdir(exist_ok=True)
    (out / "images" / "scores.png").write_bytes(b"\x89PNG\r\n\x1a\n fake")
    return out
