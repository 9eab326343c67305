"""One way to get a chat model from configuration.

A profile names an endpoint with sensible defaults; a config file, the environment and explicit
flags override it, in rising precedence (flags > env > file > profile). The result is a
`ModelConfig`, and `make_chat_model` turns it into a ChatOpenAI client: every supported endpoint
(NVIDIA NIM, DeepSeek, OpenAI, vLLM, SGLang, Ollama) speaks the OpenAI chat-completions protocol.
Callers that want another provider pass any LangChain chat model to the graph instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tomllib
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import openai
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import ModelError, ModelTimeoutError
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.rate_limiters import InMemoryRateLimiter
from langchain_openai import ChatOpenAI
from pydantic import PrivateAttr

from kernel_agent.agent.usage import Prices

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILES",
    "MalformedResponseError",
    "ModelConfig",
    "NoEndpointConfigured",
    "ReasoningChatOpenAI",
    "StreamStalledError",
    "default_config_file",
    "describe_error",
    "discover_model",
    "ensure_endpoint",
    "make_chat_model",
    "resolve_config",
    "uses_tools",
]

Mode = Literal["auto", "tools", "closed_loop"]
ENV_PREFIX = "KERNEL_AGENT_"
DEFAULT_PROFILE = "nim-r1"
NO_KEY = "no-key"  # OpenAI-compatible servers without auth still want some bearer token


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to reach one model. `api_key` is never shown in repr or summaries."""

    profile: str
    model: str  # empty: ask the endpoint's /models (a local server usually serves one)
    base_url: str | None = None
    api_key_env: str | None = None  # where the key is read from when api_key is not given
    api_key: str | None = field(default=None, repr=False)
    temperature: float = 0.6
    max_tokens: int = 16384  # reasoning counts against it: R1 thinks for thousands of tokens
    timeout_s: float = 300.0  # per attempt: connect, first byte, silence between stream chunks
    max_retries: int = 3  # retried within the budget by graphs/modelcall.py, not by the client
    requests_per_second: float | None = None
    mode: Mode = "auto"
    streaming: bool = True  # streaming keeps long reasoning alive through proxies' idle limits
    reasoning_effort: str | None = None
    extra_body: dict[str, Any] | None = None  # provider-specific request fields
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    price_input_per_mtok: float | None = None
    price_output_per_mtok: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in get_args(Mode):
            raise ValueError(f"mode must be one of {get_args(Mode)}, not {self.mode!r}")
        if self.timeout_s <= 0 or self.max_retries < 0 or self.max_tokens <= 0:
            raise ValueError("timeout_s and max_tokens must be positive, max_retries >= 0")
        if self.requests_per_second is not None and self.requests_per_second <= 0:
            raise ValueError("requests_per_second must be positive (or unset)")

    def prices(self) -> Prices | None:
        if self.price_input_per_mtok is None or self.price_output_per_mtok is None:
            return None
        return Prices(self.price_input_per_mtok, self.price_output_per_mtok)

    def summary(self) -> dict[str, Any]:
        """The configuration for logs and run reports; the key shows only as set or not."""
        shown = asdict(self)
        shown["api_key"] = "set" if self.api_key else None
        return shown


PROFILES: dict[str, ModelConfig] = {
    "nim-r1": ModelConfig(
        profile="nim-r1", model="deepseek-ai/deepseek-r1",
        base_url="https://integrate.api.nvidia.com/v1", api_key_env="NVIDIA_API_KEY",
        temperature=0.6, max_tokens=16384, mode="closed_loop"),
    "deepseek": ModelConfig(
        profile="deepseek", model="deepseek-reasoner", base_url="https://api.deepseek.com",
        api_key_env="DEEPSEEK_API_KEY", temperature=0.6, max_tokens=32768),
    "openai": ModelConfig(
        profile="openai", model="gpt-5.6", base_url="https://api.openai.com/v1",
        api_key_env="OPENAI_API_KEY", temperature=1.0, max_tokens=32768, mode="tools",
        max_tokens_param="max_completion_tokens"),
    "local": ModelConfig(profile="local", model="", base_url=None, api_key_env=None,
                         temperature=0.6, max_tokens=16384, max_retries=2),
}

# Reasoning models that answer in text and cannot call tools: R1 and its distillations.
_NO_TOOL_CALLING = re.compile(r"deepseek-r1|deepseek-reasoner|(?:^|[/_-])r1(?:$|[._-])", re.I)

_HOW_TO = """\
Configure a model endpoint in one of these ways:
  * NVIDIA NIM (the default profile, DeepSeek-R1): get a key at https://build.nvidia.com and
      export NVIDIA_API_KEY=nvapi-...
  * any OpenAI-compatible server (vLLM, SGLang, Ollama, a self-hosted NIM):
      --profile local --base-url http://HOST:PORT/v1
    for example, start one with `vllm serve deepseek-ai/DeepSeek-R1-Distill-Qwen-32B`
    and pass --profile local --base-url http://localhost:8000/v1
  * DeepSeek's API or OpenAI: --profile deepseek with DEEPSEEK_API_KEY set, or
    --profile openai with OPENAI_API_KEY set
  * the config file ~/.config/kernel-agent/config.toml (or the one $KERNEL_AGENT_CONFIG names):
      [model]
      profile = "local"
      base_url = "http://HOST:PORT/v1"
Environment variables KERNEL_AGENT_PROFILE, KERNEL_AGENT_BASE_URL, KERNEL_AGENT_MODEL and
KERNEL_AGENT_API_KEY do the same as the flags."""


class NoEndpointConfigured(Exception):
    """No usable endpoint: the message says why and exactly how to configure one."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}\n\n{_HOW_TO}")


class MalformedResponseError(ModelError):
    """The endpoint answered with something that is not a chat completion (an HTML error page
    from a proxy, broken JSON, an empty stream)."""

    is_retryable = True


NO_CHUNKS = "the endpoint answered with no chunks, streamed or not"
EMPTY_STREAMS_TO_STOP = 2  # streamed answers in a row with no chunks before streaming stops


class StreamStalledError(ModelTimeoutError):
    """No streamed chunk arrived within timeout_s (async streaming; keep-alives do not count)."""


def default_config_file(env: Mapping[str, str] | None = None) -> Path | None:
    """$KERNEL_AGENT_CONFIG, else $XDG_CONFIG_HOME or $HOME/.config + kernel-agent/config.toml;
    None when the environment names no home (a hermetic `env` in tests)."""
    env = os.environ if env is None else env
    if env.get(f"{ENV_PREFIX}CONFIG"):
        return Path(env[f"{ENV_PREFIX}CONFIG"]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or (env.get("HOME") and str(Path(env["HOME"]) / ".config"))
    return Path(base) / "kernel-agent" / "config.toml" if base else None


def resolve_config(
    profile: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> ModelConfig:
    """The model configuration: profile defaults < config file < environment < overrides.

    `overrides` are the command-line flags by field name; None values mean "not given"; a
    `model` override that names a profile (and no profile given) selects that profile. The
    profile is chosen with the same precedence (argument or overrides, KERNEL_AGENT_PROFILE,
    the file's `profile`, then nim-r1). An explicitly named config file must exist; the default
    one is optional. The key is read from `api_key_env` when not given directly.
    """
    env = os.environ if env is None else env
    explicit_file = config_file is not None or bool(env.get(f"{ENV_PREFIX}CONFIG"))
    path = config_file or default_config_file(env)
    from_file = _read_file(path, required=explicit_file) if path else {}
    from_env = {name: env[f"{ENV_PREFIX}{name.upper()}"] for name in (*_FIELDS, "profile")
                if env.get(f"{ENV_PREFIX}{name.upper()}") is not None}
    from_flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    if profile is None and from_flags.get("model") in PROFILES:
        profile = from_flags.pop("model")  # `--model nim-r1`: a profile named where a model is
    if profile is not None:
        from_flags["profile"] = profile
    layers = [(from_file, f"config file {path}"), (from_env, "environment"),
              (from_flags, "overrides")]
    for values, source in layers:
        unknown = set(values) - {*_FIELDS, "profile"}
        if unknown:
            raise ValueError(f"unknown model setting(s) {sorted(unknown)} in {source}; "
                             f"known: profile, {', '.join(_FIELDS)}")
    name = next((str(v["profile"]) for v, _ in reversed(layers) if "profile" in v),
                DEFAULT_PROFILE)
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}")
    changes: dict[str, Any] = {}
    for values, source in layers:
        for key, value in values.items():
            if key != "profile":
                changes[key] = _coerce(key, value, source)
    config = replace(PROFILES[name], **changes)
    if config.api_key is None and config.api_key_env:
        config = replace(config, api_key=env.get(config.api_key_env) or None)
    return config


def _read_file(path: Path, required: bool) -> dict[str, Any]:
    if not path.is_file():
        if required:
            raise FileNotFoundError(f"config file {path} does not exist")
        return {}
    with path.open("rb") as handle:
        try:
            data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"config file {path} is not valid TOML: {exc}") from exc
    table = data.get("model", {})
    if not isinstance(table, dict):
        raise ValueError(f"config file {path}: [model] must be a table")
    return table


_HINTS = get_type_hints(ModelConfig)
_FIELDS = tuple(f.name for f in fields(ModelConfig) if f.name != "profile")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def _coerce(name: str, value: Any, source: str) -> Any:
    """A setting from a file, the environment (always text) or a flag, as the field's type."""
    hint = _HINTS[name]
    options = [a for a in get_args(hint) if a is not type(None)] if get_origin(hint) else [hint]
    optional = type(None) in get_args(hint)
    kind = options[0] if len(options) == 1 else hint
    try:
        if isinstance(value, str) and optional and value.strip().lower() in {"", "none"}:
            return None
        if get_origin(kind) is Literal:
            if value not in get_args(kind):
                raise ValueError(f"must be one of {get_args(kind)}")
            return value
        if get_origin(kind) is dict:
            parsed = json.loads(value) if isinstance(value, str) else value
            if not isinstance(parsed, dict):
                raise ValueError("must be a table / JSON object")
            return parsed
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in _TRUE | _FALSE:
                raise ValueError("must be true or false")
            return text in _TRUE
        if kind in (int, float) and isinstance(value, bool):
            raise ValueError("must be a number")
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"model setting {name}={value!r} from {source}: {exc}") from exc


def ensure_endpoint(config: ModelConfig) -> None:
    """Raise NoEndpointConfigured unless the config names a reachable kind of endpoint: a base
    URL, and a key wherever the profile's hosted service requires one."""
    if not config.base_url:
        raise NoEndpointConfigured(
            f"No model endpoint is configured: profile {config.profile!r} has no base URL "
            f"(set one with --base-url or {ENV_PREFIX}BASE_URL).")
    hosted = PROFILES.get(config.profile)
    needs_key = hosted is not None and hosted.base_url == config.base_url
    if needs_key and not config.api_key:
        where = config.api_key_env or f"{ENV_PREFIX}API_KEY"
        raise NoEndpointConfigured(
            f"No model endpoint is configured: profile {config.profile!r} "
            f"({config.base_url}) needs an API key in {where}, which is not set.")


def uses_tools(config: ModelConfig) -> bool:
    """Whether to start in tool-calling mode: `auto` sends R1-style reasoning models, which
    cannot call tools, straight to the closed loop, and tries tools first with every other
    model; an endpoint that refuses them (HTTP 400) moves the run to the closed loop then
    (agent/tool_support.py, graphs/context.py), so no model name needs to be known here."""
    if config.mode != "auto":
        return config.mode == "tools"
    return not _NO_TOOL_CALLING.search(config.model)


def discover_model(config: ModelConfig) -> ModelConfig:
    """Fill in an empty model name from the endpoint's GET /models (its first model)."""
    if config.model:
        return config
    client = openai.OpenAI(base_url=config.base_url, api_key=config.api_key or NO_KEY,
                           timeout=min(config.timeout_s, 30.0), max_retries=config.max_retries)
    try:
        models = [m.id for m in client.models.list()]
    except openai.OpenAIError as exc:
        raise NoEndpointConfigured(
            f"No model was named and {config.base_url}/models could not be listed ({exc}); "
            "name one with --model or KERNEL_AGENT_MODEL.") from exc
    finally:
        client.close()
    if not models:
        raise NoEndpointConfigured(f"No model was named and {config.base_url} serves none.")
    return replace(config, model=models[0])


def make_chat_model(config: ModelConfig,
                    callbacks: Sequence[BaseCallbackHandler] | None = None) -> BaseChatModel:
    """A ChatOpenAI client for the config: timeouts, a rate limiter when requests_per_second is
    set, usage reported when streaming too. The openai client does not retry (its backoff does
    not know the search's deadline); `retries` tells graphs/modelcall.py how often to."""
    ensure_endpoint(config)
    config = discover_model(config)
    limiter = None
    if config.requests_per_second:
        rate = config.requests_per_second
        limiter = InMemoryRateLimiter(requests_per_second=rate, max_bucket_size=1,
                                      check_every_n_seconds=min(0.1, 0.25 / rate))
    return ReasoningChatOpenAI(
        model=config.model, base_url=config.base_url, api_key=config.api_key or NO_KEY,
        temperature=config.temperature, max_tokens=config.max_tokens, timeout=config.timeout_s,
        max_retries=0, retries=config.max_retries, rate_limiter=limiter,
        streaming=config.streaming,
        stream_usage=True, stream_chunk_timeout=config.timeout_s,
        reasoning_effort=config.reasoning_effort, extra_body=config.extra_body,
        max_tokens_param=config.max_tokens_param, callbacks=list(callbacks or []) or None)


def describe_error(exc: BaseException) -> str:
    """The error's message with the notes this module adds (endpoint, model, limits); for a
    connection error, what broke the connection (e.g. a reply cut off mid-stream)."""
    head = str(exc) or type(exc).__name__
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        while cause is not None and cause.__cause__ is not None:
            cause = cause.__cause__
        if cause is not None and str(cause) and str(cause) not in head:
            head = f"{head} ({type(cause).__name__}: {cause})"
    return "\n".join([head, *getattr(exc, "__notes__", [])])


class ReasoningChatOpenAI(ChatOpenAI):
    """ChatOpenAI that keeps what OpenAI-compatible reasoning servers add.

    ChatOpenAI drops non-OpenAI fields; this keeps `reasoning_content` (DeepSeek, NIM, vLLM and
    SGLang reasoning parsers; `reasoning` in newer servers) in `additional_kwargs`, sends
    `max_tokens` where servers do not know `max_completion_tokens`, turns answers that are not
    chat completions into MalformedResponseError, and notes endpoint and limits on failures.
    """

    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_completion_tokens"
    retries: int = 2  # tries after a failed one, made by graphs/modelcall.py within the budget
    _empty_streams: int = PrivateAttr(default=0)  # streamed answers in a row with no chunks

    def _get_request_payload(self, input_: Any, *, stop: list[str] | None = None,
                             **kwargs: Any) -> dict:
        payload = super()._get_request_payload(input_, stop=stop, **kwargs)
        if self.max_tokens_param == "max_tokens" and "max_completion_tokens" in payload:
            payload["max_tokens"] = payload.pop("max_completion_tokens")
        return payload

    def _create_chat_result(self, response: Any, generation_info: dict | None = None
                            ) -> ChatResult:
        try:
            result = super()._create_chat_result(response, generation_info)
        except (ValueError, KeyError, TypeError) as exc:  # a body, but not a chat completion
            raise MalformedResponseError(
                f"the endpoint's answer is not an OpenAI chat completion: {exc}") from exc
        raw = response if isinstance(response, dict) else response.model_dump()
        for generation, choice in zip(result.generations, raw.get("choices") or [],
                                      strict=False):
            if thought := _reasoning_of(choice.get("message") or {}):
                generation.message.additional_kwargs["reasoning_content"] = thought
        return result

    def _convert_chunk_to_generation_chunk(self, chunk: dict, default_chunk_class: type,
                                           base_generation_info: dict | None
                                           ) -> ChatGenerationChunk | None:
        converted = super()._convert_chunk_to_generation_chunk(
            chunk, default_chunk_class, base_generation_info)
        choices = chunk.get("choices") or [{}]
        if converted is not None and (thought := _reasoning_of(choices[0].get("delta") or {})):
            converted.message.additional_kwargs["reasoning_content"] = thought
        return converted

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        with self._explaining():
            return super()._generate(*args, **kwargs)

    async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
        with self._explaining():
            return await super()._agenerate(*args, **kwargs)

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: Any = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        with self._explaining():
            received = False
            for chunk in super()._stream(messages, stop, run_manager, **kwargs):
                received = True
                yield chunk
            alive = self._stream_ended(received)
            if alive is not None:
                if run_manager is not None:
                    run_manager.on_llm_new_token("", chunk=alive)
                yield alive
                yield _as_chunk(super()._generate(messages, stop, run_manager,
                                                  **{**kwargs, "stream": False}))

    async def _astream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                       run_manager: Any = None, **kwargs: Any
                       ) -> AsyncIterator[ChatGenerationChunk]:
        with self._explaining():
            received = False
            async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
                received = True
                yield chunk
            alive = self._stream_ended(received)
            if alive is not None:
                if run_manager is not None:
                    await run_manager.on_llm_new_token("", chunk=alive)
                yield alive
                yield _as_chunk(await super()._agenerate(messages, stop, run_manager,
                                                         **{**kwargs, "stream": False}))

    def _stream_ended(self, received: bool) -> ChatGenerationChunk | None:
        """None after a stream that brought chunks; after one that brought none, an empty chunk
        to send before the answer is asked for again as one body.

        Most often such an endpoint ignores `stream` and sends one JSON body, which the stream's
        reader drops: that answer is lost. After two such answers in a row this client stops
        asking for streams (a proxy's one-off error page does not turn streaming off for the
        run). The empty chunk is a sign of life: whoever watches the stream's silence
        (graphs/modelcall.py) starts again from it for the request that follows."""
        if received:
            self._empty_streams = 0
            return None
        self._empty_streams += 1
        if self._empty_streams >= EMPTY_STREAMS_TO_STOP:
            self.streaming = False
        return ChatGenerationChunk(message=AIMessageChunk(content=""))

    @contextmanager
    def _explaining(self) -> Iterator[None]:
        """Re-raise failures typed (garbage becomes MalformedResponseError, a stalled async
        stream StreamStalledError) and noted with the endpoint and the limits in force."""
        try:
            yield
        except Exception as exc:
            typed = _typed(exc, self.request_timeout)
            if isinstance(typed or exc, ModelError | openai.OpenAIError):
                (typed or exc).add_note(
                    f"model {self.model_name!r} at {self.openai_api_base}: timeout "
                    f"{self.request_timeout} s per attempt, retries {self.retries}")
            if typed is None:
                raise
            raise typed from exc


def _as_chunk(result: ChatResult) -> ChatGenerationChunk:
    """A whole answer as the one chunk of a stream, its tool calls as chunks to be parsed."""
    if not result.generations:
        raise MalformedResponseError(NO_CHUNKS)
    generation = result.generations[0]
    message = generation.message
    calls = [tool_call_chunk(name=call["name"], args=json.dumps(call["args"]), id=call["id"],
                             index=index) for index, call in enumerate(message.tool_calls)]
    calls += [tool_call_chunk(name=call["name"], args=call["args"], id=call["id"],
                              index=len(calls) + index)
              for index, call in enumerate(message.invalid_tool_calls)]
    chunk = AIMessageChunk(content=message.content, additional_kwargs=message.additional_kwargs,
                           response_metadata=message.response_metadata, id=message.id,
                           usage_metadata=message.usage_metadata, tool_call_chunks=calls)
    return ChatGenerationChunk(message=chunk, generation_info=generation.generation_info)


def _typed(exc: Exception, timeout: Any) -> ModelError | None:
    """A LangChain model error for failures that langchain-openai leaves untyped."""
    if isinstance(exc, ModelError):
        return None
    if isinstance(exc, asyncio.TimeoutError):
        return StreamStalledError(f"no streamed chunk within {timeout} s")
    if isinstance(exc, json.JSONDecodeError | openai.APIResponseValidationError):
        return MalformedResponseError(
            f"the endpoint's answer is not an OpenAI chat completion: {exc}")
    return None


def _reasoning_of(message: Mapping[str, Any]) -> str | None:
    value = message.get("reasoning_content") or message.get("reasoning")
    return value if isinstance(value, str) and value else None
