"""The base of every stage's settings model, and the category names they share."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Category = Literal["math", "exam", "stem", "general", "code"]


class Strict(BaseModel):
    """Unknown keys are typos: refuse them instead of silently ignoring them."""

    model_config = ConfigDict(extra="forbid")
