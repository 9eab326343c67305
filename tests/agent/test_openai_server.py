"""The scripted server itself: routes, scripts, auth, shutdown, and the standalone command."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from langchain_core.exceptions import ModelAPIError, ModelAuthenticationError

from kernel_agent.agent.models import make_chat_model, resolve_config
from tests.openai_server import Hang, Reply, ScriptedOpenAIServer

ROOT = Path(__file__).resolve().parents[2]


def http(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_it_serves_on_loopback_and_lists_its_models() -> None:
    with ScriptedOpenAIServer(models=["a", "b"]) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v1" and server.port > 0
        status, body = http("GET", f"{server.base_url}/models")
    assert status == 200 and [m["id"] for m in body["data"]] == ["a", "b"]


def test_bad_requests_get_openai_style_errors() -> None:
    with ScriptedOpenAIServer() as server:
        assert http("POST", f"{server.base_url}/chat/completions", b"{nope")[0] == 400
        status, body = http("POST", f"{server.base_url}/embeddings", b"{}")
        assert status == 404 and "no route" in body["error"]["message"]
        assert [r.body for r in server.records] == [None, {}]
        assert server.requests == []  # only chat completions count as model requests


def test_an_exhausted_script_fails_at_once_and_says_so() -> None:
    with ScriptedOpenAIServer([Reply("only one")]) as server:
        model = make_chat_model(resolve_config(
            "local", {"base_url": server.base_url, "model": "m", "max_retries": 3}, env={}))
        assert model.invoke("1").content == "only one"
        with pytest.raises(ModelAPIError, match="no reply left for request #2"):
            model.invoke("2")
        assert len(server.requests) == 2  # not retried: the server said so
        server.extend([Reply("more")])
        assert server.remaining == 1 and model.invoke("3").content == "more"


def test_a_wrong_key_is_refused() -> None:
    with ScriptedOpenAIServer([Reply("hi")], api_key="right") as server:
        wrong = resolve_config("local", {"base_url": server.base_url, "model": "m",
                                         "api_key": "wrong"}, env={})
        with pytest.raises(ModelAuthenticationError):
            make_chat_model(wrong).invoke("x")
        right = resolve_config("local", {"base_url": server.base_url, "model": "m",
                                         "api_key": "right"}, env={})
        assert make_chat_model(right).invoke("x").content == "hi"


def test_closing_releases_a_hung_request() -> None:
    outcome: list[BaseException | None] = []

    def call(url: str) -> None:
        try:
            http("POST", f"{url}/chat/completions", b'{"model": "m", "messages": []}')
            outcome.append(None)
        except Exception as exc:
            outcome.append(exc)

    server = ScriptedOpenAIServer([Hang()])
    caller = threading.Thread(target=call, args=(server.base_url,))
    caller.start()
    while not server.requests:
        time.sleep(0.01)
    started = time.monotonic()
    server.close()
    caller.join(timeout=5)
    assert time.monotonic() - started < 2 and not caller.is_alive()
    assert outcome and outcome[0] is not None  # the connection closed without an answer


def test_standalone_server_serves_a_script_file(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"content": "from a file", "reasoning_content": "hm"}]))
    process = subprocess.Popen([sys.executable, "-m", "tests.openai_server", "--script",
                                str(script)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:")
        config = resolve_config("local", {"base_url": base_url, "model": "m"}, env={})
        answer = make_chat_model(config).invoke("x")
        assert answer.content == "from a file"
        assert answer.additional_kwargs["reasoning_content"] == "hm"
    finally:
        process.terminate()
        process.wait(timeout=5)
