"""The dataset out: shards, card, plots, LLaMA-Factory registration, Hub push and pull, the semantic map."""
