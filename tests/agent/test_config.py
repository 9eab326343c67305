"""Model configuration: precedence (flags > env > file > profile), checks, the no-endpoint
message, the choice of tool calling, and model discovery from a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel_agent.agent.models import (
    PROFILES,
    NoEndpointConfigured,
    ensure_endpoint,
    make_chat_model,
    resolve_config,
    uses_tools,
)
from tests.openai_server import ScriptedOpenAIServer

SECRET = "sk-test-0123456789-secret"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write(tmp_path / "config.toml", """
[model]
profile = "local"
base_url = "http://file.example:8000/v1"
model = "from-file"
temperature = 0.1
max_tokens = 1000
timeout_s = 11
extra_body = { top_k = 20 }

[sandbox]
ignored = "other sections belong to other parts of the program"
""")


def test_profile_defaults_without_anything_else() -> None:
    config = resolve_config(env={})
    assert config == PROFILES["nim-r1"]
    assert config.base_url == "https://integrate.api.nvidia.com/v1"
    assert config.model == "deepseek-ai/deepseek-r1" and config.api_key is None


def test_the_file_overrides_the_profile(config_file: Path) -> None:
    config = resolve_config(config_file=config_file, env={})
    assert config.profile == "local" and config.model == "from-file"
    assert config.base_url == "http://file.example:8000/v1"
    assert (config.temperature, config.max_tokens, config.timeout_s) == (0.1, 1000, 11.0)
    assert config.extra_body == {"top_k": 20}
    assert config.max_retries == PROFILES["local"].max_retries


def test_the_environment_overrides_the_file(config_file: Path) -> None:
    env = {"KERNEL_AGENT_MODEL": "from-env", "KERNEL_AGENT_TIMEOUT_S": "22",
           "KERNEL_AGENT_STREAMING": "off", "KERNEL_AGENT_REQUESTS_PER_SECOND": "2.5",
           "KERNEL_AGENT_EXTRA_BODY": '{"top_k": 40}'}
    config = resolve_config(config_file=config_file, env=env)
    assert config.model == "from-env" and config.timeout_s == 22.0
    assert config.streaming is False and config.requests_per_second == 2.5
    assert config.extra_body == {"top_k": 40}
    assert config.base_url == "http://file.example:8000/v1"  # not overridden: from the file


def test_flags_override_the_environment(config_file: Path) -> None:
    env = {"KERNEL_AGENT_MODEL": "from-env", "KERNEL_AGENT_BASE_URL": "http://env:1/v1"}
    flags = {"model": "from-flag", "timeout_s": 5, "base_url": None}  # None: flag not given
    config = resolve_config(overrides=flags, config_file=config_file, env=env)
    assert config.model == "from-flag" and config.timeout_s == 5.0
    assert config.base_url == "http://env:1/v1"


def test_the_profile_itself_follows_the_same_precedence(config_file: Path) -> None:
    assert resolve_config(config_file=config_file, env={}).profile == "local"
    env = {"KERNEL_AGENT_PROFILE": "deepseek"}
    assert resolve_config(config_file=config_file, env=env).profile == "deepseek"
    assert resolve_config("openai", config_file=config_file, env=env).profile == "openai"
    flagged = resolve_config(overrides={"profile": "openai"}, config_file=config_file, env=env)
    assert flagged.profile == "openai" and flagged.mode == "tools"
    assert flagged.model == "from-file"  # the file's settings still apply on top


def test_a_profile_named_as_the_model_selects_the_profile() -> None:
    """`solve --model deepseek` means the deepseek profile, not a model called "deepseek";
    with a profile given as well, the value is the model's name as written."""
    config = resolve_config(overrides={"model": "deepseek"}, env={})
    assert config.profile == "deepseek" and config.model == PROFILES["deepseek"].model
    named = resolve_config("local", {"model": "openai", "base_url": "http://h:1/v1"}, env={})
    assert named.profile == "local" and named.model == "openai"


def test_the_key_comes_from_the_profiles_variable_and_never_shows(tmp_path: Path) -> None:
    env = {"NVIDIA_API_KEY": SECRET, "KERNEL_AGENT_CONFIG": str(write(tmp_path / "c.toml", ""))}
    config = resolve_config(env=env)
    assert config.api_key == SECRET
    assert SECRET not in repr(config) and SECRET not in str(config.summary())
    assert config.summary()["api_key"] == "set"
    explicit = resolve_config(overrides={"api_key": "direct"}, env=env)
    assert explicit.api_key == "direct"


def test_the_default_file_lives_in_the_config_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config" / "kernel-agent").mkdir(parents=True)
    write(home / ".config" / "kernel-agent" / "config.toml", '[model]\nmodel = "at-home"\n')
    assert resolve_config(env={"HOME": str(home)}).model == "at-home"
    xdg = {"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path)}
    assert resolve_config(env=xdg).model == PROFILES["nim-r1"].model  # no file there


def test_config_file_from_the_environment_variable(tmp_path: Path, config_file: Path) -> None:
    assert resolve_config(env={"KERNEL_AGENT_CONFIG": str(config_file)}).model == "from-file"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_config(env={"KERNEL_AGENT_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize("source, message", [
    ({"overrides": {"temprature": 0.2}}, r"unknown model setting\(s\) \['temprature'\]"),
    ({"env": {"KERNEL_AGENT_MAX_TOKENS": "lots"}}, "max_tokens='lots' from environment"),
    ({"env": {"KERNEL_AGENT_MODE": "agentic"}}, "must be one of"),
    ({"overrides": {"streaming": "maybe"}}, "must be true or false"),
    ({"overrides": {"timeout_s": -1}}, "must be positive"),
    ({"profile": "nim"}, "unknown profile 'nim'; known: nim-r1, deepseek, openai, local"),
])
def test_bad_settings_are_named(tmp_path: Path, source: dict, message: str) -> None:
    source.setdefault("env", {})
    with pytest.raises(ValueError, match=message):
        resolve_config(config_file=write(tmp_path / "c.toml", ""), **source)


def test_bad_file_is_named(tmp_path: Path) -> None:
    bad = write(tmp_path / "c.toml", "[model]\nmax_tokens = \n")
    with pytest.raises(ValueError, match=r"c.toml is not valid TOML"):
        resolve_config(config_file=bad, env={})
    unknown = write(tmp_path / "d.toml", "[model]\nmodle = 'x'\n")
    with pytest.raises(ValueError, match=r"\['modle'\] in config file"):
        resolve_config(config_file=unknown, env={})


def test_no_endpoint_message_says_how_to_configure_one(tmp_path: Path) -> None:
    config = resolve_config(config_file=write(tmp_path / "c.toml", ""), env={})
    with pytest.raises(NoEndpointConfigured) as caught:
        make_chat_model(config)
    message = str(caught.value)
    assert "needs an API key in NVIDIA_API_KEY" in message
    assert "export NVIDIA_API_KEY=" in message and "build.nvidia.com" in message
    assert "--profile local --base-url http://HOST:PORT/v1" in message
    assert "vllm serve deepseek-ai/DeepSeek-R1-Distill-Qwen-32B" in message
    assert "config.toml" in message and "[model]" in message


def test_which_endpoints_are_usable() -> None:
    local = PROFILES["local"]
    with pytest.raises(NoEndpointConfigured, match="has no base URL"):
        ensure_endpoint(local)
    ensure_endpoint(local.__class__(**{**vars(local), "base_url": "http://h:8000/v1"}))
    for name in ("deepseek", "openai"):
        with pytest.raises(NoEndpointConfigured, match=PROFILES[name].api_key_env or ""):
            ensure_endpoint(PROFILES[name])
    # A self-hosted NIM container needs no key: only the hosted URL does.
    self_hosted = resolve_config("nim-r1", {"base_url": "http://gpu-box:8000/v1"}, env={})
    ensure_endpoint(self_hosted)


@pytest.mark.parametrize("profile, model, mode, tools", [
    ("nim-r1", None, None, False),
    ("deepseek", None, None, False),
    ("openai", None, None, True),
    ("local", "deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", None, False),
    ("local", "Qwen/Qwen3-32B", None, True),
    ("local", "my-r1", None, False),
    ("local", "gpt-oss-120b", None, True),
    ("nim-r1", None, "tools", True),
    ("openai", None, "closed_loop", False),
])
def test_tool_calling_or_closed_loop(profile: str, model: str | None, mode: str | None,
                                     tools: bool) -> None:
    config = resolve_config(profile, {"model": model, "mode": mode}, env={})
    assert uses_tools(config) is tools


def test_a_local_server_without_a_model_name_is_asked_for_its_model() -> None:
    with ScriptedOpenAIServer(models=["served/model-7b", "other"]) as server:
        config = resolve_config("local", {"base_url": server.base_url}, env={})
        assert config.model == ""
        model = make_chat_model(config)
        assert model.model_name == "served/model-7b"  # type: ignore[attr-defined]
        assert [r.path for r in server.records] == ["/v1/models"]
