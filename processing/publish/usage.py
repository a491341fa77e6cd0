"""The card's "Use it" section: loading every materialized config, and training recipes.

Facts the snippets rely on, checked against the libraries' sources:
- TRL's `SFTConfig` (trl/trainer/sft_config.py): `assistant_only_loss` puts the loss on
  assistant turns of a conversational dataset; it needs a chat template with
  `{% generation %}` markers, which SFTTrainer (TRL 1.1 and later) swaps in for the
  model families it knows and otherwise refuses; `chat_template_path` sets another
  template; `max_length` defaults to 1024 tokens, far shorter than most reasoning.
- The stock DeepSeek-R1-Distill chat template replaces every assistant message by what
  follows its last `</think>`, so it would train the answers without the reasoning.
- LLaMA-Factory reads `dataset_info.json` from a local `dataset_dir` (its "REMOTE:" form
  fetches only that file, not the shards it names), or an entry's `hf_hub_url` with
  `subset` (the config) from the Hub; its `deepseekr1` template keeps the `<think>` block
  of the trained turn.
"""

from __future__ import annotations

import json

from processing.publish.llamafactory import ENTRIES, llamafactory_entries
from processing.schema import SCHEMAS

VARIABLES = {"default": "rows", "sft": "sft", "messages": "chat", "full": "full"}
COLUMNS_SHOWN = 6  # a longer column list is summarised in the snippet's comment
DEFAULT_MAX_LENGTH = 16_384
TOKEN_BLOCK = 1024  # a suggested max_length is rounded up to a multiple of this


def max_length_for(tokens_p99: float | None) -> int:
    """The sequence length to suggest: the 99th percentile of a row's tokens, rounded up; a
    generous default when no tokenizer was configured."""
    if tokens_p99 is None:
        return DEFAULT_MAX_LENGTH
    return max(TOKEN_BLOCK, -(-int(tokens_p99) // TOKEN_BLOCK) * TOKEN_BLOCK)


def use_it(configs: list[str], repo_id: str, max_length: int, length_note: str) -> str:
    """Markdown: a load line per config, then TRL and LLaMA-Factory recipes for the configs they read.

    `length_note` says where `max_length` comes from (the configured tokenizer's counts, or none)."""
    parts = [_load(configs, repo_id)]
    if "messages" in configs:
        parts.append(_trl(repo_id, max_length, length_note))
    entries = list(llamafactory_entries(configs))
    if entries:
        parts.append(_llamafactory(entries, repo_id, max_length))
    return "\n\n".join(parts)


def _load(configs: list[str], repo_id: str) -> str:
    width = max(len(f'{VARIABLES[name]} = load_dataset("{repo_id}", "{name}", split="train")') for name in configs)
    lines = []
    for name in configs:
        call = f'{VARIABLES[name]} = load_dataset("{repo_id}", "{name}", split="train")'
        lines.append(f"{call:<{width}}  # {_columns(name)}")
    return "### Load\n\n```python\nfrom datasets import load_dataset\n\n" + "\n".join(lines) + "\n```"


def _columns(name: str) -> str:
    names = SCHEMAS[name].names
    if len(names) <= COLUMNS_SHOWN:
        return ", ".join(names)
    return f"{len(names)} columns: {', '.join(names[:COLUMNS_SHOWN - 2])}, … (provenance and verification)"


def _trl(repo_id: str, max_length: int, length_note: str) -> str:
    return f"""### Train with TRL

```python
from datasets import load_dataset
from trl import SFTConfig, SFTTrainer

chat = load_dataset("{repo_id}", "messages", split="train")
chat = chat.filter(lambda row: row["score"] == 10)  # optional: only rows scored 10
trainer = SFTTrainer(
    model="Qwen/Qwen2.5-7B-Instruct",  # your student model
    train_dataset=chat,
    args=SFTConfig(
        output_dir="sft-out",
        assistant_only_loss=True,  # loss on the assistant turn (reasoning and answer), not on the prompt
        max_length={max_length},  # {length_note}
    ),
)
trainer.train()
```

The assistant turn is `<think>\\n` + reasoning + `\\n</think>\\n\\n` + answer, and the chat
template decides whether the model sees it whole. `assistant_only_loss=True` needs a
template with `{{% generation %}}` markers; TRL 1.1 and later substitute one for the model
families they know (Qwen2.5, Qwen3, Llama 3, …), and those keep the `<think>` block. **The stock
DeepSeek-R1-Distill chat template does not:** it replaces every assistant message by what
follows `</think>`, so a student trained through it learns the answers without the
reasoning. To continue training a DeepSeek-R1-Distill model, give `SFTConfig` a template
that renders assistant content unchanged inside `{{% generation %}}` …
`{{% endgeneration %}}` (`chat_template_path=`); where TRL has no training version of a
template it stops with an error rather than train on the wrong text."""


def _llamafactory(entries: list[str], repo_id: str, max_length: int) -> str:
    folder = repo_id.rstrip("/").split("/")[-1]
    other = f"  # or {', '.join(entries[1:])}: the same rows" if len(entries) > 1 else ""
    from_hub = {f"{folder}_{name}": {"hf_hub_url": repo_id, "subset": name, **ENTRIES[name]} for name in entries}
    return f"""### Train with LLaMA-Factory

In a local copy of this folder, `dataset_info.json` registers {' and '.join(f'`{name}`' for name in entries)}.
Add to the training YAML, with the student's own template (`qwen` for Qwen2.5;
`deepseekr1` for a DeepSeek-R1-Distill model, which keeps `<think>` in the trained turn):

```yaml
dataset_dir: {folder}  # the local copy holding dataset_info.json
dataset: {entries[0]}{other}
template: qwen
cutoff_len: {max_length}
```

To read it from the Hub instead, add these entries to your own `dataset_info.json` and name
one of them in `dataset`:

```json
{_one_entry_a_line(from_hub)}
```"""


def _one_entry_a_line(entries: dict) -> str:
    lines = [f"  {json.dumps(name)}: {json.dumps(entry, ensure_ascii=False)}" for name, entry in entries.items()]
    return "{\n" + ",\n".join(lines) + "\n}"
