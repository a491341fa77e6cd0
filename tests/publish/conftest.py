"""Fixtures of the publishing tests."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import pytest

from helpers import SHARED_DATA
from output_folder import write_output

ALPACA = SHARED_DATA / "instructions" / "alpaca_zh.jsonl"
TRAINING_LINES = 300


@pytest.fixture
def out(tmp_path) -> Path:
    return write_output(tmp_path / "out")


@pytest.fixture(scope="session")
def train_tokenizer(tmp_path_factory):
    """Train a small byte-level BPE tokenizer on real Chinese text and save its tokenizer.json:
    `train_tokenizer(vocab_size)` -> the file. It adds a BOS token, as most models' tokenizers do,
    so counting special tokens by mistake would show."""
    if not ALPACA.exists():
        pytest.skip(f"{ALPACA} is absent: the test tokenizer is trained on its Chinese text")
    tokenizers = pytest.importorskip("tokenizers", reason="the `tokens` extra is not installed")
    with ALPACA.open(encoding="utf-8") as lines:
        texts = [" ".join(json.loads(line).values()) for line in islice(lines, TRAINING_LINES)]

    def train(vocab_size: int) -> Path:
        tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE())
        tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = tokenizers.decoders.ByteLevel()
        trainer = tokenizers.trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<s>"],
                                                 initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
        tokenizer.train_from_iterator(texts, trainer)
        tokenizer.post_processor = tokenizers.processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
        path = tmp_path_factory.mktemp(f"tokenizer-{vocab_size}") / "tokenizer.json"
        tokenizer.save(str(path))
        return path

    return train
