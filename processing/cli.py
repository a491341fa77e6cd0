"""The `crd` command: thin wrappers over the pipeline; expected errors are one line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from processing.errors import CrdError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO_ROOT / "examples" / "demo.toml"
DEMO_POOL = REPO_ROOT / "examples" / "demo" / "prompts.jsonl"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args) or 0
    except CrdError as exc:
        if os.environ.get("CRD_DEBUG"):
            raise
        print(f"crd: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("crd: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="crd", description="Build, verify and publish Chinese reasoning-distillation datasets.")
    commands = root.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="offline end-to-end run on the bundled pool against the simulator")
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="dataset folder to write (default: out/demo)")
    demo.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(handler=run_demo)

    build = commands.add_parser("build", help="run the pipeline from a TOML config")
    build.add_argument("config", type=Path)
    build.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    build.add_argument("--run-dir", type=Path, help="where stage outputs and the journal live (default: OUT.run)")
    build.add_argument("--retry-failed", action="store_true", help="ask again for requests recorded as failed")
    build.add_argument("-q", "--quiet", action="store_true")
    build.set_defaults(handler=run_build)

    generate = commands.add_parser("generate", help="answer every prompt of a file with one teacher (resumable)")
    generate.add_argument("input", type=Path, help="JSON Lines or Parquet with a `prompt` column and optional `id`")
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
    generate.add_argument("-q", "--quiet", action="store_true")
    generate.set_defaults(handler=run_generate)

    imports = commands.add_parser("import", help="convert an existing distilled dataset into the canonical schema")
    imports.add_argument("format", help="congliu, congliu-sft, mxode, am, alpaca or sharegpt")
    imports.add_argument("path", type=Path, help="JSON Lines (.jsonl, .jsonl.zst), JSON array or Parquet file")
    imports.add_argument("--out", type=Path, required=True, help="folder for the Parquet parts")
    imports.set_defaults(handler=run_import)

    pool = commands.add_parser("pool", help="build the instruction pool: ingest, clean, dedup, decontaminate")
    pool.add_argument("config", type=Path, help="TOML with [[sources]] and optional [clean], [dedup], [decontam]")
    pool.add_argument("--out", type=Path, required=True, help="run folder for pool.parquet and pool/ (rejects, summary)")
    pool.set_defaults(handler=run_pool)

    sim = commands.add_parser("sim", help="serve the local OpenAI-compatible simulator (not a model)")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8731)
    sim.add_argument("--answers", type=Path, default=DEMO_POOL, help="JSON Lines with prompt and reference_answer")
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
    sim.set_defaults(handler=run_sim)
    return root


def run_demo(args: argparse.Namespace) -> int:
    from processing.config import load_config
    from processing.sim import SimSettings, Simulator, load_answers

    _require_file(DEMO_CONFIG, "the demo needs the repository's examples/ folder; run it from a clone")
    config = load_config(DEMO_CONFIG)
    print("crd demo: answers come from the crd simulator, a local test server, not a model.")
    with Simulator(SimSettings(answers=load_answers(DEMO_POOL))) as sim:
        for model in config.models:
            model.base_url = sim.base_url
        summary = _build(config, args.out, None, args.quiet, simulated=True, retry_failed=False)
    _print_summary(summary)
    return 0


def run_build(args: argparse.Namespace) -> int:
    from processing.config import load_config

    config = load_config(args.config)
    summary = _build(config, args.out, args.run_dir, args.quiet, simulated=False, retry_failed=args.retry_failed)
    _print_summary(summary)
    return 1 if summary.failed else 0


def run_import(args: argparse.Namespace) -> int:
    from processing.files import atomic_path
    from processing.pool.importers import iter_import

    _require_file(args.path, "give the path of a downloaded dataset file")
    args.out.mkdir(parents=True, exist_ok=True)
    for stale in args.out.glob("part-*.parquet"):  # a rerun must not mix with an older import
        stale.unlink()
    rows = parts = 0
    for part, frame in enumerate(iter_import(args.format, args.path)):
        with atomic_path(args.out / f"part-{part:05d}.parquet") as temporary:
            frame.write_parquet(temporary)
        rows, parts = rows + len(frame), part + 1
    print(f"imported {rows} rows from {args.path} as {args.format} into {args.out} ({parts} Parquet parts)")
    return 0


def run_pool(args: argparse.Namespace) -> int:
    from processing.config import load_config
    from processing.pool.settings import PoolConfig
    from processing.pool.run import build_pool, format_summary

    result = build_pool(load_config(args.config, PoolConfig), args.out)
    print(format_summary(result.summary))
    print("seconds: " + ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in result.seconds.items()))
    print(f"pool of {result.pool.height} prompts written to {args.out / 'pool.parquet'}; rejects in {args.out / 'pool'}")
    return 0


def run_sim(args: argparse.Namespace) -> int:
    from processing.sim import SimSettings, load_answers, run_server_forever

    from processing.llm.keys import read_key

    key = read_key(args.api_key_env, "crd sim --api-key-env", "the simulator") if args.api_key_env else None
    try:
        settings = SimSettings(
            answers=load_answers(args.answers), wrong_rate=args.wrong_rate, latency=args.latency,
            reasoning_chars=args.reasoning_chars, chunk_chars=args.chunk_chars, chunk_delay=args.chunk_delay,
            retry_after=args.retry_after, hang_seconds=args.hang_seconds, seed=args.seed, api_key=key,
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
    result = generate_file(args.input, model, args.out, retry_failed=args.retry_failed, quiet=args.quiet)
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


def _model_from_flags(args: argparse.Namespace):
    """A ModelConfig from `crd generate` flags; a bad value names its flag."""
    from pydantic import ValidationError

    from processing.llm.settings import ModelConfig

    fields = {
        "name": args.model, "base_url": args.base_url[0], "base_urls": args.base_url[1:],
        "api_key_env": args.api_key_env, "preset": args.preset, "max_concurrency": args.concurrency,
        "rpm": args.rpm, "tpm": args.tpm, "stream": args.stream, "timeout": args.timeout,
        "max_tokens": args.max_tokens, "temperature": args.temperature, "samples": args.samples,
        "force_think_prefix": args.force_think_prefix,
    }
    try:
        return ModelConfig.model_validate({name: value for name, value in fields.items() if value is not None})
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0])
        raise CrdError(f"{FLAG_OF_FIELD.get(field, '--' + field.replace('_', '-'))}: {error['msg']}") from None


def _build(config, out: Path, run_dir: Path | None, quiet: bool, simulated: bool, retry_failed: bool):
    from processing.pipeline import build

    run_dir = run_dir or out.with_name(out.name + ".run")
    return build(config, out, run_dir, quiet=quiet, simulated=simulated, retry_failed=retry_failed)


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
