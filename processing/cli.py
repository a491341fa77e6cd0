"""The `crd` command: thin wrappers over the pipeline; expected errors are one line.

Bare `crd` prints the help and exits 0; `crd --version` prints the package version.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from importlib import metadata
from pathlib import Path

from processing import demo as demo_data
from processing.errors import CrdError
from processing.files import check_folder
from processing.textio import encoding_name


# What survives a full disk, per command: the journal keeps every finished request and
# files are renamed into place only when complete (files.atomic_path).
KEPT_ON_DISK_FULL = {
    "generating": "the answers already finished stay in the journal and no output file is left half-written",
    "writing": "no output file is left half-written",
}
GENERATING = {"build", "demo", "generate", "score", "verify"}  # these ask models, with a journal
HF_BAR_VARIABLES = ("HF_DATASETS_DISABLE_PROGRESS_BARS", "HF_HUB_DISABLE_PROGRESS_BARS")


def main(argv: list[str] | None = None) -> int:
    root = parser()
    args = root.parse_args(argv)
    if args.command is None:
        root.print_help()
        return 0
    _flat_memory_pool()
    try:
        with _library_bars_off() if getattr(args, "quiet", False) else nullcontext():
            return args.handler(args) or 0
    except CrdError as exc:
        if os.environ.get("CRD_DEBUG"):
            raise
        print(f"crd: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("crd: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _disk_full(exc) or os.environ.get("CRD_DEBUG"):
            raise
        print(_disk_full_message(exc, args.command), file=sys.stderr)
        return 2


def _disk_full(exc: BaseException | None) -> bool:
    """ENOSPC or a full quota, also when wrapped: polars raises a ComputeError that says so
    only in its message, and other layers may re-raise from it."""
    for _ in range(5):  # the chain of causes, not forever
        if exc is None:
            return False
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if os.strerror(errno.ENOSPC) in str(exc) or os.strerror(errno.EDQUOT) in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _disk_full_message(exc: Exception, command: str) -> str:
    where = f" writing {exc.filename}" if getattr(exc, "filename", None) else ""
    kept = KEPT_ON_DISK_FULL["generating" if command in GENERATING else "writing"]
    return f"crd: error: disk full{where}: {kept}; free some space and run the same command again to resume"


@contextmanager
def _library_bars_off() -> Iterator[None]:
    """-q also silences the bars of the Hugging Face libraries: the loaders (`hf:` and
    saved-dataset sources) and the Hub's uploads and downloads (`crd push`, `crd pull`).

    The libraries read these variables when first imported, which happens inside the command;
    they are restored after it, so a caller's child processes are not silenced too, and so
    are the switches of libraries imported before (a caller running several commands)."""
    saved = {name: os.environ.get(name) for name in HF_BAR_VARIABLES}
    os.environ.update(dict.fromkeys(HF_BAR_VARIABLES, "1"))
    enable_again = []
    if "datasets" in sys.modules and sys.modules["datasets"].is_progress_bar_enabled():  # the variables come too late
        sys.modules["datasets"].disable_progress_bars()
        enable_again.append(sys.modules["datasets"].enable_progress_bars)
    if "huggingface_hub" in sys.modules and not sys.modules["huggingface_hub"].utils.are_progress_bars_disabled():
        sys.modules["huggingface_hub"].utils.disable_progress_bars()
        enable_again.append(sys.modules["huggingface_hub"].utils.enable_progress_bars)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for enable in enable_again:
            enable()


def _version() -> str:
    try:
        return metadata.version("chinese-reasoning-distil")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _flat_memory_pool() -> None:
    """Arrow's jemalloc pool: streaming a million long rows through it kept the resident size
    flat (about 500 MiB), where mimalloc crept up and the system allocator held 900 MiB."""
    import pyarrow as pa

    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except NotImplementedError:  # a pyarrow build without jemalloc keeps its default
        pass
    _few_malloc_arenas()


M_ARENA_MAX = -8  # glibc's mallopt parameter


def _few_malloc_arenas() -> None:
    """At most two glibc malloc arenas. numpy allocates through malloc, and the quality
    flags run on a thread per core: with glibc's default of eight arenas per core, each
    thread's arena kept its peak, and a 50,000-row build peaked at 1.44 GiB instead of
    1.0 GiB (bench/build.py), for no measurable speed. Not glibc (macOS, musl): nothing to do."""
    import ctypes

    process = ctypes.CDLL(None)  # the symbols already loaded, libc's among them: no library search at start-up
    if hasattr(process, "gnu_get_libc_version"):
        process.mallopt(M_ARENA_MAX, 2)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="crd", description="Build, verify and publish Chinese reasoning-distillation datasets.",
        epilog=_examples(["crd demo", "crd build examples/deepseek.toml --out out/my-dataset",
                          "crd push out/my-dataset --repo me/zh-r1-distill --tag v1.0"],
                         "every command's --help ends with examples of its own"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    root.add_argument("--version", action="version", version=f"crd {_version()}")
    commands = root.add_subparsers(dest="command", metavar="COMMAND")

    demo = _command(commands, "demo", "offline end-to-end run on the bundled pool against the simulator", [
        "crd demo                    # writes out/demo, its run folder out/demo.run beside it",
        "crd demo --out /tmp/crd-demo -q",
        "crd demo --base-url http://127.0.0.1:8731/v1    # against a `crd sim` you started",
    ])
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="dataset folder to write (default: out/demo)")
    demo.add_argument("--base-url", help="a simulator you started with `crd sim` (default: one in-process)")
    _quiet_flag(demo)
    demo.set_defaults(handler=run_demo)

    build = _command(commands, "build", "run the pipeline from a TOML config", [
        "crd build examples/deepseek.toml --out out/my-dataset",
        "crd build examples/r1-180k.toml --out out/r1-180k --run-dir runs/r1-180k --dry-run",
        "crd build examples/deepseek.toml --out out/my-dataset --retry-failed -q",
    ])
    build.add_argument("config", type=Path)
    build.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    build.add_argument("--run-dir", type=Path, help="where stage outputs and the journal live (default: OUT.run)")
    build.add_argument("--retry-failed", action="store_true", help="ask again for requests recorded as failed")
    build.add_argument("--dry-run", action="store_true",
                       help="run the pool and routing stages (complexity scoring included) and print the plan: "
                            "requests per teacher, tier x teacher table; no teacher is asked")
    _quiet_flag(build)
    build.set_defaults(handler=run_build)

    generate = _command(commands, "generate", "answer every prompt of a file with one teacher (resumable)", [
        "crd generate prompts.jsonl --model deepseek-reasoner --base-url https://api.deepseek.com/v1 "
        "--api-key-env DEEPSEEK_API_KEY --preset deepseek --out runs/r1",
        "crd generate prompts.jsonl --model Qwen/QwQ-32B --base-url http://gpu1:8000/v1 "
        "--base-url http://gpu2:8000/v1 --preset vllm --concurrency 300 --out runs/qwq",
        "crd generate prompts.jsonl --model deepseek-ai/DeepSeek-R1 --base-url https://api.siliconflow.cn/v1 "
        "--api-key-env SILICONFLOW_API_KEY --preset siliconflow --batch --out runs/batch",
    ])
    generate.add_argument("input", type=Path, help="JSON Lines or Parquet with a `prompt` column and optional `id`")
    _encoding_flag(generate)
    generate.add_argument("--model", required=True, help="model id sent to the API")
    generate.add_argument("--base-url", action="append", required=True,
                          help="e.g. http://localhost:8000/v1; repeat it to balance over several servers")
    generate.add_argument("--api-key-env", help="name of the environment variable holding the API key")
    generate.add_argument("--preset", help="deepseek, dashscope, vllm, sglang, siliconflow, openrouter, ollama, openai")
    generate.add_argument("--concurrency", type=int, help="requests in flight at most (default 64)")
    generate.add_argument("--rpm", type=float, help="requests per minute at most")
    generate.add_argument("--tpm", type=float, help="tokens per minute at most")
    generate.add_argument("--stream", action=argparse.BooleanOptionalAction, help="default: stream")
    generate.add_argument("--timeout", type=float, help="seconds to wait for a reply or between streamed chunks")
    generate.add_argument("--max-tokens", type=int, help="default 32768")
    generate.add_argument("--temperature", type=float, help="default 0.6")
    generate.add_argument("--samples", type=int, help="answers per prompt (default 1)")
    generate.add_argument("--force-think-prefix", action="store_true", default=None,
                          help="start every answer with <think>\\n (presets vllm, sglang, deepseek)")
    generate.add_argument("--out", type=Path, required=True,
                          help="folder for journal.jsonl, generations.parquet and failures.jsonl")
    generate.add_argument("--retry-failed", action="store_true", help="ask again for requests recorded as failed")
    generate.add_argument("--batch", dest="mode", action="store_const", const="batch",
                          help="send through the provider's Batch API (half price, results within --batch-window)")
    generate.add_argument("--batch-window", help="batch completion window, e.g. 24h (siliconflow: up to 336h)")
    generate.add_argument("--batch-poll", type=float, help="seconds before the first batch status check (default 30)")
    generate.add_argument("--batch-max-requests", type=int, help="requests per batch file (default: the preset's limit)")
    _quiet_flag(generate)
    generate.set_defaults(handler=run_generate)

    batches = _command(commands, "batches", "status and counts of a run's batches (batch mode)", [
        "crd batches runs/batch", "crd batches runs/batch --cancel",
    ])
    batches.add_argument("run", type=Path, help="run folder holding batches.jsonl (crd generate: its --out)")
    batches.add_argument("--cancel", action="store_true", help="cancel the batches still running; "
                                                                "rerun the build to collect what they finished")
    batches.set_defaults(handler=run_batches)

    imports = _command(commands, "import", "convert an existing distilled dataset into the canonical schema", [
        "crd import congliu distill_r1_110k.jsonl --out runs/congliu",
        "crd import am am_0.9M.jsonl.zst --out runs/am -q",
        "crd import alpaca my_sft.json --out runs/mine --encoding gbk",
    ])
    imports.add_argument("format", help="congliu, congliu-sft, mxode, am, alpaca or sharegpt")
    imports.add_argument("path", type=Path, help="JSON Lines (.jsonl, .jsonl.zst), JSON array or Parquet file")
    imports.add_argument("--out", type=Path, required=True, help="folder for the Parquet parts")
    _encoding_flag(imports)
    _quiet_flag(imports)
    imports.set_defaults(handler=run_import)

    pool = _command(commands, "pool", "build the instruction pool: ingest, clean, dedup, decontaminate", [
        "crd pool examples/deepseek.toml --out runs/pool", "crd pool my-pool.toml --out runs/pool -q",
    ])
    pool.add_argument("config", type=Path, help="TOML with [[sources]] and optional [clean], [dedup], [decontam]")
    pool.add_argument("--out", type=Path, required=True, help="run folder for pool.parquet and pool/ (rejects, summary)")
    _quiet_flag(pool)
    pool.set_defaults(handler=run_pool)

    score = _command(commands, "score", "rate prompt complexity with the [[complexity.scorers]] and show the "
                                        "routing plan, before paying for generation (resumable)", [
        "crd score examples/r1-180k.toml --run-dir runs/r1-180k",
        "crd score examples/r1-180k-sim.toml --run-dir runs/r1-180k-sim --retry-failed",
    ])
    score.add_argument("config", type=Path)
    score.add_argument("--run-dir", type=Path, required=True, help="run folder: pool.parquet, complexity/ (journals, "
                                                                  "scores.parquet, dropped.jsonl, scores.png)")
    score.add_argument("--retry-failed", action="store_true", help="ask again for ratings whose request failed")
    _quiet_flag(score)
    score.set_defaults(handler=run_score)

    check = _command(
        commands, "verify", "score a file of answers: math, multiple choice, and an LLM judge for the rest", [
            "crd verify runs/congliu --out rescored.parquet --judge-config judge.toml",
            "crd verify answers.jsonl --out scored.parquet",
            "crd verify out/v1.0/data/full --out rescored.parquet --config examples/deepseek.toml",
        ],
        description="Score every row of INPUT (JSON Lines, Parquet, or a folder of Parquet parts such as\n"
                    "`crd import` writes) that has `response` and `reference_answer`; every other column is kept.")
    check.add_argument("input", type=Path)
    check.add_argument("--out", type=Path, required=True, help="Parquet file to write")
    check.add_argument("--config", type=Path, help="a TOML whose [verify] (and [judge]) tables apply")
    check.add_argument("--judge-config", type=Path, help="a TOML with a [judge] table: judge what the checks cannot score")
    check.add_argument("--run-dir", type=Path, help="where the judge's journal lives (default: OUT without suffix + .run)")
    check.add_argument("--retry-failed", action="store_true", help="ask the judge again where its requests failed")
    _quiet_flag(check)
    check.set_defaults(handler=run_verify)

    push = _command(commands, "push", "upload an output folder to a Hugging Face dataset repository, tagged", [
        "crd push out/my-dataset --repo me/zh-r1-distill --tag v1.0 --dry-run    # offline, no token",
        'crd push out/my-dataset --repo me/zh-r1-distill --tag v1.0 --message "first release"',
        "crd push out/my-dataset --repo me/zh-r1-distill --revision dev --private -q",
    ], "Before the upload, README.md in OUT is stamped with the repository id (in its load_dataset(...)\n"
       "lines) and the version (--tag, else manifest.json's), so OUT stays what was published.")
    push.add_argument("out", type=Path, help="the --out folder of a build")
    push.add_argument("--repo", required=True, help="USER/NAME of the dataset repository (created if missing)")
    push.add_argument("--private", action="store_true", help="create the repository private")
    push.add_argument("--revision", help="branch to push to (created if missing; default main)")
    push.add_argument("--tag", help="tag the pushed commit, e.g. v1.0")
    push.add_argument("--message", help="commit message")
    push.add_argument("--dry-run", action="store_true",
                      help="list what would be uploaded and the card's configs; offline, no token needed")
    _quiet_flag(push)
    push.set_defaults(handler=run_push)

    pull = _command(commands, "pull", "download a published dataset version into a folder", [
        "crd pull me/zh-r1-distill@v1.0 --out out/v1.0", "crd pull me/zh-r1-distill --out out/latest -q",
    ])
    pull.add_argument("repo", help="USER/NAME, optionally @REVISION (a tag, branch or commit)")
    pull.add_argument("--out", type=Path, required=True, help="folder to download into")
    _quiet_flag(pull)
    pull.set_defaults(handler=run_pull)

    compare = _command(commands, "compare", "draw the prompts of two datasets on one semantic map, with their overlap", [
        "crd compare out/my-dataset runs/pool/pool.parquet --out map.png",
        "crd compare alpaca_zh.jsonl ape210k.jsonl --column-a instruction --column-b question --out map.png",
    ], 'needs the viz extra: pip install "chinese-reasoning-distil[viz]"')
    compare.add_argument("a", help="output or pulled dataset folder, pool.parquet, parts folder or glob, JSON Lines, …")
    compare.add_argument("b", help="the same kinds as A")
    compare.add_argument("--out", type=Path, required=True, help="PNG to write")
    compare.add_argument("--column-a", default="prompt",
                         help='prompt column of A, or a template such as "{instruction}\n{input}" (default: prompt)')
    compare.add_argument("--column-b", default="prompt", help="the same for B")
    compare.add_argument("--sample", type=int, default=200_000, help="prompts per side at most (default 200,000)")
    compare.add_argument("--embedding", help="a local sentence-transformers model folder (default: TF-IDF + SVD)")
    compare.set_defaults(handler=run_compare)

    sim = _command(commands, "sim", "serve the local OpenAI-compatible simulator (not a model)", [
        "crd sim --port 8731",
        "crd sim --fault all=0.2 --latency 0.5 --seed 1",
        "crd sim --answers my-pool.jsonl --wrong-rate 0.1 --fault loop=0.05",
    ])
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8731)
    sim.add_argument("--answers", type=Path, default=demo_data.POOL,
                     help="JSON Lines with prompt and reference_answer (default: the demo pool)")
    _encoding_flag(sim, "of the --answers file")
    sim.add_argument("--wrong-rate", type=float, default=0.2, help="share of known answers given wrong on purpose")
    sim.add_argument("--latency", type=float, default=0.0, help="seconds before each reply")
    sim.add_argument("--reasoning-chars", type=int, default=400, help="length of the canned reasoning")
    sim.add_argument("--chunk-chars", type=int, default=0,
                     help="characters per streamed chunk (default 20-40; 1: a chunk per token, as servers send)")
    sim.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between streamed chunks")
    sim.add_argument("--fault", action="append", default=[], metavar="KIND=RATE",
                     help="share of attempts that fail as KIND: 429, 500, 503, hang, truncate, broken_stream, "
                          "garbage, empty, loop (reasoning repeats a paragraph until max_tokens), "
                          "or all (spread evenly); repeatable")
    sim.add_argument("--retry-after", type=float, default=1.0, help="Retry-After seconds sent with a 429")
    sim.add_argument("--hang-seconds", type=float, default=3600.0, help="how long a hang lasts")
    sim.add_argument("--api-key-env", help="accept only the key in this environment variable (default: any key)")
    sim.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    sim.add_argument("--batch-delay", type=float, default=0.0, help="seconds each batch waits before it runs")
    sim.add_argument("--batch-fail-rate", type=float, default=0.0, help="share of batch lines answered with an error")
    sim.add_argument("--batch-expire-rate", type=float, default=0.0,
                     help="share of batch lines the completion window runs out on (their batch ends expired)")
    sim.set_defaults(handler=run_sim)
    return root


def _command(commands, name: str, summary: str, examples: list[str], note: str = "", *,
             description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose --help ends with real invocations (a test parses every one of them)."""
    return commands.add_parser(name, help=summary, description=description, epilog=_examples(examples, note),
                               formatter_class=argparse.RawDescriptionHelpFormatter)


def _examples(examples: list[str], note: str = "") -> str:
    return "examples:\n" + "".join(f"  {example}\n" for example in examples) + (f"\n{note}" if note else "")


def _quiet_flag(command: argparse.ArgumentParser) -> None:
    command.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _encoding_flag(command: argparse.ArgumentParser, of: str = "of the input file") -> None:
    def known(name: str) -> str:
        try:
            return encoding_name(name)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    command.add_argument("--encoding", type=known,
                         help=f"text encoding {of}, e.g. gbk; default: detected (UTF-8, a BOM, or GB18030)")


def run_demo(args: argparse.Namespace) -> int:
    from processing.config import load_config
    from processing.sim import SimSettings, Simulator, load_answers

    config = load_config(demo_data.CONFIG)
    run_dir = _output_folders(args.out, None)
    print("crd demo: answers come from the crd simulator, a local test server, not a model.")
    if args.base_url:
        summary = _demo_build(config, args, args.base_url, run_dir)
    else:
        with Simulator(SimSettings(answers=load_answers(demo_data.POOL))) as sim:
            summary = _demo_build(config, args, sim.base_url, run_dir)
    _print_summary(summary)
    return 0


def _demo_build(config, args: argparse.Namespace, base_url: str, run_dir: Path):
    from processing.sim_labels import simulator_told

    for model in [*config.models, *config.complexity.scorers, *([config.judge] if config.judge else [])]:
        model.base_url = base_url
    simulator_told(base_url)  # run_demo said so already
    return _build(config, args.out, run_dir, args.quiet, retry_failed=False)


def run_build(args: argparse.Namespace) -> int:
    from processing.config import load_config

    config = load_config(args.config)
    run_dir = _output_folders(args.out, args.run_dir)
    if args.dry_run:
        from processing.pipeline import plan

        print(plan(config, args.out, run_dir, quiet=args.quiet))
        return 0
    summary = _build(config, args.out, run_dir, args.quiet, retry_failed=args.retry_failed)
    _print_summary(summary)
    return 1 if summary.failed else 0


def run_verify(args: argparse.Namespace) -> int:
    from processing.config import load_tables
    from processing.verify.run import format_report, verify_file
    from processing.verify.settings import JudgeSettings, VerifyConfig

    tables = load_tables(args.config, {"verify": VerifyConfig, "judge": JudgeSettings}) if args.config else {}
    if args.judge_config:
        tables.update(load_tables(args.judge_config, {"judge": JudgeSettings}, required=("judge",)))
    run_dir = args.run_dir or args.out.with_suffix(".run")
    check_folder(args.out.parent)
    check_folder(run_dir, "--run-dir")
    report = verify_file(args.input, args.out, tables.get("verify") or VerifyConfig(), judge=tables.get("judge"),
                         run_dir=run_dir, quiet=args.quiet, retry_failed=args.retry_failed)
    print(format_report(report))
    print(f"written to {args.out}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from processing.files import atomic_path
    from processing.pool.importers import iter_import
    from processing.progress import parquet_rows, stage_bar
    from processing.publish.settings import OutputConfig
    from processing.publish.shards import write_parquet

    _require_file(args.path, "give the path of a downloaded dataset file")
    check_folder(args.out)
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in args.out.glob("part-*.parquet"):  # a rerun must not mix with an older import
        stale.unlink()
    rows = parts = 0
    with stage_bar("import", parquet_rows(args.path), quiet=args.quiet) as bar:
        for part, frame in enumerate(iter_import(args.format, args.path, encoding=args.encoding)):
            with atomic_path(args.out / f"part-{part:05d}.parquet") as temporary:
                write_parquet(frame.to_arrow(), temporary, OutputConfig().row_group_bytes)  # the build's writer
            rows, parts = rows + len(frame), part + 1
            bar.update(len(frame))
    print(f"imported {rows} rows from {args.path} as {args.format} into {args.out} ({parts} Parquet parts)")
    return 0


def run_pool(args: argparse.Namespace) -> int:
    from processing.config import load_config
    from processing.pool.settings import PoolConfig
    from processing.pool.run import build_pool, format_summary

    config = load_config(args.config, PoolConfig)
    check_folder(args.out)
    result = build_pool(config, args.out, quiet=args.quiet)
    print(format_summary(result.summary))
    print("seconds: " + ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in result.seconds.items()))
    print(f"pool of {result.pool.height} prompts written to {args.out / 'pool.parquet'}; rejects in {args.out / 'pool'}")
    return 0


def run_score(args: argparse.Namespace) -> int:
    from processing.config import load_config
    from processing.pool.run import build_pool
    from processing.route.run import format_plan, plan_routes

    config = load_config(args.config)
    if not config.complexity.scorers:
        raise CrdError(f"{args.config}: no [[complexity.scorers]]; add at least one scorer model to rate prompts")
    check_folder(args.run_dir, "--run-dir")
    pool = build_pool(config, args.run_dir, quiet=args.quiet).pool
    plan = plan_routes(pool, config.complexity, config.routing, config.models, args.run_dir, quiet=args.quiet,
                       retry_failed=args.retry_failed)
    print(format_plan(plan, config.complexity))
    print(f"plot: {plan.plot}; ratings: {plan.plot.with_name('scores.parquet')}")


def run_push(args: argparse.Namespace) -> int:
    from processing.publish.hub import format_plan, plan_push, push

    plan = plan_push(args.out, args.repo, args.tag)
    if args.dry_run:
        print(format_plan(plan, args.revision, args.tag))
        return 0
    print(plan.version_note)
    print(plan.id_note)
    commit = push(plan, private=args.private, revision=args.revision, tag=args.tag, message=args.message)
    where = f"{args.repo}@{args.tag or args.revision or 'main'}"
    print(f"pushed {len(plan.files)} files to the dataset {args.repo} (commit {commit[:12]}); "
          f"load it with load_dataset({args.repo!r}) or `crd pull {where} --out DIR`")
    return 0


def run_pull(args: argparse.Namespace) -> int:
    from processing.publish.hub import pull

    out = pull(args.repo, args.out)
    print(f"pulled {args.repo} into {out}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from processing.publish.compare import compare, draw_map, read_side, require_viz, summary_lines

    require_viz()
    if args.sample < 2:
        raise CrdError("--sample: give at least 2 prompts per side")
    sides = [read_side(path, column, args.sample) for path, column in ((args.a, args.column_a), (args.b, args.column_b))]
    result = compare(*sides, args.embedding, say=lambda line: print(line, flush=True))
    print("\n".join(summary_lines(result)))
    print(f"map written to {draw_map(result, args.out)}")
    return 0


def run_sim(args: argparse.Namespace) -> int:
    from processing.sim import SimSettings, load_answers, run_server_forever
    from processing.sim_batch import BatchSimSettings

    from processing.llm.keys import read_key

    key = read_key(args.api_key_env, "crd sim --api-key-env", "the simulator") if args.api_key_env else None
    try:
        settings = SimSettings(
            answers=load_answers(args.answers, args.encoding), wrong_rate=args.wrong_rate, latency=args.latency,
            reasoning_chars=args.reasoning_chars, chunk_chars=args.chunk_chars, chunk_delay=args.chunk_delay,
            retry_after=args.retry_after, hang_seconds=args.hang_seconds, seed=args.seed, api_key=key,
            batch=BatchSimSettings(delay=args.batch_delay, fail_rate=args.batch_fail_rate,
                                   expire_rate=args.batch_expire_rate),
            **_fault_rates(args.fault),
        )
    except ValueError as exc:  # SimSettings names the bad setting
        raise CrdError(str(exc)) from None
    run_server_forever(settings, args.host, args.port)
    return 0


def _fault_rates(specs: list[str]) -> dict[str, float]:
    """`--fault KIND=RATE` flags as SimSettings rate fields; `all` spreads one rate over every kind."""
    from processing.sim import FAULTS

    rates: dict[str, float] = {}
    for spec in specs:
        kind, _, rate = spec.partition("=")
        kinds = FAULTS if kind == "all" else (kind,)
        if not set(kinds) <= set(FAULTS):
            raise CrdError(f"--fault {spec}: unknown kind {kind!r}; use one of {', '.join(FAULTS)} or all")
        try:
            share = float(rate) / len(kinds)
        except ValueError:
            raise CrdError(f"--fault {spec}: RATE must be a number between 0 and 1") from None
        rates.update({f"rate_{name}": share for name in kinds})
    return rates


FAILURES_SHOWN = 10
FLAG_OF_FIELD = {"max_concurrency": "--concurrency", "base_url": "--base-url", "name": "--model"}


def run_generate(args: argparse.Namespace) -> int:
    from processing.llm.generate import FAILURES, GENERATIONS, generate_file

    model = _model_from_flags(args)
    check_folder(args.out)
    result = generate_file(args.input, model, args.out, retry_failed=args.retry_failed, quiet=args.quiet,
                           encoding=args.encoding)
    print(f"crd generate: {result.finished} of {result.requests} requests finished, {len(result.failures)} failed")
    print(f"  {result.stats}")
    print(f"  rows in {result.out_dir / GENERATIONS}")
    if result.failures:
        for record in result.failures[:FAILURES_SHOWN]:
            print(f"  failed: prompt {record['prompt_id']} sample {record['sample']}: {record['error']}")
        more = len(result.failures) - FAILURES_SHOWN
        print(f"  {'and ' + str(more) + ' more ' if more > 0 else ''}listed in {result.out_dir / FAILURES}; "
              "rerun with --retry-failed to ask again")
    return 1 if result.failures else 0


def run_batches(args: argparse.Namespace) -> int:
    from processing.llm.batch_status import batch_states, format_states

    print(format_states(batch_states(args.run, cancel=args.cancel)))
    return 0


def _model_from_flags(args: argparse.Namespace):
    """A ModelConfig from `crd generate` flags; a bad value names its flag."""
    from pydantic import ValidationError

    from processing.llm.settings import ModelConfig

    fields = {
        "name": args.model, "base_url": args.base_url[0], "base_urls": args.base_url[1:],
        "api_key_env": args.api_key_env, "preset": args.preset, "max_concurrency": args.concurrency,
        "rpm": args.rpm, "tpm": args.tpm, "stream": args.stream, "timeout": args.timeout,
        "max_tokens": args.max_tokens, "temperature": args.temperature, "samples": args.samples,
        "force_think_prefix": args.force_think_prefix, "mode": args.mode, "batch_window": args.batch_window,
        "batch_poll": args.batch_poll, "batch_max_requests": args.batch_max_requests,
    }
    try:
        return ModelConfig.model_validate({name: value for name, value in fields.items() if value is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0])
        raise CrdError(f"{FLAG_OF_FIELD.get(field, '--' + field.replace('_', '-'))}: {error['msg']}") from None


def _output_folders(out: Path, run_dir: Path | None) -> Path:
    """The run directory (default: OUT.run), once both folders are known to be makeable."""
    check_folder(out)
    run_dir = run_dir or out.with_name(out.name + ".run")
    check_folder(run_dir, "--run-dir")
    return run_dir


def _build(config, out: Path, run_dir: Path, quiet: bool, retry_failed: bool):
    from processing.pipeline import build

    return build(config, out, run_dir, quiet=quiet, retry_failed=retry_failed)


def _print_summary(summary) -> None:
    print(f"prompts in: {summary.prompts}   rows out: {summary.rows}   failed requests: {summary.failed}")
    print("rows per source: " + ", ".join(f"{source} {n}" for source, n in summary.per_source.items()))
    print("scores: " + ", ".join(f"{score} × {n}" for score, n in summary.scores.items()))
    if summary.failed:
        for reason, count in list(summary.failure_reasons.items())[:5]:
            print(f"  {count} × {reason}")
        print(f"failures listed in {summary.run_dir / 'failures.jsonl'}; rerun with --retry-failed to ask again")
    print(f"dataset written to {summary.out_dir}; try:")
    print(f'  python -c "from datasets import load_dataset; print(load_dataset(\'{summary.out_dir}\', \'sft\', split=\'train\')[0])"')


def _require_file(path: Path, hint: str) -> None:
    if not path.exists():
        raise CrdError(f"{path} not found; {hint}")


if __name__ == "__main__":
    sys.exit(main())
