"""Talking to OpenAI-compatible teachers: one client factory, reasoning extraction."""
