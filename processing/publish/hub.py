"""`crd push` and `crd pull`: an output folder to and from a Hugging Face dataset repository.

Only the dataset goes up: an allowlist of the output layout (card, manifest, LLaMA-Factory
registration, shards, images) minus anything hidden or temporary, and nothing from a run
directory. Text files are checked for the values of secret-looking environment variables
before anything is sent.

The card is stamped before the upload: the version goes into its YAML, and every place
its body names the dataset for a loader (rendered by the build with the output folder's
name) gets the repository id. The stamp is written into OUT itself, so OUT stays exactly
what was published and a pull of the version returns the same bytes; pushing again
stamps the same text. The token comes from huggingface_hub's usual places (HF_TOKEN,
`hf auth login`) and is never printed.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from huggingface_hub import DatasetCard, HfApi, get_token
from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, filter_repo_objects

from processing.errors import CrdError
from processing.files import atomic_path

REPO_TYPE = "dataset"
# What a crd output folder publishes; anything else (a run directory placed inside it, a
# user's notes, an .env) stays local.
ALLOW_PATTERNS = ["README.md", "manifest.json", "dataset_info.json", "data/*/*.parquet", "images/*.png"]
# Belt and braces over the allowlist: hidden and temporary files (staging folders,
# atomic-write temporaries, the .cache/ a pull leaves), run directories and journals.
IGNORE_PATTERNS = [".*", "*/.*", "*.tmp", "*.run/*", "*journal*", "*failures*", "*.env", "*.key", "*.pem"]
# Remote files under these folders that this push does not upload are deleted in the same
# commit, so a version with fewer shards never leaves stale ones for `data/<config>/train-*`.
DELETE_PATTERNS = ["data/*", "images/*"]
TEXT_SUFFIXES = {".md", ".json"}
# Where a card names its dataset for a loader: `load_dataset("…"` calls, and `hf_hub_url` or
# `dataset_name` settings (LLaMA-Factory's dataset_info, TRL's scripts, configs and command
# line), quoted or bare. The `id` group is what push replaces.
DATASET_MENTIONS = (
    re.compile(r"""load_dataset\(\s*(["'])(?P<id>[^"'\n]+)\1"""),
    re.compile(r"""(?:\b(?:hf_hub_url|dataset_name)["']?\s*[:=]\s*|--(?:hf_hub_url|dataset_name)[ \t]+)"""
               r"""(["']?)(?P<id>[^"'\s,)}\]]+)\1"""),
)
SECRET_NAME = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
MIN_SECRET_CHARS = 8


@dataclass
class PushPlan:
    repo_id: str
    folder: Path
    files: list[tuple[str, int]]  # path in the repository, bytes
    left_out: list[str]  # files in the folder that are not part of the dataset
    configs: list[str]  # "name: data/name/train-*"
    version: str | None  # written into the card's YAML before upload
    version_note: str  # where the version came from, or why none is written
    id_note: str  # the card's mentions of the dataset that get the repository id


def client() -> HfApi:
    """The one seam to the Hub: tests replace it with a recording fake."""
    return HfApi()


def plan_push(folder: Path, repo_id: str, tag: str | None) -> PushPlan:
    """What `crd push` would do; reads only the local folder (offline, no token)."""
    _check_repo_id(repo_id)
    folder = Path(folder)
    if not (folder / "README.md").is_file() or not (folder / "data").is_dir():
        raise CrdError(f"{folder}: not a crd output folder (no README.md and data/); give the --out of a build")
    every = sorted(p.relative_to(folder).as_posix() for p in folder.glob("**/*") if p.is_file())
    sent = upload_paths(every)
    files = [(path, (folder / path).stat().st_size) for path in sent]
    _refuse_secrets(folder, sent)
    version, note = _version(folder, tag)
    left_out = sorted(set(every) - set(sent))
    configs = _card_configs(folder / "README.md")
    return PushPlan(repo_id, folder, files, left_out, configs, version, note, _id_note(folder / "README.md", repo_id))


def upload_paths(paths: list[str]) -> list[str]:
    """Which of a folder's files (relative paths) upload_folder sends, by huggingface_hub's own filter."""
    ignore = IGNORE_PATTERNS + DEFAULT_IGNORE_PATTERNS
    return list(filter_repo_objects(paths, allow_patterns=ALLOW_PATTERNS, ignore_patterns=ignore))


def push(plan: PushPlan, *, private: bool, revision: str | None, tag: str | None, message: str | None) -> str:
    """Stamp the card, create the repository if needed, upload, tag; returns the commit id."""
    stamp_card(plan.folder / "README.md", plan.repo_id, plan.version)
    api = client()
    with _hub_errors(f"push to {plan.repo_id}"):
        api.create_repo(plan.repo_id, repo_type=REPO_TYPE, private=private or None, exist_ok=True)
        if revision:
            api.create_branch(plan.repo_id, branch=revision, repo_type=REPO_TYPE, exist_ok=True)
        commit = api.upload_folder(
            repo_id=plan.repo_id, folder_path=plan.folder, repo_type=REPO_TYPE, revision=revision,
            commit_message=message or f"crd push {plan.version or ''}".strip(),
            allow_patterns=list(ALLOW_PATTERNS), ignore_patterns=list(IGNORE_PATTERNS),
            delete_patterns=list(DELETE_PATTERNS),
        )
        if tag:
            api.create_tag(plan.repo_id, tag=tag, tag_message=message, revision=commit.oid, repo_type=REPO_TYPE)
    return commit.oid


def pull(spec: str, out: Path) -> Path:
    """Download `USER/NAME[@REVISION]` into `out` (a plain folder, ready for crd and load_dataset)."""
    repo_id, _, revision = spec.partition("@")
    _check_repo_id(repo_id)
    with _hub_errors(f"pull {spec}"):
        client().snapshot_download(repo_id, repo_type=REPO_TYPE, revision=revision or None, local_dir=out)
    return out


def stamp_card(readme: Path, repo_id: str, version: str | None) -> None:
    """Name `repo_id` wherever the card's body names the dataset for a loader and write
    `version` (if any) into its YAML header; atomically, and only if that changes the card."""
    text = readme.read_text(encoding="utf-8")
    _, header, body = text.split("---\n", 2)
    if version is not None:
        metadata = yaml.safe_load(header) or {}
        metadata["version"] = version
        header = yaml.safe_dump(metadata, allow_unicode=True, sort_keys=False)
    stamped = "---\n" + header + "---\n" + name_dataset(body, repo_id)
    if stamped == text:
        return
    DatasetCard(stamped)  # refuses a header the Hub would not read
    with atomic_path(readme) as temporary:
        temporary.write_text(stamped, encoding="utf-8")


def name_dataset(text: str, repo_id: str) -> str:
    """`text` with `repo_id` in every place it names the dataset for a loader (DATASET_MENTIONS)."""
    for pattern in DATASET_MENTIONS:
        text = pattern.sub(lambda match: _renamed(match, repo_id), text)
    return text


def dataset_mentions(text: str) -> list[str]:
    """The ids the text names its dataset by: in load_dataset calls, then in settings."""
    return [match["id"] for pattern in DATASET_MENTIONS for match in pattern.finditer(text) if _names_dataset(match)]


def _renamed(match: re.Match, repo_id: str) -> str:
    if not _names_dataset(match):
        return match[0]
    start, end = match.span("id")
    return match[0][:start - match.start()] + repo_id + match[0][end - match.start():]


def _names_dataset(match: re.Match) -> bool:
    """Not a file-format builder (`load_dataset("parquet", data_files=…)` reads files, it names no dataset)."""
    from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES  # the builders datasets ships

    return match["id"] not in _PACKAGED_DATASETS_MODULES


def format_plan(plan: PushPlan, revision: str | None, tag: str | None) -> str:
    total = sum(size for _, size in plan.files)
    lines = [f"would upload {len(plan.files)} files ({_size(total)}) from {plan.folder} to the dataset "
             f"{plan.repo_id} (branch {revision or 'main'}{', tag ' + tag if tag else ''}):"]
    lines += [f"  {size:>12,}  {path}" for path, size in plan.files]
    if plan.left_out:
        shown = ", ".join(plan.left_out[:5]) + (", …" if len(plan.left_out) > 5 else "")
        lines.append(f"left out, not part of the dataset: {len(plan.left_out)} files ({shown})")
    lines.append("card configs: " + (", ".join(plan.configs) or "none"))
    lines += [plan.version_note, plan.id_note]
    return "\n".join(lines)


def _version(folder: Path, tag: str | None) -> tuple[str | None, str]:
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return None, "no manifest.json in the folder: no version written into the card"
    try:
        recorded = json.loads(manifest.read_text(encoding="utf-8")).get("version")
    except (json.JSONDecodeError, AttributeError):
        raise CrdError(f"{manifest}: not a JSON object") from None
    version = tag or (str(recorded) if recorded is not None else None)
    if version is None:
        return None, "manifest.json names no version and no --tag was given: no version written into the card"
    return version, f"version {version} (from {'--tag' if tag else 'manifest.json'}) written into the card's YAML"


def _id_note(readme: Path, repo_id: str) -> str:
    body = readme.read_text(encoding="utf-8").split("---\n", 2)[-1]
    named = dataset_mentions(body)
    if not named:
        return "the card names the dataset nowhere (no load_dataset(...) line): no repository id written"
    before = ", ".join(f'"{name}"' for name in dict.fromkeys(named) if name != repo_id)
    return (f"repository id {repo_id} written into the card: {len(named)} dataset mentions "
            f"(load_dataset, hf_hub_url, dataset_name){', naming ' + before + ' before' if before else ''}")


def _card_configs(readme: Path) -> list[str]:
    try:
        configs = DatasetCard.load(readme).data.to_dict().get("configs") or []
    except ValueError as exc:
        raise CrdError(f"{readme}: the card's YAML header does not parse: {exc}") from None
    return [f"{c['config_name']}: {', '.join(f['path'] for f in c.get('data_files', []))}" for c in configs]


def _refuse_secrets(folder: Path, paths: list[str]) -> None:
    """Refuse to upload a text file holding the value of a secret-looking variable or the Hub token."""
    secrets = {name: value for name, value in os.environ.items()
               if SECRET_NAME.search(name) and len(value) >= MIN_SECRET_CHARS}
    token = get_token()
    if token:
        secrets["the Hugging Face token"] = token
    for path in paths:
        if Path(path).suffix not in TEXT_SUFFIXES:
            continue
        text = (folder / path).read_text(encoding="utf-8", errors="replace")
        for name, value in secrets.items():
            if value in text:
                raise CrdError(f"{folder / path}: holds the value of {name}; remove it before pushing")


def _check_repo_id(repo_id: str) -> None:
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo_id) or ".." in repo_id:
        raise CrdError(f"{repo_id!r}: give the repository as USER/NAME (or ORG/NAME)")


class _hub_errors:
    """Failures of remote calls as one line. The Hub client raises its HTTP library's errors
    (httpx2 in huggingface_hub 2.x, requests before), so every exception is caught here;
    the cause stays chained for CRD_DEBUG=1."""

    def __init__(self, action: str):
        self.action = action

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, _traceback):
        if exc is None or isinstance(exc, CrdError) or not isinstance(exc, Exception):
            return False
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CrdError(f"{self.action}: {first_line}") from exc


def _size(n: float) -> str:
    if n < 1024:
        return f"{n:.0f} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or unit == "GiB":
            return f"{n:,.1f} {unit}"
