"""API keys: a pasted newline is stripped, a key given as a variable name is refused
unprinted, and the key is masked in every encoding a server may echo it in."""

from __future__ import annotations

import base64
import json
import secrets
from urllib.parse import quote, quote_plus

import pytest
from aiohttp import web

from processing.cli import main
from processing.config import parse_config
from processing.errors import CrdError
from processing.llm.generate import FAILURES, GENERATIONS, generate_file
from processing.llm.keys import Redactor, env_name_problem
from processing.llm.settings import ModelConfig
from processing.sim import SimSettings, Simulator

from helpers import serving
from test_faults import scan_for, write_prompts

# The shapes of real providers' keys: OpenAI-style, Groq, Hugging Face, Together (hex), Mistral.
PASTED = [
    "sk-" + secrets.token_hex(24),
    "gsk_" + secrets.token_urlsafe(39).replace("-", "a").replace("_", "b"),
    "hf_" + secrets.token_hex(17),
    secrets.token_hex(32),
    "aB3" + secrets.token_hex(14) + "Zq",
]


@pytest.mark.parametrize("pasted", PASTED, ids=["sk", "groq", "hf", "hex", "mixed"])
def test_a_key_given_as_the_variable_name_is_refused_without_printing_it(pasted, tmp_path, capsys):
    prompts = write_prompts(tmp_path / "prompts.jsonl", 1)
    code = main(["generate", str(prompts), "--model", "m", "--base-url", "http://127.0.0.1:9/v1",
                 "--api-key-env", pasted, "--out", str(tmp_path / "run")])
    output = capsys.readouterr()
    assert code == 2 and "--api-key-env" in output.err and "looks like an API key" in output.err
    assert scan_for(pasted, [output.out, output.err], tmp_path) == []

    with pytest.raises(CrdError, match="models.0.api_key_env: .*looks like an API key") as refused:
        parse_config({"sources": [{"path": "p.jsonl"}], "models": [{"name": "m", "base_url": "http://x/v1", "api_key_env": pasted}]})
    assert pasted not in str(refused.value)

    assert main(["sim", "--port", "0", "--api-key-env", pasted]) == 2
    assert pasted not in capsys.readouterr().err


@pytest.mark.parametrize("name", ["DEEPSEEK_API_KEY", "deepseek_key_v3", "_KEY2", "OPENAI_API_KEY_FOR_TEAM_BETA_2025"])
def test_ordinary_variable_names_pass(name):
    assert env_name_problem(name) is None


def test_names_that_are_not_variable_names_are_refused_with_a_hint():
    assert "without the leading $" in env_name_problem("$DEEPSEEK_API_KEY")
    assert "not an environment variable name" in env_name_problem("DEEPSEEK API KEY")


def test_a_key_with_a_trailing_newline_is_stripped(tmp_path, monkeypatch, capsys):
    key = "sk-crd-" + secrets.token_hex(12)
    monkeypatch.setenv("CRD_TEST_KEY", key + "\n")  # as `export KEY=$(cat key.txt)` or a paste leaves it
    prompts = write_prompts(tmp_path / "prompts.jsonl", 3)
    with Simulator(SimSettings(api_key=key)) as sim:
        code = main(["generate", str(prompts), "--model", "sim-deepseek-r1", "--base-url", sim.base_url,
                     "--api-key-env", "CRD_TEST_KEY", "--out", str(tmp_path / "run"), "-q"])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "run" / GENERATIONS).exists()


def echoes(key: str) -> dict[str, str]:
    raw = key.encode()
    return {
        "plain": key, "url": quote(key, safe=""), "url-lower": quote(key, safe="").lower(), "url-plus": quote_plus(key),
        "url-twice": quote(quote(key, safe=""), safe=""), "json": json.dumps(key)[1:-1],
        "base64": base64.b64encode(raw).decode(), "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex().upper(),
    }


# Characters that URL, JSON and base64 encodings all change.
ODD_KEY = "sk-crd/" + secrets.token_hex(6) + "+é=\"x\"" + secrets.token_hex(6)


@pytest.mark.parametrize("form", sorted(echoes(ODD_KEY)))
def test_every_echo_of_the_key_is_masked(form):
    said = f"invalid key ?api_key={echoes(ODD_KEY)[form]}&user=1"
    assert Redactor(ODD_KEY)(said) == "invalid key ?api_key=***&user=1"


def test_encoded_echoes_never_reach_the_failures_list(tmp_path, monkeypatch):
    """A server quotes the key URL-encoded in a 400 and base64-encoded in a 200 error body,
    just before the message limit, where a cut made before masking would keep its start."""
    key = "sk-crd/" + secrets.token_hex(16) + "+="
    forms = echoes(key)

    async def echo(request: web.Request) -> web.Response:
        if "第0题" in await request.text():
            return web.json_response({"error": {"message": "x" * 280 + f" rejected {forms['url']}"}}, status=400)
        # "error in reply body: " comes first in this one
        return web.json_response({"error": {"message": "x" * 260 + f" rejected {forms['base64']}"}, "choices": []})

    async def models(request: web.Request) -> web.Response:
        return web.json_response({"data": []})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", echo)
    app.router.add_get("/v1/models", models)
    monkeypatch.setenv("CRD_TEST_KEY", key)
    with serving(app) as base_url:
        model = ModelConfig(name="m", base_url=base_url, api_key_env="CRD_TEST_KEY", stream=False, max_retries=0)
        result = generate_file(write_prompts(tmp_path / "prompts.jsonl", 2), model, tmp_path / "run", quiet=True)
    failures = [json.loads(line) for line in (tmp_path / "run" / FAILURES).read_text().splitlines()]
    assert len(result.failures) == len(failures) == 2
    assert all("x" * 250 in failure["error"] and " rejected" in failure["error"] for failure in failures)
    for form in forms.values():
        assert scan_for(form[:8], [], tmp_path) == []
