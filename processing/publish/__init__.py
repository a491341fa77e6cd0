"""The dataset out: shards, card, plots."""
