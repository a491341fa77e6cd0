"""Code answers: run the response's Python against the row's test cases in the sandbox.

Test cases (the `test_cases` column, JSON) come in three shapes:
- AM's `{"test_code": …, "test_entry_point": …}`: pytest-style `test_*` functions (which
  `from solution import …`) or a plain script of asserts;
- HumanEval's `{"test": "def check(candidate): …", "entry_point": …}`;
- input/output pairs, `[{"input": stdin, "output": stdout}, …]` (or APPS-style
  `{"inputs": […], "outputs": […]}`).

Score = share of tests passed × 10. A test is a `test_*` function, one input/output pair,
or one top-level statement holding an assert: HumanEval's single `check` is split into its
statements (run in order, in one namespace), so a solution right on 6 of 7 asserts
scores 8.6, not 0.
"""

from __future__ import annotations

import ast
import json
import re

from processing.verify.sandbox import PASS, TIMEOUT, Job, Outcome, run_jobs
from processing.verify.settings import CodeSettings
from processing.verify.verifier import Verdict

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*```", re.M | re.S)
_PYTHON_TAGS = {"python", "py", "python3", "py3"}
# A test class: unittest's run through debug() (set-up, test, tear-down; raises on failure),
# a plain pytest class by calling the method.
_CLASS_TEST = """_unit = __import__("unittest").TestCase
if isinstance({cls}, type) and issubclass({cls}, _unit):
    {cls}("{method}").debug()
else:
    {cls}().{method}()
"""


class BadTests(ValueError):
    """The test cases cannot be read; the message is the verdict's note."""


def check_code(items: list[tuple[str, str | None]], settings: CodeSettings) -> list[Verdict]:
    """A verdict per (response, test_cases JSON), in order; sandboxes run `workers` at a time."""
    verdicts: list[Verdict | None] = [None] * len(items)
    jobs, positions = [], []
    for position, (response, test_cases) in enumerate(items):
        prepared = prepare(response, test_cases)
        if isinstance(prepared, Verdict):
            verdicts[position] = prepared
        else:
            jobs.append(prepared)
            positions.append(position)
    for position, outcome in zip(positions, run_jobs(jobs, settings)):
        verdicts[position] = _verdict(outcome)
    return verdicts  # type: ignore[return-value]


def prepare(response: str | None, test_cases: str | None) -> Job | Verdict:
    """The sandbox job for one row, or the verdict when there is nothing to run."""
    try:
        mode, cases, entry_point = parse_tests(test_cases)
    except BadTests as exc:
        return Verdict(None, "code", str(exc))
    code = extract_code(response or "", entry_point)
    if code is None:
        return Verdict(0.0, "code", "no-code")
    if not _compiles(code):
        return Verdict(0.0, "code", "syntax-error")
    return Job(code, mode, cases)


def extract_code(response: str, entry_point: str | None = None) -> str | None:
    """The last ```python block, else the last fenced block, else the whole response if it
    parses as Python. Among blocks, the last one defining `entry_point` wins, so a usage
    example after the solution is not taken for it."""
    blocks = [(tag.lower(), body) for tag, body in _FENCE.findall(response)]
    for candidates in ([body for tag, body in blocks if tag in _PYTHON_TAGS], [body for _, body in blocks]):
        if candidates:
            if entry_point:
                defining = re.compile(rf"^\s*(?:async\s+)?def\s+{re.escape(entry_point)}\s*\(", re.M)
                candidates = [body for body in candidates if defining.search(body)] or candidates
            return candidates[-1]
    return response if response.strip() and _compiles(response) else None


def parse_tests(test_cases: str | None) -> tuple[str, list, str | None]:
    """(mode, cases, entry point) for the sandbox; raises BadTests naming the problem."""
    if test_cases is None or not str(test_cases).strip():
        raise BadTests("no-tests")
    try:
        spec = json.loads(test_cases)
        if isinstance(spec, str):  # encoded twice on its way through some pools
            spec = json.loads(spec)
    except json.JSONDecodeError:
        raise BadTests("bad-tests") from None
    if isinstance(spec, dict) and isinstance(spec.get("test_code"), str):
        entry = spec.get("test_entry_point")
        return "steps", _steps(spec["test_code"], entry), entry
    if isinstance(spec, dict) and isinstance(spec.get("test"), str) and spec.get("entry_point"):
        return "steps", _steps(spec["test"], spec["entry_point"]), spec["entry_point"]
    pairs = _pairs(spec)
    if not pairs:
        raise BadTests("no-tests" if pairs == [] else "bad-tests")
    return "io", pairs, None


def _pairs(spec: object) -> list | None:
    if isinstance(spec, dict) and isinstance(spec.get("inputs"), list) and not spec.get("fn_name"):
        spec = [{"input": given, "output": wanted} for given, wanted in zip(spec["inputs"], spec.get("outputs") or [])]
    if not isinstance(spec, list) or not all(isinstance(case, dict) and {"input", "output"} <= case.keys() for case in spec):
        return None
    return [[_text(case["input"]), _text(case["output"])] for case in spec]


def _text(value: object) -> str:
    return value if isinstance(value, str) else "\n".join(map(str, value)) if isinstance(value, list) else str(value)


def _steps(test_code: str, entry_point: str | None) -> list:
    """[[source, is_test], …] run in order in the solution's namespace."""
    try:
        tree = ast.parse(test_code)
    except (SyntaxError, ValueError):
        raise BadTests("bad-tests") from None
    tests = [[f"{name}()", True] for name in _test_functions(tree)] + _test_methods(tree)
    if tests:
        return [[test_code, False], *tests]
    check = next((node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "check"), None)
    if check is not None and check.args.args and entry_point:
        return [[test_code, False], *_check_steps(check, entry_point)]
    statements = _statement_steps(tree.body)
    if not any(is_test for _, is_test in statements):
        raise BadTests("no-tests")
    return statements


def _test_functions(tree: ast.Module) -> list[str]:
    """test_* functions callable without arguments (fixtures and parametrize are not run)."""
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test") and _no_required_args(node, 0)
    ]


def _test_methods(tree: ast.Module) -> list:
    steps = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for method in node.body:
                if isinstance(method, ast.FunctionDef) and method.name.startswith("test") and _no_required_args(method, 1):
                    steps.append([_CLASS_TEST.format(cls=node.name, method=method.name), True])
    return steps


def _no_required_args(function: ast.FunctionDef, bound: int) -> bool:
    positional = function.args.posonlyargs + function.args.args
    return len(positional) - len(function.args.defaults) <= bound


def _check_steps(check: ast.FunctionDef, entry_point: str) -> list:
    """check(candidate)'s statements one by one, with `candidate` bound to the entry point."""
    bind = [[f"{check.args.args[0].arg} = {entry_point}", False]]
    steps = _statement_steps(check.body)
    if not all(_compiles(source) for source, _ in steps):  # e.g. a `return` inside check
        return [[f"check({entry_point})", True]]
    return bind + steps


def _statement_steps(statements: list[ast.stmt]) -> list:
    return [[ast.unparse(node), any(isinstance(inner, ast.Assert) for inner in ast.walk(node))] for node in statements]


def _compiles(source: str) -> bool:
    try:
        compile(source, "<check>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def _verdict(outcome: Outcome) -> Verdict:
    if outcome.error is not None:
        return Verdict(None, "code", outcome.error.split(":", 1)[0])
    passed = sum(status == PASS for status in outcome.statuses)
    note = TIMEOUT if TIMEOUT in outcome.statuses else None
    return Verdict(round(10.0 * passed / len(outcome.statuses), 4), "code", note)
