"""Run untrusted Python against tests in a throwaway sandbox.

The host side (`run_jobs`) starts one sandbox per job, `workers` at a time. Inside, this
same file runs as the harness (`python -I sandbox.py`), so the module imports nothing but
the standard library at the top; host-only modules are imported where they are used,
because the harness's start-up time is paid once per job.

Layers, outermost first:
- The host starts `unshare` (util-linux) in a new session with a scrubbed environment and
  kills the whole group at the job's wall timeout.
- `unshare` puts the harness into new network, PID, mount, IPC and UTS namespaces (plus a
  user namespace when crd is not root). The network namespace has only a downed loopback, so
  nothing is reachable, not even 127.0.0.1. The PID namespace has its own /proc, so host
  processes and their environments are invisible, and when the harness (its PID 1) exits,
  the kernel kills everything left in it.
- The harness remounts every filesystem read-only, puts empty directories over
  `hidden_dirs` (the interpreter's own files stay visible), and mounts a size-capped tmpfs at
  /tmp (the working directory) and /dev/shm.
- It gives up its privileges: as root it becomes `sandbox_uid + worker`; otherwise it enters
  a nested user namespace, which holds no capability over the namespaces above (it cannot
  unmount, remount, or bring the network up). no_new_privs disarms setuid programs.
- Resource limits, hard = soft: CPU seconds, address space, file size, processes (counted per
  uid, or per user namespace, so sandboxes do not share the count), open files, no core.
- Each test runs in a forked child under a wall deadline. Afterwards the harness kills every
  descendant; as PID 1 or a child subreaper it inherits double-forked daemons, so they are
  still its descendants.

Without namespaces (isolation "rlimits") the same harness runs directly in a host temporary
directory: limits, process group, subreaper clean-up and scrubbed environment, but network
and filesystem are as open as the uid allows.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import resource
import select
import signal
import sys
import time
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from processing.verify.settings import CodeSettings

MARKER = "crd-sandbox"  # the harness's argv[1]: lets tests find sandbox processes
PASS, FAIL, TIMEOUT = "pass", "fail", "timeout"
_SCRUBBED_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}


class Job(NamedTuple):
    code: str
    mode: str  # "io": run `code` as a program per case; "steps": load it, then run statements
    cases: list  # io: [[stdin, expected stdout], …]; steps: [[source, is_test], …]


class Outcome(NamedTuple):
    statuses: list[str]  # per test: pass, fail or timeout
    error: str | None = None  # why the sandbox itself failed (then statuses is empty)


# --- the host side --------------------------------------------------------------------


def run_jobs(jobs: list[Job], settings: CodeSettings) -> list[Outcome]:
    """Outcomes in order, `settings.workers` sandboxes at a time."""
    from concurrent.futures import ThreadPoolExecutor
    from queue import SimpleQueue

    if problem := sandbox_problem(settings):
        return [Outcome([], f"no-sandbox: {problem}")] * len(jobs)
    slots: SimpleQueue[int] = SimpleQueue()
    for slot in range(settings.workers):
        slots.put(slot)

    def run_in_slot(job: Job) -> Outcome:
        slot = slots.get()
        try:
            return run_job(job, settings, slot)
        finally:
            slots.put(slot)

    with ThreadPoolExecutor(settings.workers) as pool:
        return list(pool.map(run_in_slot, jobs))


_probes: dict[tuple, str | None] = {}


def sandbox_problem(settings: CodeSettings) -> str | None:
    """Why sandboxes of these settings cannot run here (None when they can): a tiny program
    is run once per process, isolation and set of hidden directories."""
    key = (settings.isolation, *settings.hidden_dirs)
    if key not in _probes:
        outcome = run_job(Job("print(6 * 7)", "io", [["", "42"]]), settings, 0)
        _probes[key] = outcome.error or (None if outcome.statuses == [PASS] else "the probe program failed")
    return _probes[key]


def run_job(job: Job, settings: CodeSettings, slot: int) -> Outcome:
    import tempfile

    namespaces = settings.isolation == "namespaces"
    uid = settings.sandbox_uid + slot if os.geteuid() == 0 else None
    payload = json.dumps(_payload(job, settings, namespaces, uid)).encode()
    with tempfile.TemporaryDirectory(prefix="crd-sandbox-") as workdir:
        if uid is not None:
            os.chown(workdir, uid, uid)
        try:
            home = {"HOME": "/tmp" if namespaces else workdir}  # /tmp is the sandbox's own tmpfs
            out, err, timed_out = _run_harness(_command(namespaces), workdir, home, payload, settings.timeout)
        except OSError as exc:  # no unshare on this machine
            return Outcome([], f"sandbox-error: {exc}")
    tests = len(job.cases) if job.mode == "io" else sum(1 for _, is_test in job.cases if is_test)
    return _outcome(out.decode(errors="replace"), err.decode(errors="replace"), tests, timed_out)


def _run_harness(command: list[str], workdir: str, home: dict, payload: bytes, timeout: float) -> tuple[bytes, bytes, bool]:
    """(stdout, stderr, timed out) of the harness, run in its own session and group."""
    import subprocess

    env = _SCRUBBED_ENV | home
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    process = subprocess.Popen(command, cwd=workdir, env=env, start_new_session=True, **pipes)
    try:
        return (*process.communicate(payload, timeout), False)
    except BaseException as exc:  # the timeout, or an interrupt: never leave the group behind
        _kill_group(process.pid)  # before it is reaped, so the group id cannot be reused yet
        out, err = process.communicate()
        if not isinstance(exc, subprocess.TimeoutExpired):
            raise
        return out, err, True


def _payload(job: Job, settings: CodeSettings, namespaces: bool, uid: int | None) -> dict:
    return {
        **job._asdict(),
        "namespaces": namespaces,
        "uid": uid,
        "hidden": settings.hidden_dirs,
        "expose": _interpreter_dirs(),
        "site_packages": _site_packages(),
        # The harness stops starting tests a little before the host's kill, so it can report.
        "budget": max(settings.timeout - 1.0, settings.timeout * 0.8),
        "test_timeout": settings.test_timeout,
        "cpu_seconds": settings.cpu_seconds,
        "memory_mb": settings.memory_mb,
        "file_size_mb": settings.file_size_mb,
        "disk_mb": settings.disk_mb,
        "processes": settings.processes,
        "output_bytes": settings.output_kb * 1024,
    }


def _command(namespaces: bool) -> list[str]:
    # -S: no site module, whose .pth processing costs more than the rest of start-up;
    # the harness puts site-packages on the path itself.
    harness = [sys.executable, "-I", "-S", "-X", "utf8", os.path.abspath(__file__), MARKER]
    if not namespaces:
        return harness
    import shutil

    unshare = shutil.which("unshare") or "unshare"
    flags = ["--net", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc", "--ipc", "--uts"]
    if os.geteuid() != 0:
        flags += ["--user", "--map-root-user"]
    return [unshare, *flags, "--", *harness]


def _interpreter_dirs() -> list[str]:
    """What the sandboxed interpreter reads: its prefixes (standard library, site-packages)."""
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return sorted(os.path.realpath(prefix) for prefix in prefixes)


def _site_packages() -> list[str]:
    import site

    return [path for path in site.getsitepackages() if os.path.isdir(path)]


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _outcome(out: str, err: str, tests: int, timed_out: bool) -> Outcome:
    lines = out.splitlines()
    statuses = [line for line in lines if line in (PASS, FAIL, TIMEOUT)]
    if lines[:1] and lines[0].startswith("error "):
        return Outcome([], "sandbox-error: " + lines[0].removeprefix("error "))
    if len(statuses) < tests and not timed_out:  # the harness died without reporting
        return Outcome([], "sandbox-error: " + (err.strip().splitlines() or ["no report"])[-1])
    # Tests not reported before the host's kill ran out of time.
    return Outcome(statuses + [TIMEOUT] * (tests - len(statuses)))


# --- inside the sandbox ---------------------------------------------------------------
# Constants from <sys/mount.h>, <linux/sched.h> and <linux/prctl.h> (the same on every
# Linux architecture).
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 32, 1024, 2048, 4096, 16384
MS_NOSYMFOLLOW, MS_STRICTATIME = 256, 1 << 24
CLONE_NEWUSER = 0x10000000
PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 36, 38
_MOUNT_OPTIONS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "noatime": MS_NOATIME,
    "nodiratime": MS_NODIRATIME,
    "nosymfollow": MS_NOSYMFOLLOW,
}


class _TestTimeout(BaseException):
    """Raised by SIGALRM; a BaseException so `except Exception` in tested code cannot hide it."""


def _harness() -> None:
    job = json.loads(sys.stdin.buffer.read())
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    sys.path.extend(job["site_packages"])  # numpy and friends for the tested code
    try:
        workdir = _isolate(job) if job["namespaces"] else os.getcwd()
        _drop_privileges(job)
        _limit_resources(job)
        _check_interpreter()
        os.chdir(workdir)
        _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except OSError as exc:
        print("error", exc, flush=True)
        return
    deadline = time.monotonic() + job["budget"]
    run = _run_io if job["mode"] == "io" else _run_steps
    for status in run(job, deadline):
        print(status, flush=True)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _checked(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    encode = lambda text: text.encode() if text is not None else None  # noqa: E731
    libc = _libc()
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    _checked(libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)), f"mount {target}")


def _isolate(job: dict) -> str:
    """Read-only filesystem, hidden directories, private /tmp and /dev/shm; returns the workdir."""
    exposed = {path: os.open(path, os.O_PATH) for path in job["expose"]}
    for hidden in job["hidden"]:
        if os.path.isdir(hidden) and not os.path.islink(hidden):
            _hide(hidden, {path: fd for path, fd in exposed.items() if path.startswith(hidden.rstrip("/") + "/")})
    for fd in exposed.values():  # through /proc/1/fd, `..` from them would reach the hidden originals
        os.close(fd)
    _remount_read_only()
    size = f"size={job['disk_mb']}m,mode=1777"
    for scratch in ("/tmp", "/dev/shm"):
        _mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV, size)
    return "/tmp"


def _hide(directory: str, keep: dict[str, int]) -> None:
    """An empty directory over `directory`, with `keep` (paths opened before) bound back in."""
    _mount("tmpfs", directory, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    for path, fd in keep.items():
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND | MS_REC)


def _remount_read_only() -> None:
    """Every mount read-only, keeping the flags a user namespace may not change."""
    with open("/proc/self/mountinfo", encoding="utf-8") as mountinfo:
        mounts = [line.split()[4:6] for line in mountinfo]
    for escaped, options in mounts:
        target = re.sub(r"\\([0-7]{3})", lambda match: chr(int(match[1], 8)), escaped)
        flags = MS_REMOUNT | MS_BIND | MS_RDONLY
        for option in options.split(","):
            flags |= _MOUNT_OPTIONS.get(option, 0)
        if "noatime" not in options and "relatime" not in options:
            flags |= MS_STRICTATIME
        try:
            _mount(None, target, None, flags)
        except FileNotFoundError:
            pass  # under a directory hidden above: out of reach anyway


def _drop_privileges(job: dict) -> None:
    if job["uid"] is not None:  # root: an unprivileged uid, so RLIMIT_NPROC applies too
        os.setgroups([])
        os.setresgid(job["uid"], job["uid"], job["uid"])
        os.setresuid(job["uid"], job["uid"], job["uid"])
    elif job["namespaces"]:
        _checked(_libc().unshare(CLONE_NEWUSER), "unshare")
    _checked(_libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def _check_interpreter() -> None:
    """The tested code imports from the standard library: the unprivileged uid must reach it
    (without a mount namespace nothing makes, say, an interpreter under /root readable)."""
    library = os.path.dirname(os.__file__)
    if not os.access(library, os.R_OK | os.X_OK):
        raise PermissionError(f"uid {os.getuid()} cannot read the standard library at {library}")


def _limit_resources(job: dict) -> None:
    megabyte = 1024 * 1024
    processes = job["processes"]
    if job["uid"] is None and not job["namespaces"]:
        processes += _tasks_of(os.getuid())  # the count is per uid: this user's other tasks too
    limits = {
        resource.RLIMIT_CPU: job["cpu_seconds"],
        resource.RLIMIT_AS: job["memory_mb"] * megabyte,
        resource.RLIMIT_FSIZE: job["file_size_mb"] * megabyte,
        resource.RLIMIT_NPROC: processes,
        resource.RLIMIT_NOFILE: 256,
        resource.RLIMIT_CORE: 0,
    }
    for kind, value in limits.items():
        resource.setrlimit(kind, (value, value))


def _tasks_of(uid: int) -> int:
    count = 0
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/status", encoding="utf-8") as status:
                fields = dict(line.split(":", 1) for line in status if ":" in line)
        except OSError:
            continue
        if int(fields["Uid"].split()[0]) == uid:
            count += int(fields["Threads"])
    return count


def _run_io(job: dict, deadline: float):
    """Run the program once per case, stdin from the case; pass when stdout's tokens match."""
    for stdin, expected in job["cases"]:
        if time.monotonic() >= deadline:
            yield TIMEOUT
            continue
        with open("stdin.txt", "w", encoding="utf-8") as file:
            file.write(stdin)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            _run_program(job["code"], write)
        os.close(write)
        code, output = _collect(pid, read, min(deadline, time.monotonic() + job["test_timeout"]), job["output_bytes"])
        if code is None:
            yield TIMEOUT
        else:
            yield PASS if code == 0 and output.decode(errors="replace").split() == expected.split() else FAIL


def _run_program(code: str, stdout: int) -> None:
    """In a forked child: `code` as __main__, stdin from stdin.txt, stdout to the pipe."""
    status = 1
    try:
        _redirect(os.open("stdin.txt", os.O_RDONLY), stdout, os.open(os.devnull, os.O_WRONLY))
        exec(compile(code, "solution.py", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
        status = 0
    except SystemExit as exc:
        status = 0 if exc.code in (None, 0) else 1
    except BaseException:  # noqa: BLE001 - any crash of the tested program is a failed case
        pass
    finally:
        try:
            sys.stdout.flush()
        except BaseException:  # noqa: BLE001
            status = 1
        os._exit(status)


def _redirect(stdin: int, stdout: int, stderr: int, report: int | None = None) -> None:
    """Standard streams onto the given fds, `report` (if any) onto fd 3, every other fd closed."""
    for fd, target in ((stdin, 0), (stdout, 1), (stderr, 2), (report, 3)):
        if fd is not None:
            os.dup2(fd, target)
    os.closerange(3 if report is None else 4, 4096)
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False)
    sys.argv = ["solution.py"]


def _run_steps(job: dict, deadline: float):
    """Load the code as module `solution`, then run the statements in one child."""
    tests = sum(1 for _, is_test in job["cases"] if is_test)
    with open("solution.py", "w", encoding="utf-8") as file:
        file.write(job["code"])
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _run_statements(job["cases"], job["test_timeout"], write)
    os.close(write)
    code, output = _collect(pid, read, deadline, 64 * tests + 64)
    statuses = [word for word in output.decode().split() if word in (PASS, FAIL, TIMEOUT)][:tests]
    missing = TIMEOUT if code is None else FAIL  # cut short by the deadline, or a crash
    yield from statuses + [missing] * (tests - len(statuses))


def _run_statements(steps: list, test_timeout: float, report: int) -> None:
    """In a forked child: each step in one namespace; a failed set-up step fails the rest."""
    devnull = os.open(os.devnull, os.O_RDWR)
    _redirect(devnull, devnull, devnull, report=report)
    results = open(3, "w", buffering=1, encoding="utf-8")

    def on_alarm(signum, frame):
        raise _TestTimeout

    signal.signal(signal.SIGALRM, on_alarm)
    namespace: dict = {}
    loaded = _timed(lambda: namespace.update(_load_solution()), test_timeout) == PASS
    for source, is_test in steps:
        outcome = _timed(lambda: exec(compile(source, "test", "exec"), namespace), test_timeout) if loaded else FAIL
        if is_test:
            results.write(outcome + "\n")
        elif outcome != PASS:
            loaded = False  # set-up failed: every later test fails
    results.flush()
    os._exit(0)


def _timed(action, timeout: float) -> str:
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout)
        action()
        return PASS
    except _TestTimeout:
        return TIMEOUT
    except BaseException:  # noqa: BLE001 - a failed assert or any crash fails the step
        return FAIL
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _load_solution() -> dict:
    """Import solution.py as module `solution`; the tests run in a copy of its namespace."""
    import importlib.util
    import typing

    spec = importlib.util.spec_from_file_location("solution", "solution.py")
    module = importlib.util.module_from_spec(spec)
    # Completions often annotate with List/Dict without importing them (the task's prompt
    # held the import), as HumanEval's do.
    module.__dict__.update({name: getattr(typing, name) for name in typing.__all__})
    sys.modules["solution"] = module
    spec.loader.exec_module(module)
    return dict(vars(module), __name__="__test__")


def _collect(pid: int, fd: int, deadline: float, limit: int) -> tuple[int | None, bytes]:
    """The child's exit code (None past the deadline, -1 past the output limit) and output."""
    pidfd = os.pidfd_open(pid)
    watched, output, code = [fd, pidfd], bytearray(), None
    try:
        while (remaining := deadline - time.monotonic()) > 0:
            ready = select.select(watched, [], [], remaining)[0]
            if fd in ready:
                chunk = os.read(fd, 65536)
                output += chunk
                if len(output) > limit:
                    return -1, bytes(output)
                if not chunk:
                    watched.remove(fd)
            if pidfd in ready:
                output += _drain(fd) if fd in watched else b""
                code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
                break
    finally:
        os.close(fd)
        os.close(pidfd)
        _kill_descendants()
    return code, bytes(output)


def _drain(fd: int) -> bytes:
    """What the exited child left in the pipe; a daemon holding it open must not block us."""
    os.set_blocking(fd, False)
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    return b"".join(chunks)


def _kill_descendants() -> None:
    """SIGKILL every descendant, again until none is left (a fork bomb keeps forking)."""
    for _ in range(1000):
        victims = _descendants(os.getpid())
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap()
        if not victims:
            return


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _descendants(root: int) -> list[int]:
    """Living descendants of `root`, read from /proc."""
    children: dict[int, list[int]] = {}
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(pid)
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


if __name__ == "__main__":
    _harness()
