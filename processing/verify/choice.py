"""Multiple choice: which option letters the reference names, and which the response settles on.

A response's choice is read in order of trust, and the first tier that finds one decides:
1. the last `\\boxed{}` holding letters (`\\boxed{C}`, `\\boxed{B,C}`);
2. the last explicit statement (`答案：C`, `答案选C`, `故选：C`, `所以选C`, `正确的是C`,
   `最终答案：**C**`, lowercase `答案：c`), skipping negated or hypothetical mentions
   (`不选A`, `如果选A`), so an answer stated first wins over letters named later while the
   other options are discussed;
3. every option judged right (`C选项正确`, `C项符合题意`), together;
4. a line holding nothing but letters (`**C**`, `（C）`).
A statement naming several letters (`答案：D、B`, `答案是B，也可能是D`) is compared as that
set, so a hedge on a single-answer question is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from processing.verify.normalize import plain

_LETTER_SET = r"[A-H]+(?:[ \t]*(?:、|,|，|和|与|及|或者|或|/|[ \t])[ \t]*[A-H]+)*"
_LETTERS = re.compile(_LETTER_SET)
_STATED = rf"({_LETTER_SET}|[a-h])(?![A-Za-z])"
_GLUE = r"[ \t]*(?:可能|应该|应|是|为|选|选择|:|\(|项)*[ \t]*"
_STRONG = re.compile(
    r"(?:正确答案|最终答案|答案|正确选项|(?<![回解作])答(?=[ \t]*:)|应该选|应选|故选|所以选|因此选|因而选|则选|本题选|"
    r"(?<![不误错会易若果没未候挑筛可能要想再以])选择?(?!项)|(?:不正确|错误|正确)的(?:选项)?(?:是|为)|"
    r"[Aa]nswer(?: is)?)"
    + _GLUE + _STATED
)
_JUDGED = re.compile(r"(?<![A-Za-z])([A-H])[ \t]*(?:选项|项)?[ \t]*(?:是|为)?(?:正确|符合题意|符合要求|说法正确)")
_HEDGE = re.compile(
    r"(?:也可能|也有可能|还可能|或者是|或许是)[ \t]*(?:是|选)?[ \t]*([A-H])(?![A-Za-z])"
    r"|(?<![A-Za-z])([A-H])[ \t]*(?:选项|项)?[ \t]*也(?:可能|有可能|对|正确|可以|说得通)"
)
_ALONE = re.compile(rf"^[ \t#>]*\(?[ \t]*({_LETTER_SET})[ \t]*\)?[ \t]*[.。]?[ \t]*$", re.MULTILINE)
_SENTENCE_END = re.compile(r"[。！？!?\n]")
_BOX = re.compile(r"\\(?:boxed|fbox)\{\s*(" + _LETTER_SET + r")\s*(?:[.:(、][^{}]*)?\}")
_OPTION_TEXT = re.compile(r"^\(?([A-H])\)?\s*[.:、]\s*(\S.*)$", re.DOTALL)


@dataclass(frozen=True)
class ChoiceReference:
    letters: frozenset[str]
    value: str | None = None  # the option's text when the reference gives it (`C. 1-\mathrm{i}`)


def read_choice_reference(reference: str | None) -> ChoiceReference | None:
    """`B`, `BD`, `B、D`, `B,D`, `(C)`, `C. 1-\\mathrm{i}`; None when not a choice answer.

    Letters written together must be in order (`ACD`): `CB` is more likely a segment name.
    """
    text = plain(reference or "").strip()
    text = re.sub(r"^\(\s*([A-H]+)\s*\)$", r"\1", text)  # (C)
    if re.fullmatch(r"[A-H]{2,8}", text):
        return ChoiceReference(frozenset(text)) if list(text) == sorted(set(text)) else None
    if _LETTERS.fullmatch(text):
        return ChoiceReference(frozenset(re.findall("[A-H]", text)))
    option = _OPTION_TEXT.match(text)
    if option:
        return ChoiceReference(frozenset(option.group(1)), option.group(2).strip())
    return None


def stated_choice(response: str) -> frozenset[str] | None:
    """The letters the response settles on, or None when it states none."""
    text = plain(response)
    for tier in (_boxed, _strong, _judged, _alone):
        letters = tier(text)
        if letters:
            return letters
    return None


def check_choice(reference: ChoiceReference, response: str) -> bool | None:
    """Right or wrong by the stated letters; None when no letter is stated."""
    letters = stated_choice(response)
    return None if letters is None else letters == reference.letters


def _letters(text: str) -> frozenset[str]:
    return frozenset(re.findall("[A-H]", text.upper()))


def _boxed(text: str) -> frozenset[str] | None:
    boxes = _BOX.findall(text)
    return _letters(boxes[-1]) if boxes else None


def _strong(text: str) -> frozenset[str] | None:
    matches = list(_STRONG.finditer(text))
    if not matches:
        return None
    last = matches[-1]
    end = _SENTENCE_END.search(text, last.end())
    rest = text[last.end(): end.start() if end else len(text)]
    hedged = "".join("".join(groups) for groups in _HEDGE.findall(rest))
    return _letters(last.group(1)) | _letters(hedged)


def _judged(text: str) -> frozenset[str] | None:
    return frozenset(_JUDGED.findall(text)) or None


def _alone(text: str) -> frozenset[str] | None:
    lines = _ALONE.findall(text)
    return _letters(lines[-1]) if lines else None
