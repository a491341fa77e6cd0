"""Locating the final answer a response states, and never a number from its reasoning.

In order: the last `\\boxed{}` (balanced braces); else the last Chinese conclusion
phrase (`答案是…`, `答：…`, `最终答案…`, then `所以…`, `共…`, `故…`); else the expression on
the last line. Nothing found means no answer: Math-Verify's habit of falling back to some
other number in the text is how wrong replies were accepted (REFERENCE.md §4).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from processing.verify.normalize import clean, closing_brace
from processing.verify.numbers import arabic
from processing.verify.units import MEASURE_WORD

MAX_BOX_GAP = 40  # characters between boxes that still read as one answer (`\boxed{5}，\boxed{10}`)
SPAN = 160  # characters after a conclusion phrase that may hold its answer
HYPOTHESIS_REACH = 12  # characters before a phrase searched for `以为`, `如果`…
WEAK_LINES = 3  # a weak phrase (所以, 共, 故…) concludes only on the last lines, not in a restated question

_BOX = re.compile(r"\\(?:boxed|fbox)\s*\{")
_AFTER_BOX = re.compile(r"\s*(\\%|%|\^\s*\{?\\circ\}?|°)")
# Strong phrases name the answer; weak ones conclude a step. The last strong one wins.
# `验证答案：48×84=4032` and `答案解析` introduce a check or an explanation, not the answer.
_STRONG = re.compile(
    r"(?<!验证)(?<!检验)(?<!检查)(?<!核对)"
    r"(?:最终答案|正确答案|答案|(?<![回解作])答(?=\s*[:：])|(?i:final answer|the answer is|answer(?=\s*:)))"
    r"(?!\s*(?:是否|是不是|正确|不对|有误|错误|对吗|解析|分析|验证|检验|说明))"
)
# Not 得到 (`如果直接计算会得到 45` is a hypothesis as often as a result), nor 即 / 则, which
# open checks as often as conclusions (`即 48×84=4032`). `结果是` is weak: a restated
# question says `得到的结果是2.09` too.
_WEAK = re.compile(r"所以|因此|因而|综上所述|综上|总之|解得|可得|故|一共|总共|合计|总计|共|结果(?=\s*(?:是|为|:|：))")
_SENTENCE_END = re.compile(r"[。！？!?\n]")
# `有人以为答案是45`, `如果答案是45`: a phrase someone else's or a supposition, not the reply's.
_HYPOTHETICAL = re.compile(r"(?:以为|认为|误认|如果|假如|假设|若|不是|并非)[^。！？!?\n，,]*$")
# What may stand between a phrase and its answer, display math opening on its own line too.
_LEADING = re.compile(r"^(?:[\s*#>:：$]|\\\[|是|为|应为|应是|就是|等于)+")
_NEGATED = re.compile(r"^(?:不是|并非|不等于|不会是|不可能是|不一定是)")
_DOUBT = re.compile(r"不是|并非|不等于|如果|假如|假设|若|以为|认为|不确定|也许|可能")
_HANZI = re.compile(r"[\u4e00-\u9fff]")
_HANZI_OR_SEPARATOR = re.compile(r"([\u4e00-\u9fff]+|[，、;])")
_FILLER = re.compile(r"^(?:是|为|应为|应是|应该是|就是|即|等于|约为|约是|大约是|约|有|共|共有|:)+$")
_JOINER = "(?:或者|或是|或|以及|和|及|与)"
_UNIT_THEN_JOINER = re.compile(rf"^({MEASURE_WORD})?({_JOINER})?$")


class Token(NamedTuple):
    kind: str  # "math", "unit", "sep" or "text"
    text: str


def final_answer(response: str, parts: int = 1) -> str | None:
    """The answer text the response settles on, or None. `parts`: answers the reference holds."""
    return last_boxes(response, parts) or stated_answer(response) or last_line_answer(response)


def last_boxes(response: str, parts: int = 1) -> str | None:
    """The last box; with several expected answers, up to that many boxes written together."""
    boxes = _boxes(response)
    if not boxes:
        return None
    chosen = [boxes[-1]]
    for box in reversed(boxes[:-1]):
        if len(chosen) == parts or chosen[0][0] - box[1] > MAX_BOX_GAP:
            break
        chosen.insert(0, box)
    return ";".join(content for _, _, content in chosen) or None


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of each outermost box, with a `%` or `°` written just after it."""
    found: list[tuple[int, int, str]] = []
    for match in _BOX.finditer(text):
        if found and match.start() < found[-1][1]:
            continue  # a box inside the previous box
        end = closing_brace(text, match.end() - 1)
        if end < 0:
            break
        content = _box_answer(text[match.end(): end].strip())
        suffix = _AFTER_BOX.match(text, end + 1)
        if suffix:
            content += suffix.group(1)
            end = suffix.end() - 1
        if content:
            found.append((match.start(), end + 1, content))
    return found


def _box_answer(content: str) -> str:
    """`\\boxed{25千克}`, `\\boxed{\\text{奶糖有 12 块}}`: the expression in a boxed phrase;
    a box of words only (`\\boxed{第一象限}`) is kept whole for a text reference."""
    if not _HANZI.search(content):
        return content
    return span_answer(content) or content


def stated_answer(response: str) -> str | None:
    """The answer after the last strong phrase followed by one; else the same for weak
    phrases on the last lines."""
    for pattern, start in ((_STRONG, 0), (_WEAK, _last_lines_start(response, WEAK_LINES))):
        for match in reversed(list(pattern.finditer(response, start))):
            if _HYPOTHETICAL.search(response[max(0, match.start() - HYPOTHESIS_REACH): match.start()]):
                continue
            answer = span_answer(response[match.end(): match.end() + SPAN])
            if answer:
                return answer
    return None


def _last_lines_start(text: str, count: int) -> int:
    """Offset where the last `count` non-empty lines begin."""
    starts = [m.start() for m in re.finditer(r"^[ \t]*\S", text, re.MULTILINE)]
    return starts[-count] if len(starts) >= count else 0


def last_line_answer(response: str) -> str | None:
    """The expression ending the last non-empty line (after its last `=`), when the line
    holds one expression and nothing but units after it (`45`, `= 45`, `每班45本。`)."""
    lines = [line for line in response.strip().splitlines() if line.strip()]
    if not lines:
        return None
    line = arabic(clean(lines[-1]))
    if _DOUBT.search(line):
        return None
    tokens = tokenize(line.rsplit("=", 1)[-1])
    runs = _runs(tokens)
    if len(runs) != 1:
        return None
    run, end = runs[0]
    return run if all(token.kind in ("unit", "sep") for token in tokens[end:]) else None


def span_answer(span: str) -> str | None:
    """What a conclusion phrase introduces: the expression right after it (`答案是 45`),
    else the last expression of its first clause (`所以每班分到45本，…`)."""
    span = _LEADING.sub("", span)
    if _NEGATED.match(span):
        return None
    end = _SENTENCE_END.search(span)
    tokens = tokenize(arabic(clean(span[: end.start()] if end else span)))
    while tokens and (tokens[0].kind == "sep" or (tokens[0].kind == "text" and _FILLER.match(tokens[0].text))):
        tokens = tokens[1:]
    if not tokens:
        return None
    if tokens[0].kind == "math":
        return _first_run(tokens)
    runs = _runs(_first_clause(tokens))
    return runs[-1][0] if runs else None


def tokenize(text: str) -> list[Token]:
    """Split cleaned text into math, measure words, list separators and other Chinese text."""
    tokens: list[Token] = []
    for piece in _HANZI_OR_SEPARATOR.split(text):
        piece = piece.strip()
        if not piece:
            continue
        if piece in "，、;":
            tokens.append(Token("sep", piece))
        elif "\u4e00" <= piece[0] <= "\u9fff":
            tokens.extend(_hanzi_tokens(piece))
        elif any(char.isalnum() or char == "\\" for char in piece):
            tokens.append(Token("math", piece.rstrip("(:.。！？!?").lstrip(")").strip()))
    return tokens


def _hanzi_tokens(piece: str) -> list[Token]:
    match = _UNIT_THEN_JOINER.match(piece)
    if not match:
        return [Token("text", piece)]
    unit, joiner = match.groups()
    return [Token(kind, text) for kind, text in (("unit", unit), ("sep", joiner)) if text]


def _runs(tokens: list[Token]) -> list[tuple[str, int]]:
    """Each run of answers with the index of the token after it."""
    runs: list[tuple[str, int]] = []
    i = 0
    while i < len(tokens):
        if tokens[i].kind == "math":
            run, i = _run_at(tokens, i)
            runs.append((run, i))
        else:
            i += 1
    return runs


def _first_run(tokens: list[Token]) -> str | None:
    return _run_at(tokens, 0)[0] if tokens and tokens[0].kind == "math" else None


def _run_at(tokens: list[Token], i: int) -> tuple[str, int]:
    """`24，112`, `x=1或x=2`, `12个、13个` from token i: answers joined by `;`, units dropped."""
    values: list[str] = []
    while True:
        values.append(tokens[i].text)
        i += 1
        if i < len(tokens) and tokens[i].kind == "unit":
            i += 1
        if not (i + 1 < len(tokens) and tokens[i].kind == "sep" and tokens[i + 1].kind == "math"):
            return ";".join(values), i
        i += 1


def _first_clause(tokens: list[Token]) -> list[Token]:
    """Tokens up to the first separator that is followed by words rather than an answer."""
    for i, token in enumerate(tokens[:-1]):
        if token.kind == "sep" and tokens[i + 1].kind == "text":
            return tokens[:i]
    return tokens
