"""`crd push` / `crd pull` against a recording fake of the Hub client.

THE HUB IS FAKED: `processing.publish.hub.client` (the one seam; in production it returns
`huggingface_hub.HfApi()`) is replaced by `RecordingHub` below. It checks every call
against the real HfApi method's signature, records it, and keeps, per branch, tag and
commit, the files `upload_folder` would send, chosen with huggingface_hub's own
`filter_repo_objects` and default ignore patterns as the real client does;
`snapshot_download` writes them back, plus the `.cache/huggingface/` folder the real one
leaves. A local HTTP stand-in of the Hub's upload protocol (preupload, LFS or
Xet transfers, NDJSON commits) was judged impractical; nothing here reaches a network.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import string
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from huggingface_hub import DatasetCard, HfApi, constants
from huggingface_hub.utils import DEFAULT_IGNORE_PATTERNS, are_progress_bars_disabled, filter_repo_objects

from processing.cli import main
from processing.publish import card, hub
from processing.publish.usage import use_it

from output_folder import CONFIGS, ROWS, write_output

DATASET_FILES = {
    "README.md", "dataset_info.json", "manifest.json", "images/scores.png",
    *(f"data/{name}/train-00000-of-00001.parquet" for name in ("default", "sft", "messages", "full")),
}


class RecordingHub:
    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.refs: dict[tuple[str, str], dict[str, bytes]] = {}
        self.commits: dict[str, dict[str, bytes]] = {}
        self.bars_shown: list[bool] = []  # whether huggingface_hub would draw its bars, per upload or download

    def __getattribute__(self, name):
        """Every call must also fit the real HfApi method of the same name."""
        method = object.__getattribute__(self, name)
        if name.startswith("_") or not hasattr(HfApi, name):
            return method

        def checked(*args, **options):
            inspect.signature(getattr(HfApi, name)).bind(None, *args, **options)
            return method(*args, **options)

        return checked

    def create_repo(self, repo_id, **options):
        self.calls.append(("create_repo", {"repo_id": repo_id, **options}))

    def create_branch(self, repo_id, *, branch, **options):
        self.calls.append(("create_branch", {"repo_id": repo_id, "branch": branch, **options}))
        self.refs.setdefault((repo_id, branch), dict(self.refs.get((repo_id, "main"), {})))

    def upload_folder(self, *, repo_id, folder_path, revision=None, allow_patterns=None, ignore_patterns=None,
                      delete_patterns=None, **options):
        self.calls.append(("upload_folder", {
            "repo_id": repo_id, "folder_path": folder_path, "revision": revision, "allow_patterns": list(allow_patterns),
            "ignore_patterns": list(ignore_patterns), "delete_patterns": list(delete_patterns), **options,
        }))
        self.bars_shown.append(not are_progress_bars_disabled())
        folder = Path(folder_path)
        local = sorted(p.relative_to(folder).as_posix() for p in folder.glob("**/*") if p.is_file())
        sent = list(filter_repo_objects(local, allow_patterns=allow_patterns,
                                        ignore_patterns=list(ignore_patterns) + DEFAULT_IGNORE_PATTERNS))
        files = dict(self.refs.get((repo_id, revision or "main"), {}))
        for stale in list(filter_repo_objects(list(files), allow_patterns=delete_patterns)):
            files.pop(stale)
        files.update({path: (folder / path).read_bytes() for path in sent})
        oid = hashlib.sha1(json.dumps(sorted((p, hashlib.sha1(b).hexdigest()) for p, b in files.items())).encode()).hexdigest()
        self.refs[(repo_id, revision or "main")] = self.commits[oid] = files
        return SimpleNamespace(oid=oid)

    def create_tag(self, repo_id, *, tag, revision, **options):
        self.calls.append(("create_tag", {"repo_id": repo_id, "tag": tag, "revision": revision, **options}))
        self.refs[(repo_id, tag)] = self.commits[revision]

    def snapshot_download(self, repo_id, *, local_dir, revision=None, **options):
        self.calls.append(("snapshot_download", {"repo_id": repo_id, "revision": revision, **options}))
        self.bars_shown.append(not are_progress_bars_disabled())
        files = self.refs.get((repo_id, revision or "main")) or self.commits[revision]
        for path, content in {**files, ".cache/huggingface/download/README.md.metadata": b"etag"}.items():
            (Path(local_dir) / path).parent.mkdir(parents=True, exist_ok=True)
            (Path(local_dir) / path).write_bytes(content)
        return str(local_dir)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def call(self, name: str) -> dict:
        (options,) = [options for called, options in self.calls if called == name]
        return options


@pytest.fixture
def fake(monkeypatch) -> RecordingHub:
    recording = RecordingHub()
    monkeypatch.setattr(hub, "client", lambda: recording)
    return recording


@pytest.fixture
def published(out) -> Path:
    """An output folder with everything a careless user might leave beside the dataset."""
    (out / "manifest.json").write_text(json.dumps({"version": "1.2.0", "counts": {"rows": 2}}), encoding="utf-8")
    (out / "run").mkdir()
    (out / "run" / "journal.jsonl").write_text('{"prompt_id": "x"}\n', encoding="utf-8")
    (out / "out.run" / "pool").mkdir(parents=True)
    (out / "out.run" / "pool.parquet").write_bytes(b"PAR1")
    (out / ".env").write_text("DEEPSEEK_API_KEY=sk-local\n", encoding="utf-8")
    (out / "data" / ".sft.staging").mkdir()
    (out / "data" / ".sft.staging" / "train-00000-of-00001.parquet").write_bytes(b"half")
    (out / "data" / "default" / ".train-00001-of-00002.parquet.tmp").write_bytes(b"half")
    (out / "notes.txt").write_text("todo", encoding="utf-8")
    return out


def card_version(readme_bytes: bytes):
    return yaml.safe_load(readme_bytes.decode("utf-8").split("---\n")[1]).get("version")


# Beyond the card's own "Load it" lines: a LLaMA-Factory registration of the Hub copy, and a
# file-format builder, which names no dataset and must stay.
OTHER_MENTIONS = """
```json
{"zh_r1": {"hf_hub_url": "my-dataset", "formatting": "sharegpt", "columns": {"messages": "messages"}}}
```

```python
raw = load_dataset("parquet", data_files="data/sft/*.parquet")
```
"""


@pytest.fixture
def rendered(tmp_path) -> Path:
    """An output folder whose card body is the build's template, rendered as a build renders
    it: the dataset named by the output folder's name."""
    out = write_output(tmp_path / "my-dataset")
    header = (out / "README.md").read_text(encoding="utf-8").split("---\n")[1]
    snippets = use_it(CONFIGS, out.name, 16_384, "fit it to your rows")  # the build's own "Use it" section
    body = string.Template(card.TEMPLATE.read_text(encoding="utf-8")).safe_substitute(repo_id=out.name, use_it=snippets)
    (out / "README.md").write_text(f"---\n{header}---\n\n{body}{OTHER_MENTIONS}", encoding="utf-8")
    (out / "manifest.json").write_text(json.dumps({"version": "1.0.0"}), encoding="utf-8")
    return out


def card_body(readme_bytes: bytes) -> str:
    return readme_bytes.decode("utf-8").split("---\n", 2)[2]


def test_push_creates_uploads_and_tags_only_the_dataset(fake, published, capsys):
    assert main(["push", str(published), "--repo", "me/zh-r1", "--tag", "v1.2", "--message", "first"]) == 0
    assert fake.names() == ["create_repo", "upload_folder", "create_tag"]
    assert fake.call("create_repo") == {"repo_id": "me/zh-r1", "repo_type": "dataset", "private": None, "exist_ok": True}
    upload = fake.call("upload_folder")
    assert upload["repo_type"] == "dataset" and upload["revision"] is None and upload["commit_message"] == "first"
    assert upload["allow_patterns"] == hub.ALLOW_PATTERNS and upload["ignore_patterns"] == hub.IGNORE_PATTERNS
    assert upload["delete_patterns"] == ["data/*", "images/*"]
    tag = fake.call("create_tag")
    assert tag["tag"] == "v1.2" and tag["repo_type"] == "dataset" and tag["revision"] in fake.commits
    assert set(fake.refs[("me/zh-r1", "v1.2")]) == DATASET_FILES
    assert card_version(fake.refs[("me/zh-r1", "v1.2")]["README.md"]) == "v1.2"
    assert "me/zh-r1" in capsys.readouterr().out


def test_push_to_a_branch_creates_it_and_writes_the_manifest_version(fake, published):
    assert main(["push", str(published), "--repo", "me/zh-r1", "--revision", "dev", "--private"]) == 0
    assert fake.names() == ["create_repo", "create_branch", "upload_folder"]
    assert fake.call("create_repo")["private"] is True
    assert fake.call("create_branch")["branch"] == "dev" and fake.call("upload_folder")["revision"] == "dev"
    assert card_version(fake.refs[("me/zh-r1", "dev")]["README.md"]) == "1.2.0"


def test_without_manifest_the_card_goes_up_unchanged(fake, out, capsys):
    before = (out / "README.md").read_bytes()
    assert main(["push", str(out), "--repo", "me/zh-r1", "--tag", "v1"]) == 0
    assert fake.refs[("me/zh-r1", "main")]["README.md"] == before
    assert "no manifest.json" in capsys.readouterr().out


def test_pushed_folder_pulls_back_byte_for_byte(fake, published, tmp_path):
    assert main(["push", str(published), "--repo", "me/zh-r1", "--tag", "v1.2"]) == 0
    pulled = tmp_path / "pulled"
    assert main(["pull", "me/zh-r1@v1.2", "--out", str(pulled)]) == 0
    assert fake.call("snapshot_download") == {"repo_id": "me/zh-r1", "revision": "v1.2", "repo_type": "dataset"}
    pulled_files = sorted(p.relative_to(pulled).as_posix() for p in pulled.glob("**/*") if p.is_file())
    assert hub.upload_paths(pulled_files) == sorted(DATASET_FILES)
    for path in DATASET_FILES:
        assert (pulled / path).read_bytes() == (published / path).read_bytes(), path


def test_a_pulled_version_republishes_as_it_is(fake, published, tmp_path):
    """Pull leaves .cache/huggingface/ in the folder; pushing it again sends the same files."""
    main(["push", str(published), "--repo", "me/zh-r1", "--tag", "v1.2"])
    main(["pull", "me/zh-r1@v1.2", "--out", str(tmp_path / "pulled")])
    assert main(["push", str(tmp_path / "pulled"), "--repo", "me/copy", "--tag", "v1.2"]) == 0
    assert fake.refs[("me/copy", "main")] == fake.refs[("me/zh-r1", "v1.2")]


def test_a_version_with_fewer_shards_leaves_no_stale_shard(fake, tmp_path):
    many = write_output(tmp_path / "many", rows=ROWS * 50, max_shard_bytes=2_000)
    assert len(list((many / "data" / "default").glob("*.parquet"))) > 1
    main(["push", str(many), "--repo", "me/zh-r1"])
    main(["push", str(write_output(tmp_path / "one")), "--repo", "me/zh-r1"])
    remote = fake.refs[("me/zh-r1", "main")]
    assert sorted(p for p in remote if p.startswith("data/default/")) == ["data/default/train-00000-of-00001.parquet"]


def test_dry_run_lists_files_and_configs_offline_without_token(published, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-login"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(hub, "client", lambda: pytest.fail("a dry run must not reach the Hub client"))
    before = (published / "README.md").read_bytes()
    assert main(["push", str(published), "--repo", "me/zh-r1", "--tag", "v1.2", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    listed = [line.split()[-1] for line in printed.splitlines() if line.startswith("  ")]
    assert sorted(listed) == sorted(DATASET_FILES)
    size = (published / "data" / "sft" / "train-00000-of-00001.parquet").stat().st_size
    assert f"{size:,}  data/sft/train-00000-of-00001.parquet" in printed
    assert "card configs: default: data/default/train-*, sft: data/sft/train-*" in printed
    assert "version v1.2" in printed
    assert "left out, not part of the dataset: 6 files (.env, data/.sft.staging/" in printed
    assert (published / "README.md").read_bytes() == before


def test_a_key_in_the_card_stops_the_push_without_printing_it(fake, out, monkeypatch, capsys):
    monkeypatch.setenv("MY_PROVIDER_API_KEY", "sk-0123456789abcdef")
    with (out / "README.md").open("a", encoding="utf-8") as card:
        card.write("api key sk-0123456789abcdef\n")
    assert main(["push", str(out), "--repo", "me/zh-r1"]) == 2
    error = capsys.readouterr().err
    assert "README.md: holds the value of MY_PROVIDER_API_KEY" in error and "sk-0123" not in error
    assert fake.calls == []


def test_bad_input_is_one_line(fake, out, tmp_path, capsys):
    assert main(["push", str(out), "--repo", "no-namespace"]) == 2
    assert main(["push", str(tmp_path), "--repo", "me/x"]) == 2
    assert main(["pull", "me/../x", "--out", str(tmp_path / "p")]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and all(line.startswith("crd: error: ") for line in errors)
    assert "USER/NAME" in errors[0] and "not a crd output folder" in errors[1]


def test_hub_failure_is_one_line(fake, out, monkeypatch, capsys):
    def refuse(*args, **options):
        raise ConnectionError("401 Client Error: Unauthorized for url: https://hub/api/repos/create\nmore detail")

    monkeypatch.setattr(fake, "create_repo", refuse)
    assert main(["push", str(out), "--repo", "me/zh-r1"]) == 2
    assert capsys.readouterr().err == "crd: error: push to me/zh-r1: 401 Client Error: Unauthorized for url: https://hub/api/repos/create\n"


def test_the_pushed_card_names_the_repository_wherever_it_names_the_dataset(fake, rendered, tmp_path):
    local_mentions = hub.dataset_mentions(card_body((rendered / "README.md").read_bytes()))
    assert len(local_mentions) >= 4 and set(local_mentions) == {"my-dataset"}  # 3+ load_dataset lines, hf_hub_url
    assert main(["push", str(rendered), "--repo", "me/zh-r1", "--tag", "v1"]) == 0
    pushed = fake.refs[("me/zh-r1", "v1")]["README.md"]
    assert hub.dataset_mentions(card_body(pushed)) == ["me/zh-r1"] * len(local_mentions)
    assert 'load_dataset("me/zh-r1", "sft", split="train")' in pushed.decode("utf-8")
    assert '"hf_hub_url": "me/zh-r1"' in pushed.decode("utf-8")
    assert 'load_dataset("parquet", data_files="data/sft/*.parquet")' in pushed.decode("utf-8")
    assert card_version(pushed) == "v1" and DatasetCard(pushed.decode("utf-8")).data.configs
    # The stamp is written into OUT: OUT is what was published, and a pull returns it byte for byte.
    assert (rendered / "README.md").read_bytes() == pushed
    main(["pull", "me/zh-r1@v1", "--out", str(tmp_path / "pulled")])
    assert (tmp_path / "pulled" / "README.md").read_bytes() == pushed


def test_a_pulled_card_pushed_elsewhere_names_the_new_repository_and_again_the_same(fake, rendered, tmp_path):
    main(["push", str(rendered), "--repo", "me/zh-r1"])
    main(["pull", "me/zh-r1", "--out", str(tmp_path / "pulled")])
    main(["push", str(tmp_path / "pulled"), "--repo", "me/zh-r1"])  # the same id: the same bytes, the same commit
    assert len(fake.commits) == 1
    main(["push", str(tmp_path / "pulled"), "--repo", "org/copy"])
    original, copy = fake.refs[("me/zh-r1", "main")], fake.refs[("org/copy", "main")]
    assert set(hub.dataset_mentions(card_body(copy["README.md"]))) == {"org/copy"}
    assert {path: data for path, data in copy.items() if path != "README.md"} == \
        {path: data for path, data in original.items() if path != "README.md"}


def test_dry_run_says_the_repository_id_will_be_written_and_changes_nothing(rendered, monkeypatch, capsys):
    monkeypatch.setattr(hub, "client", lambda: pytest.fail("a dry run must not reach the Hub client"))
    before = (rendered / "README.md").read_bytes()
    count = len(hub.dataset_mentions(card_body(before)))
    assert main(["push", str(rendered), "--repo", "me/zh-r1", "--dry-run"]) == 0
    assert (f'repository id me/zh-r1 written into the card: {count} dataset mentions '
            f'(load_dataset, hf_hub_url, dataset_name), naming "my-dataset" before') in capsys.readouterr().out
    assert (rendered / "README.md").read_bytes() == before


def test_a_card_naming_no_dataset_says_so(out, capsys):
    assert main(["push", str(out), "--repo", "me/zh-r1", "--dry-run"]) == 0
    assert "the card names the dataset nowhere" in capsys.readouterr().out


def test_push_and_pull_show_the_hub_bars_unless_quiet(fake, published, tmp_path):
    if constants.HF_HUB_DISABLE_PROGRESS_BARS is not None:
        pytest.skip("HF_HUB_DISABLE_PROGRESS_BARS is set in this environment and decides alone")
    main(["push", str(published), "--repo", "me/zh-r1", "-q"])
    main(["push", str(published), "--repo", "me/zh-r1"])
    main(["pull", "me/zh-r1", "--out", str(tmp_path / "quiet"), "-q"])
    main(["pull", "me/zh-r1", "--out", str(tmp_path / "loud")])
    assert fake.bars_shown == [False, True, False, True]  # and -q leaves them on for the next command
