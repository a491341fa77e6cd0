"""The code sandbox contains what model-written programs do by accident or on purpose.

Each hostile program prints "contained" only when the sandbox stopped it, and its test
case expects that line, so a score of 10 means contained. Where a program would rather
hang or never print, the test checks the host afterwards: no process of it survives,
no file appeared, the listening socket got no connection.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from processing.verify import sandbox
from processing.verify.code import check_code
from processing.verify.sandbox import MARKER, sandbox_problem
from processing.verify.settings import CodeSettings

FAST = {"timeout": 6.0, "test_timeout": 3.0, "processes": 24}
BOTH = pytest.mark.parametrize("isolation", ["namespaces", "rlimits"])


def settings(isolation: str = "namespaces", **changes) -> CodeSettings:
    """Sandbox settings with short timeouts; skips where the OS refuses namespaces."""
    chosen = CodeSettings(isolation=isolation, **(FAST | changes))
    if problem := sandbox_problem(chosen):
        pytest.skip(f"no {isolation} sandbox on this machine: {problem}")
    return chosen


def verdict(program: str, isolation: str = "namespaces"):
    tests = json.dumps([{"input": "", "output": "contained"}])
    return check_code([(f"程序如下：\n```python\n{program}\n```", tests)], settings(isolation))[0]


def survivors(text: str) -> list[int]:
    """Host processes whose command line holds `text`, after giving the kernel a moment."""
    for _ in range(20):
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                continue
        if not found:
            return []
        time.sleep(0.1)
    return found


FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""

COUNT_FORKS = """
import os, time
children = 0
try:
    while children < 1000:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        children += 1
except OSError:
    print("contained" if children < {limit} else children)
"""


@BOTH
def test_fork_bomb_is_stopped_and_leaves_nothing(isolation):
    result = verdict(FORK_BOMB, isolation)
    assert (result.score, result.note) == (0.0, "timeout")
    assert survivors(MARKER) == []


@BOTH
def test_fork_hits_the_process_limit(isolation):
    assert verdict(COUNT_FORKS.format(limit=FAST["processes"]), isolation).score == 10.0
    assert survivors(MARKER) == []


def test_fork_bomb_does_not_starve_a_neighbour():
    add = json.dumps([{"input": "2 3", "output": "5"}])
    bomb, neighbour = check_code(
        [(f"```python\n{FORK_BOMB}\n```", add), ("```python\na, b = map(int, input().split())\nprint(a + b)\n```", add)],
        settings(workers=2),
    )
    assert bomb.score == 0.0 and neighbour.score == 10.0


@BOTH
def test_infinite_loop_is_killed(isolation):
    result = verdict("while True:\n    pass", isolation)
    assert (result.score, result.note) == (0.0, "timeout")
    assert survivors(MARKER) == []


@BOTH
def test_ten_gigabytes_are_refused(isolation):
    program = """
try:
    block = bytearray(10 * 1024 ** 3)
except MemoryError:
    print("contained")
"""
    assert verdict(program, isolation).score == 10.0


@BOTH
def test_parent_environment_and_secret_files_are_unreadable(isolation, monkeypatch, tmp_path):
    secret = f"sk-{uuid.uuid4().hex}"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    (tmp_path / "key.txt").write_text(secret)
    program = f"""
import os
seen = " ".join(os.environ.values())
for source in ["/proc/{os.getpid()}/environ", "/proc/{os.getppid()}/environ", "{tmp_path / 'key.txt'}"]:
    try:
        seen += open(source, "rb").read().decode(errors="replace")
    except OSError:
        pass
print("contained" if "{secret}" not in seen else "leaked")
"""
    if isolation == "rlimits" and os.geteuid() != 0:
        pytest.skip("without namespaces a sandbox of the same uid can read the parent's files")
    assert verdict(program, isolation).score == 10.0


def test_hidden_directories_are_empty_inside():
    home = Path(tempfile.mkdtemp(dir="/var/tmp"))
    try:
        home.chmod(0o755)
        (home / ".env").write_text("OPENAI_API_KEY=sk-planted")
        (home / ".env").chmod(0o644)  # readable by any uid: only the hiding stands in the way
        program = f"""
import os
print("contained" if os.listdir("{home}") == [] else "leaked")
"""
        tests = json.dumps([{"input": "", "output": "contained"}])
        hiding = settings(hidden_dirs=[*CodeSettings().hidden_dirs, str(home)])
        assert check_code([(f"```python\n{program}\n```", tests)], hiding)[0].score == 10.0
    finally:
        (home / ".env").unlink()
        home.rmdir()


def test_network_is_unreachable_even_on_loopback():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        program = f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2)
    print("connected")
except OSError:
    print("contained")
"""
        assert verdict(program).score == 10.0
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()


def test_writes_outside_the_sandbox_directory_fail(tmp_path):
    durable = Path(tempfile.mkdtemp(dir="/var/tmp"))
    durable.chmod(0o777)  # writable by any uid: only the read-only mount stands in the way
    targets = [tmp_path / "escaped.txt", durable / "escaped.txt", Path("/etc/crd-sandbox-escaped")]
    program = f"""
escaped = []
for target in {[str(target) for target in targets]!r}:
    try:
        with open(target, "w") as file:
            file.write("x")
        escaped.append(target)
    except OSError:
        pass
with open("inside.txt", "w") as file:  # its own directory stays writable
    file.write("x")
print("contained" if not escaped else escaped)
"""
    try:
        assert verdict(program).score == 10.0
        assert not any(target.exists() for target in targets)
    finally:
        for target in targets:
            target.unlink(missing_ok=True)
        durable.rmdir()


@BOTH
@pytest.mark.parametrize("main_hangs", [True, False])
def test_double_forked_daemon_dies_with_the_verdict(isolation, main_hangs):
    token = f"{1000 + uuid.uuid4().int % 10**6 / 10**6:.6f}"  # a unique sleep duration
    program = f"""
import os
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sleep", ["sleep", "{token}"])
    os._exit(0)
os.wait()
{"while True: pass" if main_hangs else 'print("contained")'}
"""
    result = verdict(program, isolation)
    assert result.score == (0.0 if main_hangs else 10.0)
    assert survivors(token) == []


def test_a_refused_sandbox_leaves_code_unchecked(monkeypatch):
    monkeypatch.setitem(sandbox._probes, ("namespaces", *CodeSettings().hidden_dirs), "unshare: Operation not permitted")
    tests = json.dumps([{"input": "", "output": "contained"}])
    result = check_code([('```python\nprint("contained")\n```', tests)], CodeSettings())[0]
    assert (result.score, result.method, result.note) == (None, "code", "no-sandbox")
