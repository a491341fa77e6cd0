"""`crd build`: the stages in a run directory, each skipped when its fingerprint is unchanged.

    pool → routing (complexity scoring, the easiest share dropped, teachers assigned)
         → generation → verify → shards → card (+ manifest)

Rows stream in batches from the journal through verification into the shards, so memory
stays flat however many rows there are. The dataset folder is assembled beside the
output folder and swapped in whole: a loader sees the previous build or this one.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import xxhash

from processing import verify
from processing.verify.judge import Judge, judge_description, judge_inputs, merge_judged, rows_to_judge
from processing.verify.filters import flag_counts
from processing.verify.select import selected_ids
from processing.verify.verifier import Verifier
from processing.config import Config
from processing.errors import CrdError
from processing.files import atomic_path, replace_folder
from processing.llm.estimate import estimate, format_estimates
from processing.llm.journal import Job, Journal, make_job, recipe_fingerprint, report_other_recipes, run_jobs
from processing.llm.settings import TRANSPORT_FIELDS, ModelConfig
from processing.manifest import read_manifest, write_manifest
from processing.pool.run import build_pool, read_source_labels
from processing.pool.sources import DESCRIPTION_FIELDS
from processing.prefetch import prefetch
from processing.progress import GenerationProgress, parquet_rows, stage_bar
from processing.publish import card, shards
from processing.publish.licenses import check_licenses, warning_lines
from processing.publish.llamafactory import INFO_FILE, write_llamafactory_info
from processing.publish.shards import read_batches
from processing.publish.tokens import open_tokenizer
from processing.route.run import format_plan, plan_routes
from processing.schema import FULL_SCHEMA, SCHEMAS, derive, stable_id
from processing.sim_labels import FINGERPRINT as SIMULATOR
from processing.stages import Stages, file_digest

BATCH_ROWS = 2000  # rows read, verified and written at a time
POOL = "pool.parquet"
ROUTING = "routing.parquet"
COMPLEXITY_PLOT = Path("complexity") / "scores.png"  # written by the routing stage when prompts are scored
ROUTING_REPORT = "routing.txt"  # the complexity distribution, the cut-off and the tier × teacher plan
SCORED = "scored.parquet"
JOURNAL = "journal.jsonl"
FAILURES = "failures.jsonl"
CARD_OUTPUTS = [*card.CARD_FILES, INFO_FILE]  # what the card stage writes into the dataset folder


@dataclass
class Summary:
    prompts: int
    rows: int
    per_source: dict[str, int]
    scores: dict[str, int]
    failure_reasons: dict[str, int]  # why requests failed, most common first
    out_dir: Path
    run_dir: Path

    @property
    def failed(self) -> int:
        return sum(self.failure_reasons.values())


class Build:
    """One `crd build`: the config, its run directory and the stages run so far."""

    def __init__(self, config: Config, out_dir: Path, run_dir: Path, quiet: bool, retry_failed: bool) -> None:
        self.config, self.out_dir, self.run_dir = config, out_dir, run_dir
        self.quiet, self.retry_failed = quiet, retry_failed
        self.stages = Stages(run_dir)
        self.staging = out_dir.with_name(f".{out_dir.name}.staging")
        self.tokenizer = open_tokenizer(config.output.tokenizer)  # a bad setting fails now, before anything is asked

    @cached_property
    def pool(self) -> pl.DataFrame:
        return pl.read_parquet(self.run_dir / POOL)

    @cached_property
    def journal(self) -> Journal:
        return Journal(self.run_dir / JOURNAL)

    def plan(self) -> str:
        """The pool and routing stages only: what generation would ask, and of whom."""
        self.stages.run("pool", self._pool_inputs(), self._pool, self._pool_reusable)
        self.stages.run("routing", self._routing_settings(), self._route, lambda _: (self.run_dir / ROUTING).exists())
        return (self.run_dir / ROUTING_REPORT).read_text(encoding="utf-8")

    def cost_estimate(self) -> str:
        """Requests, tokens and cost per teacher for every request of the build, asked or not."""
        return format_estimates(estimate(self.jobs(), self.config.models))

    def run(self) -> Summary:
        check_output_folder(self.out_dir)
        try:
            self.plan()
            generation = self.stages.run("generation", self._recipes(), self._generate, self._generation_reusable)
            judge = judge_inputs(self.config.judge) if self.config.judge else None
            # The columns written are an input too: rows of an older schema are verified again.
            verify_settings = [self.config.verify, judge, FULL_SCHEMA.names]
            self.stages.run("verify", verify_settings, self._verify, lambda _: (self.run_dir / SCORED).exists())
            self._publish()
        finally:
            if "journal" in self.__dict__:
                self.journal.close()
        return self._summary(generation.counts)

    # ------------------------------------------------------------------ pool
    def _pool_inputs(self) -> list:
        """Pool settings plus the content of every local input, so an edited file is noticed."""
        paths = [s.path for s in self.config.sources] + [b.path for b in self.config.decontam.benchmarks]
        files = sorted({Path(match) for path in paths for match in glob.glob(path)})  # hf: names match nothing
        contents = {str(path): file_digest(path) for path in files}
        # A source's licence, citation and homepage change the card, never which prompts are read.
        pool_settings = self.config.model_dump(include={"name", "sources", "source_priority", "clean", "dedup", "decontam"},
                                               exclude={"sources": {"__all__": DESCRIPTION_FIELDS}})
        return [pool_settings, contents]

    def _pool_reusable(self, _: dict) -> bool:
        """The pool, and which source each label came from (the card's Sources table reads it)."""
        return (self.run_dir / POOL).exists() and read_source_labels(self.run_dir) is not None

    def _pool(self) -> tuple[dict, None]:
        result = build_pool(self.config, self.run_dir, quiet=self.quiet)  # writes RUN/pool.parquet and RUN/pool/
        self.__dict__.pop("pool", None)
        total = result.summary.filter(pl.col("source") == "total").row(0, named=True)
        removed = {key: value for key, value in total.items() if key not in ("source", "ingested", "kept") and value}
        return {"in": total["ingested"], "out": total["kept"], "removed": removed}, None

    # ------------------------------------------------------------------ routing
    def _routing_settings(self) -> list:
        """What decides the routes: scorers' recipes, the complexity and routing tables, the teachers' shares."""
        complexity = self.config.complexity
        scorers = {scorer.name: recipe_fingerprint(scorer) for scorer in complexity.scorers}
        teachers = [(model.name, model.weight, model.samples) for model in self.config.models]
        return [scorers, complexity.model_dump(exclude={"scorers"}), self.config.routing, teachers]

    def _route(self) -> tuple[dict, None]:
        """Complexity scoring (when scorers are configured), the easiest share dropped, teachers assigned."""
        plan = plan_routes(self.pool, self.config.complexity, self.config.routing, self.config.models, self.run_dir,
                           quiet=self.quiet, retry_failed=self.retry_failed)
        with atomic_path(self.run_dir / ROUTING) as temporary:
            plan.routes.write_parquet(temporary)
        with atomic_path(self.run_dir / ROUTING_REPORT) as temporary:
            temporary.write_text(format_plan(plan, self.config.complexity), encoding="utf-8")
        self.__dict__.pop("prompts", None)
        counts = {"prompts": plan.routes.height, "requests": sum(plan.requests.values()), "per_teacher": plan.requests}
        if plan.selection is not None:
            counts |= {"scored": plan.selection.scored, "dropped": plan.selection.dropped,
                       "cutoff": plan.selection.cutoff}
        return counts, None

    @cached_property
    def prompts(self) -> pl.DataFrame:
        """The routed prompts in pool order: pool columns plus complexity, tier, model, samples."""
        routes = pl.read_parquet(self.run_dir / ROUTING)
        return self.pool.join(routes, on="id", how="inner", maintain_order="left")

    # ------------------------------------------------------------------ generation
    def _recipes(self) -> dict:
        return {"recipes": {m.name: recipe_fingerprint(m) for m in self.config.models},
                "generation": self.config.generation}

    def _generation_reusable(self, record: dict) -> bool:
        return self.journal.path.exists() and not (self.retry_failed and record["counts"].get("failed"))

    def _generate(self) -> tuple[dict, str]:
        todo: dict[str, list[Job]] = {model.name: [] for model in self.config.models}
        wanted = 0
        for job in self.jobs():
            wanted += 1
            if not self.journal.done(job.entry) and (self.retry_failed or not self.journal.failed(job.entry)):
                todo[job.model].append(job)
        report_other_recipes(self.journal.other_recipes(job for jobs in todo.values() for job in jobs))
        asked = sum(map(len, todo.values()))
        asyncio.run(_generate_all(todo, self.config.models, self.journal, wanted, self.quiet))
        entries, finished, hasher = set(), 0, xxhash.xxh3_128()  # what generation produced, hashed as it streams
        for job in self.jobs():
            entries.add(job.entry)
            if self.journal.done(job.entry):
                finished += 1
                # The answer's length in bytes stands for its text (reading every answer back
                # would cost a pass over gigabytes): a journal deleted and asked again holds
                # other texts of other lengths, so the stages after it rerun, while the same
                # answers, in whatever order they finished, give the same fingerprint.
                line = (*job.entry, self.journal.size(job.entry))
                hasher.update("\x1f".join(map(str, line)).encode() + b"\n")
        failures = self.journal.write_failures(self.run_dir / FAILURES, entries)
        reasons = dict(Counter(failure["error"] for failure in failures).most_common())
        counts = {"requests": wanted, "asked": asked, "finished": finished, "failed": len(failures),
                  "failure_reasons": reasons}
        return counts, hasher.hexdigest()

    def jobs(self) -> Iterator[Job]:
        """Every request of the build in a fixed order: pool order, then teacher, then sample."""
        models = {model.name: model for model in self.config.models}
        recipes = {name: recipe_fingerprint(model) for name, model in models.items()}
        rows = self.prompts.select("id", "prompt", "category", "model", "samples")
        for prompt_id, prompt, category, model_name, samples in rows.iter_rows():
            messages = teacher_messages(prompt, category, self.config)
            model = models[model_name]
            for sample in range(samples):
                yield make_job(prompt_id, model, sample, messages, recipes[model_name])

    # ------------------------------------------------------------------ verify
    def _verify(self) -> tuple[dict, None]:
        scores: Counter = Counter()
        flags: Counter = Counter()
        methods: Counter = Counter()
        rows = judged_by_simulator = 0
        judge_settings = self.config.judge
        judging = Judge(judge_settings, self.run_dir, quiet=self.quiet, retry_failed=self.retry_failed) \
            if judge_settings else nullcontext()
        finished = self.stages.result("generation").counts.get("finished")
        with atomic_path(self.run_dir / SCORED) as temporary, Verifier(self.config.verify) as verifier, judging as judge, \
                pq.ParquetWriter(temporary, FULL_SCHEMA, **shards.parquet_options(FULL_SCHEMA)) as writer, \
                stage_bar("verify", finished, quiet=self.quiet) as bar:
            for batch in prefetch(self._finished_batches(), depth=1):  # reading overlaps scoring
                scored = verify.score(batch, self.config.verify, verifier)
                if judge is not None:  # what the checks could not score
                    judged = judge.judge(rows_to_judge(scored, judge_settings))
                    judged_by_simulator += (judged["judge_server"] == SIMULATOR).sum()
                    scored = merge_judged(scored, judged)
                scored = scored.select(FULL_SCHEMA.names)
                writer.write_table(scored.to_arrow().cast(FULL_SCHEMA))
                rows += scored.height
                scores.update(_score_label(value) for value in scored["score"].to_list())
                flags.update(flag_counts(scored["quality_flags"]))
                methods.update(scored["verify_method"].fill_null("unchecked").to_list())
                bar.update(scored.height)
        counts = {"rows": rows, "scores": dict(sorted(scores.items())), "methods": dict(methods.most_common()),
                  "quality_flags": dict(flags)}
        return counts | ({"judged_by_simulator": judged_by_simulator} if judged_by_simulator else {}), None

    def _finished_batches(self) -> Iterator[pl.DataFrame]:
        """Finished answers joined to their prompts, in the build's fixed order, BATCH_ROWS at a time."""
        position = {prompt_id: index for index, prompt_id in enumerate(self.prompts["id"].to_list())}
        batch: list[dict] = []
        for job in self.jobs():
            if self.journal.done(job.entry):
                batch.append(self.journal.read(job.entry))
                if len(batch) == BATCH_ROWS:
                    yield self._join(batch, position)
                    batch = []
        if batch:
            yield self._join(batch, position)

    def _join(self, records: list[dict], position: dict[str, int]) -> pl.DataFrame:
        generated = pl.DataFrame(records, schema=GENERATED_SCHEMA)
        prompts = self.prompts[[position[record["prompt_id"]] for record in records]].drop("id", "model", "samples")
        ids = [stable_id(r["prompt_id"], r["model"], r["sample"]) for r in records]
        return pl.concat([generated, prompts], how="horizontal").with_columns(
            pl.Series("id", ids, pl.String), pl.lit(None, pl.String).alias("judge_parts"))

    # ------------------------------------------------------------------ publish
    def _publish(self) -> None:
        """Shards and card into a staging folder (reused parts hard-linked), then swap it in."""
        shutil.rmtree(self.staging, ignore_errors=True)
        self.staging.mkdir(parents=True)
        output = self.config.output
        shard_settings = output.model_dump(include={"configs", "max_shard_bytes", "row_group_bytes"})
        self.stages.run("shards", shard_settings, self._write_shards, lambda r: self._reuse_published(r, ["data"]))
        recipe = self.config.model_dump(mode="json", exclude={"models": {"__all__": TRANSPORT_FIELDS}})
        # Whether rows are simulated is read from the rows (their system_fingerprint), which
        # the stages before already fingerprint: no setting of its own. The recipe holds the
        # tokenizer's path; its content hash catches a file changed in place.
        card_settings = [recipe, _package_version(), self.tokenizer and self.tokenizer.identity]
        self.stages.run("card", card_settings, self._write_card, lambda r: self._reuse_published(r, CARD_OUTPUTS))
        write_manifest(self.staging, self.config, self.stages.results, simulated_rows=self._simulated_rows())
        replace_folder(self.staging, self.out_dir)

    def _reuse_published(self, record: dict, names: list[str]) -> bool:
        """Hard-link a stage's outputs from the dataset folder, if that folder was published with them.

        The folder's own manifest is the proof: a stage record alone could describe a
        staging folder that a crash kept from being swapped in."""
        published = read_manifest(self.out_dir).get("stages", {}).get(record["name"], {})
        if published.get("fingerprint") != record["fingerprint"]:
            return False
        for name in names:
            previous = self.out_dir / name
            if previous.is_dir():
                shutil.copytree(previous, self.staging / name, copy_function=_link)
            elif previous.exists():
                _link(previous, self.staging / name)
        return True

    def _write_shards(self) -> tuple[dict, None]:
        output = self.config.output
        writers = {name: shards.ShardWriter(self.staging, name, SCHEMAS[name], output.max_shard_bytes,
                                            output.row_group_bytes) for name in output.configs}
        keep, removed = selected_ids(self.run_dir / SCORED, self.config.verify.select)
        simulated = 0
        # Arrow derives, compresses and writes without the GIL: the configs share the cores.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as threads, \
                stage_bar("shards", parquet_rows(self.run_dir / SCORED), quiet=self.quiet) as bar:
            for batch in read_batches(self.run_dir / SCORED, BATCH_ROWS):
                table = pa.Table.from_batches([batch])
                if keep is not None:
                    table = table.filter(pc.is_in(table["id"], value_set=keep))
                simulated += pc.sum(pc.equal(table["system_fingerprint"], SIMULATOR)).as_py() or 0
                list(threads.map(lambda item: item[1].add(derive(table, item[0])), writers.items()))
                bar.update(batch.num_rows)
        files = {name: writer.close() for name, writer in writers.items()}
        counts = {"data": sum(map(len, files.values())), "rows": {name: w.rows for name, w in writers.items()}}
        return counts | ({"removed": removed} if removed else {}) | ({"simulated": simulated} if simulated else {}), None

    def _simulated_rows(self) -> int:
        """Published rows answered by the crd simulator (their system_fingerprint says so)."""
        return self.stages.result("shards").counts.get("simulated", 0)

    def _write_card(self) -> tuple[dict, None]:
        """The card with its figures, and LLaMA-Factory's dataset_info.json beside the shards."""
        record = card.BuildRecord(
            stages=self.stages.results,
            routing_report=(self.run_dir / ROUTING_REPORT).read_text(encoding="utf-8"),
            complexity_plot=self.run_dir / COMPLEXITY_PLOT,
            judge=judge_description(self.config.judge) if self.config.judge else "",
            keep=selected_ids(self.run_dir / SCORED, self.config.verify.select)[0],
            judged_by_simulator=self.stages.result("verify").counts.get("judged_by_simulator", 0),
            source_labels=read_source_labels(self.run_dir),
            tokenizer=self.tokenizer,
        )
        with stage_bar("card", parquet_rows(self.run_dir / SCORED), quiet=self.quiet):  # moved by card.card_stats
            written = card.write_card(self.config, self.run_dir / SCORED, self.staging, self._simulated_rows(), record,
                                      repo_id=self.out_dir.name)
        if write_llamafactory_info(self.staging, self.config.output.configs):
            written = [*written, INFO_FILE]
        return {name: int(name in written) for name in CARD_OUTPUTS}, None

    def _summary(self, generation: dict) -> Summary:
        stats = pl.scan_parquet(self.run_dir / SCORED)
        per_source = dict(stats.group_by("source").len().sort("source").collect().iter_rows())
        verify_counts = self.stages.result("verify").counts
        published = max(self.stages.result("shards").counts["rows"].values(), default=0)
        return Summary(self.pool.height, published, per_source, verify_counts["scores"],
                       generation.get("failure_reasons", {}), self.out_dir, self.run_dir)


GENERATED_SCHEMA = {
    "prompt_id": pl.String, "model": pl.String, "sample": pl.Int32, "reasoning": pl.String, "response": pl.String,
    "finish_reason": pl.String, "prompt_tokens": pl.Int64, "completion_tokens": pl.Int64,
    "reasoning_tokens": pl.Int64, "created_at": pl.String, "system_fingerprint": pl.String,
}


def build(config: Config, out_dir: Path, run_dir: Path, *, quiet: bool = False, retry_failed: bool = False) -> Summary:
    run_dir.mkdir(parents=True, exist_ok=True)
    warn_licenses(config)
    return Build(config, out_dir, run_dir, quiet, retry_failed).run()


def plan(config: Config, out_dir: Path, run_dir: Path, *, quiet: bool = False) -> str:
    """`crd build --dry-run`: the routing plan, with no teacher asked."""
    run_dir.mkdir(parents=True, exist_ok=True)
    warn_licenses(config)
    build = Build(config, out_dir, run_dir, quiet, retry_failed=False)
    return build.plan() + "\n\nbefore anything is asked:\n" + build.cost_estimate()


def warn_licenses(config: Config) -> None:
    """Before anything runs: sources whose licence the output licence does not follow, and
    those crd cannot judge. Always shown, -q or not; the output licence is never changed."""
    for line in warning_lines(check_licenses(config.sources, config.output.license)):
        print(f"crd: {line}", file=sys.stderr, flush=True)


def check_output_folder(out_dir: Path) -> None:
    """The output folder is replaced whole: refuse one that holds something crd did not write."""
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "manifest.json").exists():
        raise CrdError(f"{out_dir} exists and is not a dataset folder written by crd (no manifest.json); "
                       "a build replaces its output folder whole, so give an empty or new --out")


def teacher_messages(prompt: str, category: str, config: Config) -> tuple[tuple[str, str], ...]:
    """What the teacher sees: no system prompt by default; the math suffix where configured."""
    text = prompt
    if category in config.generation.suffix_categories and config.generation.math_suffix:
        text = f"{prompt}\n{config.generation.math_suffix}"
    messages = [("user", text)]
    if config.generation.system_prompt:
        messages.insert(0, ("system", config.generation.system_prompt))
    return tuple(messages)


async def _generate_all(todo: dict[str, list[Job]], models: list[ModelConfig], journal: Journal, total: int,
                        quiet: bool) -> None:
    progress = GenerationProgress(total, quiet, done=total - sum(map(len, todo.values())))
    try:
        await asyncio.gather(*(run_jobs(todo[model.name], model, journal, progress) for model in models))
    finally:
        progress.close()


def _score_label(score: float | None) -> str:
    return "unscored" if score is None else f"{score:g}"


def _link(source, destination) -> None:
    Path(destination).hardlink_to(source)


def _package_version() -> str:
    from importlib.metadata import version

    return version("chinese-reasoning-distil")

