"""Code verification: which code is taken from a reply, how test cases are read, how scores add up."""

from __future__ import annotations

import ast
import json
import random

import pytest

from processing.verify.code import check_code, extract_code, parse_tests
from processing.verify.sandbox import sandbox_problem
from processing.verify.settings import CodeSettings
from processing.verify.verifier import Verdict

from helpers import SHARED_DATA

HUMANEVAL = SHARED_DATA / "code" / "humaneval.jsonl"


@pytest.fixture(scope="module")
def settings() -> CodeSettings:
    chosen = CodeSettings(timeout=10.0, test_timeout=3.0)
    if problem := sandbox_problem(chosen):
        pytest.skip(f"no sandbox on this machine: {problem}")
    return chosen


def fenced(code: str, tag: str = "python") -> str:
    return f"```{tag}\n{code}\n```"


@pytest.mark.parametrize(
    "response, code",
    [
        ("思路如下。\n" + fenced("x = 1") + "\n完整代码：\n" + fenced("x = 2") + "\n以上。", "x = 2\n"),
        (fenced("x = 1") + "\n运行示例：\n" + fenced("$ python a.py", "bash"), "x = 1\n"),
        ("只有一段：\n" + fenced("print(3)", ""), "print(3)\n"),
        ("def f():\n    return 1\n", "def f():\n    return 1\n"),
        ("这道题的答案是使用动态规划，复杂度为 O(n)。", None),
        ("", None),
    ],
)
def test_extract_code(response, code):
    assert extract_code(response) == code


def test_the_block_defining_the_entry_point_beats_a_later_usage_example():
    response = fenced("def add(a, b):\n    return a + b") + "\n用法：\n" + fenced("print(add(1, 2))")
    assert extract_code(response, "add").startswith("def add")
    assert extract_code(response).startswith("print")


AM_PYTEST = """from solution import add
import pytest

def test_small():
    assert add(1, 2) == 3

def test_negative():
    assert add(-1, -2) == -3

@pytest.mark.parametrize("a", [1, 2])
def test_needs_a_parameter(a):
    assert add(a, 0) == a

class TestAdd:
    def test_zero(self):
        assert add(0, 0) == 0
"""


@pytest.mark.parametrize(
    "test_cases, mode, tests",
    [
        (json.dumps({"test_code": AM_PYTEST, "test_entry_point": "add"}), "steps", 3),
        (json.dumps({"test_code": "assert add(1, 2) == 3\nx = 1\nassert add(x, x) == 2", "test_entry_point": "add"}), "steps", 2),
        (json.dumps({"test": "def check(candidate):\n    assert candidate(1) == 2\n    assert candidate(2) == 3\n", "entry_point": "inc"}), "steps", 2),
        (json.dumps([{"input": "1 2\n", "output": "3\n"}, {"input": "2 2", "output": "4"}]), "io", 2),
        (json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]}), "io", 1),
        (json.dumps(json.dumps([{"input": "1", "output": "1"}])), "io", 1),
    ],
)
def test_test_case_shapes(test_cases, mode, tests):
    parsed_mode, cases, _ = parse_tests(test_cases)
    counted = len(cases) if parsed_mode == "io" else sum(is_test for _, is_test in cases)
    assert (parsed_mode, counted) == (mode, tests)


@pytest.mark.parametrize(
    "test_cases, note",
    [(None, "no-tests"), ("", "no-tests"), ("[]", "no-tests"), ("{not json", "bad-tests"), ('{"cases": 3}', "bad-tests"),
     (json.dumps({"test_code": "def broken(:", "test_entry_point": "f"}), "bad-tests"),
     (json.dumps({"test_code": "x = 1", "test_entry_point": "f"}), "no-tests")],
)
def test_unreadable_tests_leave_the_row_unchecked(test_cases, note):
    assert check_code([(fenced("x = 1"), test_cases)], CodeSettings()) == [Verdict(None, "code", note)]


def test_replies_without_runnable_code_score_zero():
    tests = json.dumps([{"input": "", "output": "1"}])
    verdicts = check_code([("我认为应该用递归。", tests), (fenced("def f(:\n    pass"), tests)], CodeSettings())
    assert verdicts == [Verdict(0.0, "code", "no-code"), Verdict(0.0, "code", "syntax-error")]


def test_scores_are_the_share_of_tests_passed(settings):
    am = json.dumps({"test_code": AM_PYTEST, "test_entry_point": "add"})
    wrong_on_negatives = "def add(a, b):\n    return abs(a) + abs(b)"
    humaneval = json.dumps(
        {"test": "def check(candidate):\n    assert candidate(0) == 1\n    xs = [1, 2]\n    assert [candidate(x) for x in xs] == [2, 3]\n    assert candidate(-1) == 0\n", "entry_point": "inc"}
    )
    pairs = json.dumps([{"input": "1 2", "output": "3"}, {"input": "2 2", "output": "4"}, {"input": "-1 -1", "output": "-2"}, {"input": "5 5", "output": "10"}])
    stdin_program = "a, b = map(int, input().split())\nprint(abs(a) + abs(b))"
    verdicts = check_code(
        [
            (fenced("def add(a, b):\n    return a + b"), am),
            (fenced(wrong_on_negatives), am),
            (fenced("def inc(x):\n    return x + 1 if x >= 0 else 5"), humaneval),
            (fenced(stdin_program), pairs),
        ],
        settings,
    )
    assert [(v.score, v.note) for v in verdicts] == [(10.0, None), (6.6667, None), (6.6667, None), (7.5, None)]


def test_a_hanging_test_fails_alone_and_the_rest_still_count(settings):
    tests = json.dumps({"test_code": "def test_a():\n    assert f(1) == 1\n\ndef test_b():\n    f(0)\n\ndef test_c():\n    assert f(2) == 2\n", "test_entry_point": "f"})
    code = "def f(x):\n    while x == 0:\n        pass\n    return x"
    assert check_code([(fenced(code), tests)], settings) == [Verdict(6.6667, "code", "timeout")]


def test_a_crash_while_loading_fails_every_test(settings):
    tests = json.dumps({"test_code": "assert f(1) == 1\nassert f(2) == 2", "test_entry_point": "f"})
    assert check_code([(fenced("def f(x):\n    return x\nraise SystemExit(3)"), tests)], settings) == [Verdict(0.0, "code", None)]


def humaneval_rows(count: int) -> list[dict]:
    if not HUMANEVAL.exists():
        pytest.skip(f"shared data absent: {HUMANEVAL}")
    rows = [json.loads(line) for line in HUMANEVAL.read_text(encoding="utf-8").splitlines()]
    return random.Random(7).sample(rows, count)


def humaneval_item(row: dict, solution: str) -> tuple[str, str]:
    reply = f"下面是完整的实现：\n```python\n{solution}\n```\n复杂度为 O(n)。"
    return reply, json.dumps({"test": row["test"], "entry_point": row["entry_point"]})


class _Mutant(ast.NodeTransformer):
    """Flips comparisons, boolean and arithmetic operators and bumps integer constants."""

    FLIPS = {ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
             ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.And: ast.Or, ast.Or: ast.And,
             ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv}

    def __init__(self):
        self.changes = 0

    def generic_visit(self, node):
        node = super().generic_visit(node)
        if isinstance(node, ast.Compare):
            node.ops = [self.FLIPS.get(type(op), type(op))() for op in node.ops]
        elif isinstance(node, (ast.BinOp, ast.AugAssign, ast.BoolOp)) and type(node.op) in self.FLIPS:
            node.op = self.FLIPS[type(node.op)]()
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            node.value += 1
        else:
            return node
        self.changes += 1
        return node


class _WrongReturn(ast.NodeTransformer):
    def visit_Return(self, node):
        if node.value is not None:
            node.value = ast.Call(ast.Name("repr", ast.Load()), [node.value], [])
        return node


def mutate(source: str) -> str:
    """A wrong solution: operators flipped, or, with none to flip, every return value repr()'d."""
    mutant = _Mutant()
    tree = mutant.visit(ast.parse(source))
    return ast.unparse(tree if mutant.changes else _WrongReturn().visit(tree))


def test_humaneval_canonical_solutions_pass_and_mutants_fail(settings):
    rows = humaneval_rows(30)
    items = [humaneval_item(row, row["prompt"] + row["canonical_solution"]) for row in rows]
    items += [humaneval_item(row, mutate(row["prompt"] + row["canonical_solution"])) for row in rows]
    verdicts = check_code(items, settings)
    canonical, mutants = verdicts[:30], verdicts[30:]
    assert [v.score for v in canonical] == [10.0] * 30
    assert [row["task_id"] for row, v in zip(rows, mutants) if v.score is None or v.score >= 10.0] == []
