"""Where `[output] tokenizer` is read from (a file, a folder, the local Hugging Face cache; never
the network) and the one line a bad setting gets."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from processing.errors import CrdError
from processing.publish.tokens import INSTALL, open_tokenizer
from processing.stages import file_digest

TEXTS = ["鸡兔同笼，共有头35个，脚94只，问鸡兔各几只？", "", "把“春眠不觉晓”翻译成英文。"]


def test_a_file_and_its_folder_give_the_same_counts(train_tokenizer):
    from tokenizers import Tokenizer

    path = train_tokenizer(800)
    expected = [len(Tokenizer.from_file(str(path)).encode(t, add_special_tokens=False).ids) for t in TEXTS]
    by_file, by_folder = open_tokenizer(str(path)), open_tokenizer(str(path.parent))
    assert by_file.count(TEXTS) == by_folder.count(TEXTS) == expected
    assert by_file.name == by_folder.name == path.parent.name
    assert by_file.digest == file_digest(path)


def test_a_model_id_is_read_from_the_local_cache_only(tmp_path, train_tokenizer):
    snapshot = tmp_path / "models--some-org--student" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    shutil.copyfile(train_tokenizer(800), snapshot / "tokenizer.json")
    (tmp_path / "models--some-org--student" / "refs").mkdir()
    (tmp_path / "models--some-org--student" / "refs" / "main").write_text("0123abcd")
    code = ("from processing.publish.tokens import open_tokenizer; t = open_tokenizer('some-org/student'); "
            "print(t.name, t.count(['鸡兔同笼']))")
    env = os.environ | {"HF_HUB_CACHE": str(tmp_path), "HF_HUB_OFFLINE": "1"}
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith("some-org/student [")
    missing = subprocess.run([sys.executable, "-c", code.replace("student", "other")], capture_output=True, text=True,
                             env=env)
    assert "no model of that id in the local Hugging Face cache" in missing.stderr


def test_a_folder_without_tokenizer_json_is_named(tmp_path):
    with pytest.raises(CrdError, match="has no tokenizer.json"):
        open_tokenizer(str(tmp_path))


def test_a_malformed_file_is_one_line(tmp_path):
    broken = tmp_path / "tokenizer.json"
    broken.write_text('{"model": ', encoding="utf-8")
    with pytest.raises(CrdError, match="is not a readable tokenizer.json") as error:
        open_tokenizer(str(broken))
    assert "\n" not in str(error.value)


def test_without_the_library_the_install_line_is_given(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # what `import tokenizers` meets when it is not installed
    with pytest.raises(CrdError, match=INSTALL.replace("[", r"\[").replace("]", r"\]")):
        open_tokenizer(str(tmp_path))


def test_no_setting_no_tokenizer():
    assert open_tokenizer(None) is None
