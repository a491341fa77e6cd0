"""Settings of the verification stage (TOML table `[verify]`) and of the LLM judge (`[judge]`)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from processing.llm.settings import ModelConfig
from processing.settings import Strict


class VerifyConfig(Strict):
    timeout: float = Field(
        10.0, gt=0,
        description="hard limit in seconds for one Math-Verify check; the worker running it is killed and replaced",
    )
    workers: int = Field(2, ge=1, description="Math-Verify worker processes (most rows never reach them)")


JudgeMode = Literal["quality", "correctness"]
JUDGE_MODES: tuple[str, ...] = get_args(JudgeMode)
# Keys of [[models]] that only make sense for a teacher: the judge answers once per row.
TEACHER_ONLY = ("weight", "samples")


class JudgeSettings(ModelConfig):
    """The LLM judge (TOML table `[judge]`): the keys of a [[models]] entry, plus how it judges.

    Flat rather than a `[judge.model]` sub-table: the judge is one model, written exactly
    like a teacher or a complexity scorer, and the judging keys below are named so they
    cannot be mistaken for model keys. Defaults differ from a teacher's where a judge
    differs: temperature 0 (the same reply on a rerun) and a short reply.
    """

    temperature: float = 0.0
    max_tokens: int = Field(1024, ge=1, description="raise it for a judge that reasons before it replies")
    modes: list[JudgeMode] = Field(
        list(JUDGE_MODES), min_length=1,
        description="which rows left unscored by math/choice/code are judged: quality (no reference answer: "
                    "0–10 on harmlessness, helpfulness, correctness), correctness (a reference answer but no "
                    "answer the verifier could read: 10 or 0)")
    combine: Literal["min", "mean"] = Field(
        "min", description="how the three quality ratings make the score; min: a harmful answer cannot score high")
    reasks: int = Field(1, ge=0, description="times an unreadable verdict is asked again with a stricter wording")
    max_chars: int = Field(6000, ge=200, description="longer responses (and reasoning) are cut to their last characters")
    max_prompt_chars: int = Field(4000, ge=200,
                                  description="longer prompts and reference answers keep their start and end")
    show_reasoning: bool = Field(False, description="show the judge the reasoning too, not only the response")

    @model_validator(mode="after")
    def _no_teacher_keys(self) -> JudgeSettings:
        given = [key for key in TEACHER_ONLY if key in self.model_fields_set]
        if given:
            raise ValueError(f"{', '.join(given)}: a teacher setting; the judge asks once per row "
                             f"(reasks sets how often an unreadable verdict is asked again)")
        return self
