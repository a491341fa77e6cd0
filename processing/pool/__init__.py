"""Instruction pools in: sources, importers, clean, dedup, decontam."""
