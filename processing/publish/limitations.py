"""The card's "Limitations": what the build did not check, from the settings it ran with.

Each point follows from the code: verify/verifier.py checks math, exam and STEM rows with
a reference answer and code rows with tests, and only their final answer; verify/judge.py
asks one model; verify/filters.py flags without dropping; pool/decontam.py compares
character n-grams with the configured benchmarks; pool/dedup.py works within the pool.
"""

from __future__ import annotations

from pathlib import Path


def limitations(config) -> str:
    """Markdown bullets for the composed build config (processing.config.Config)."""
    points = [_checks(), _judge(config.judge), _kept(config.verify.select, "full" in config.output.configs),
              _decontam(config.decontam), _dedup(config.dedup),
              "- **The teachers' habits come along.** The reasoning and answers carry each teacher's style, mistakes "
              "and biases; the prompts are single-turn, as the sources wrote them."]
    return "\n".join(points)


def _checks() -> str:
    return ("- **Only some answers are checked, and only the final answer.** A row is checked when it has a "
            "reference answer (math, exam and STEM questions) or test cases (code); other rows are judged or "
            "unscored and keep whatever errors the teacher made. A check compares the final answer with the "
            "source's reference, so a score of 10 says nothing about the reasoning on the way (a wrong step can "
            "still reach the right number), and a wrong reference turns a right answer into a 0.")


def _judge(judge) -> str:
    if judge is None:
        return "- **No judge.** Rows that no check could score are published unscored."
    cut = f"of a longer response it saw the last {judge.max_chars:,} characters"
    seen = "with the reasoning" if judge.show_reasoning else "without the reasoning"
    return (f"- **Judge scores are a model's opinion.** `{judge.name}` rated each row once, {seen}; {cut}. "
            "Its scores are not verified, and another judge would give others.")


def _kept(select, full: bool) -> str:
    if select.min_score is None:
        kept = "Wrong and low-scored answers are kept: filter on `score`."
    else:
        kept = f"Only rows scoring at least {select.min_score:g} were published."
    flags = ("Quality flags (repetition, language mixing, missing final answer, …) are measured, not enforced"
             if not select.drop_flags else f"Rows flagged {', '.join(select.drop_flags)} were left out; other "
             "flags are measured, not enforced")
    where = ": the `full` config lists them per row." if full else "."
    return f"- **Filtering is yours to choose.** {kept} {flags}{where}"


def _decontam(settings) -> str:
    if not settings.benchmarks:
        return ("- **No decontamination.** No benchmark was configured, so prompts were not compared with any test "
                "set: check them against your evaluation data before training.")
    names = ", ".join(b.name or Path(b.path).stem for b in settings.benchmarks)
    return (f"- **Decontamination is by text overlap, against named benchmarks only:** {names}. A prompt was "
            f"removed when it held at least {settings.min_overlap:.0%} of a test question's {settings.ngram}-character "
            "n-grams; a paraphrased, translated or renumbered test question, or one from another benchmark, is not "
            "caught.")


def _dedup(settings) -> str:
    what = " and ".join(kind for kind, on in (("exact", settings.exact), ("near-duplicate (MinHash)", settings.near))
                        if on)
    if not what:
        return "- **No deduplication** was run on the prompts."
    return (f"- **Deduplication is within this pool:** {what} removal on character n-grams; prompts whose numbers "
            "differ are kept as different problems, and nothing was compared with other datasets.")
