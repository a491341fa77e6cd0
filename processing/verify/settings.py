"""Settings of the verification stage (TOML table `[verify]`, with `[verify.code]` and
`[verify.filters]`) and of the LLM judge (`[judge]`)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator

from processing.llm.settings import ModelConfig
from processing.settings import Strict


class CodeSettings(Strict):
    """Running model-written Python against test cases (TOML table `[verify.code]`)."""

    workers: int = Field(2, ge=1, description="programs run at once")
    timeout: float = Field(30.0, gt=0, description="wall seconds for all tests of one response; then the whole sandbox is killed")
    test_timeout: float = Field(5.0, gt=0, description="wall seconds for one test case")
    cpu_seconds: int = Field(30, ge=1, description="CPU seconds for each sandboxed process")
    memory_mb: int = Field(2048, ge=64, description="address space of each sandboxed process")
    file_size_mb: int = Field(16, ge=1, description="largest file a sandboxed process may write")
    disk_mb: int = Field(64, ge=1, description="size of the sandbox's private /tmp (namespaces only)")
    processes: int = Field(32, ge=2, description="processes and threads the sandboxed code may have")
    output_kb: int = Field(1024, ge=1, description="stdout kept per test case; more fails the case")
    isolation: Literal["namespaces", "rlimits"] = Field(
        "namespaces",
        description="namespaces: no network, a read-only filesystem and a private process tree "
        "(code rows get note `no-sandbox` where the OS refuses them); rlimits: only resource "
        "limits, a process group and a scrubbed environment, for machines without namespaces",
    )
    hidden_dirs: list[str] = Field(
        default_factory=lambda: ["/root", "/home"],
        description="directories replaced by an empty one inside the sandbox; the interpreter's own files "
        "stay visible, so list here any private directory it lives in (pyenv under /root)",
    )
    sandbox_uid: int = Field(
        61000,
        ge=1,
        description="when crd runs as root, sandboxed code runs as this uid plus the worker number; "
        "pick ids no account uses",
    )


class FilterSettings(Strict):
    """Quality flags on generated rows (TOML table `[verify.filters]`).

    Language is measured on prose: fenced and inline code, LaTeX and URLs are removed first,
    numbers count for neither side. English counts only in runs of three or more words, so
    names, variables and code identifiers do not. Defaults were measured on ../shared/data
    (see tests/verify/test_filters.py): Alpaca-zh outputs, Ape210K problems.
    """

    min_reasoning_chars: int = Field(1, ge=1, description="reasoning shorter than this (stripped) is missing")
    chinese_prompt: float = Field(
        0.5, ge=0, le=1, description="a prompt is Chinese when Han characters / (Han + English words in runs) reaches this"
    )
    min_chinese_response: float = Field(
        0.5, ge=0, le=1, description="the same share below which a Chinese prompt's response is not mainly Chinese"
    )
    other_language_prompt: str = Field(
        r"翻译|译成|译为|[用以](?:英|日|法|德|韩|俄|西班牙|葡萄牙|意大利|阿拉伯)[语文]"
        r"|(?:英|日|法|德|韩|俄)文(?:邮件|信|句子|短语|名字|标题|摘要|版本|诗)|[Tt]ranslat|[Ii]n English",
        description="prompts matching this (regex) may be answered in another language: no language flags",
    )
    max_english_run: int = Field(
        12, ge=3, description="longest run of English words allowed in the reasoning of a Chinese prompt"
    )
    quoting_run: int = Field(
        6, ge=3, description="a prompt holding an English run this long is quoted in the reasoning: no mixing flag"
    )
    mixing_exempt: list[str] = Field(default_factory=lambda: ["code"], description="categories without the mixing flag")
    ngram: int = Field(20, ge=2, description="characters in the n-grams counted for repetition")
    max_ngram_repeats: int = Field(20, ge=1, description="an n-gram seen more often than this in one row is repetition")
    answer_categories: list[str] = Field(
        default_factory=lambda: ["math"], description="categories whose response must state a final answer"
    )

    @field_validator("other_language_prompt")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        """Refused here, with the key's name, rather than by polars halfway through a run."""
        import polars as pl  # not at import time: Math-Verify workers import this module

        try:
            pl.Series([""]).str.contains(pattern)
        except pl.exceptions.ComputeError as exc:
            raise ValueError(f"not a regular expression: {str(exc).splitlines()[0]}") from None
        return pattern


class SelectSettings(Strict):
    """Which verified rows are published (TOML table `[verify.select]`); by default all of them."""

    min_score: float | None = Field(None, ge=0, le=10, description="publish only rows scoring at least this (unscored rows are left out)")
    drop_flags: list[str] = Field([], description="quality flags whose rows are not published, e.g. [\"repetition\"]")
    best_of_n: bool = Field(False, description="with several samples per prompt, publish the best-scored one")


class VerifyConfig(Strict):
    timeout: float = Field(
        10.0, gt=0,
        description="hard limit in seconds for one Math-Verify check; the worker running it is killed and replaced",
    )
    workers: int = Field(2, ge=1, description="Math-Verify worker processes (most rows never reach them)")
    code: CodeSettings = CodeSettings()
    filters: FilterSettings = FilterSettings()
    select: SelectSettings = SelectSettings()


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
