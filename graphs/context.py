"""The run's static context: models, sandbox, run directory and search settings.

Passed as `context=` when the graph is invoked and read by the nodes through `runtime.context`;
never checkpointed, so a resumed run is handed its context again. Every field has a default so
LangGraph Studio (or a parent graph) can start the graph with only some of them: a model given as
a profile name or `ModelConfig` is built on first use, and without a sandbox the process shares
one local sandbox.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from langchain_core.language_models import BaseChatModel
from langgraph.runtime import Runtime
from pydantic import ConfigDict, SkipValidation
from pydantic.json_schema import SkipJsonSchema

from kernel_agent.agent.models import ModelConfig, make_chat_model, resolve_config, uses_tools
from kernel_agent.graphs.breaker import Breaker
from kernel_agent.graphs.rundir import RunDir
from kernel_agent.sandbox import Limits, Sandbox, get_sandbox
from kernel_agent.tools.feedback import FeedbackStore
from kernel_agent.tools.memory import KernelMemory, KernelMemoryError

ModelSpec = BaseChatModel | ModelConfig | str | None
Mode = Literal["auto", "tools", "closed_loop"]
# Objects, not data: left out of the JSON schema LangGraph Studio shows for the context.
Hidden = (SkipValidation, SkipJsonSchema())
TOOLS_REFUSED = "tools_refused.txt"  # in the run directory: the endpoint's refusal, kept
FEEDBACK_DIR = "feedback"  # in the run directory: texts cut for the model, kept whole

_lock = threading.Lock()
_shared: dict[str, Sandbox] = {}
_defaults: dict[str, Context] = {}


@dataclass
class Context:
    """Everything a search needs besides its state.

    `model` is a chat model instance, a `ModelConfig`, or a profile name (None: `profile`, else
    the configured default profile); `critic_model` likewise, None meaning the same model.
    `profile` is the plain-data way to pick one (LangGraph Studio and the server's runs cannot
    pass objects, and hidden fields are left out of what they can set). `mode` "auto" asks
    the model's configuration (`uses_tools`); a model passed as an instance runs the closed
    loop unless "tools" is named. An endpoint that refuses tool calling (graphs/toolloop.py)
    moves the run to the closed loop for good: every branch and round, and a resumed run too
    (the refusal is kept in the run directory).
    """

    __pydantic_config__ = ConfigDict(arbitrary_types_allowed=True)  # for the hidden fields

    model: Annotated[ModelSpec, *Hidden] = None
    critic_model: Annotated[ModelSpec, *Hidden] = None
    profile: str | None = None  # nim-r1, deepseek, openai or local, with its environment
    mode: Mode = "auto"
    sandbox: Annotated[Sandbox | None, *Hidden] = None
    run_dir: str | None = None
    branches: int = 4
    target_speedup: float | None = None
    verifier_options: dict[str, Any] = field(default_factory=dict)
    verify_timeout_s: float | None = None  # None: derived per problem (tools/wall_limit.py)
    answer_attempts: int = 2  # asks per round when an answer holds no usable code
    breaker: Breaker = field(default_factory=Breaker)  # when the endpoint counts as down
    tool_steps: int = 12  # model turns per round in tool-calling mode
    # Kernel memory: the user's own store unless one is given; use_memory=False leaves it alone.
    memory: Annotated[KernelMemory | None, *Hidden] = None
    use_memory: bool = True
    recall_only: bool = False  # answer from memory (re-verified here) and ask no model
    tune: bool = True  # tune the chosen kernel's launch parameters (on a GPU)
    _cache: Annotated[dict[str, Any], *Hidden] = field(default_factory=dict, init=False,
                                                        repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.branches < 1:
            raise ValueError("branches must be at least 1")
        if self.mode not in ("auto", "tools", "closed_loop"):
            raise ValueError(f"mode must be auto, tools or closed_loop, not {self.mode!r}")

    def generator(self) -> BaseChatModel:
        """The model that writes kernels."""
        return self._model("model", self._spec())

    def critic(self) -> BaseChatModel:
        """The model that writes the next prompt (the generator unless one is named)."""
        if self.critic_model is None:
            return self.generator()
        return self._model("critic", self.critic_model)

    def tools_mode(self) -> bool:
        if self.mode == "closed_loop" or self.tools_refused() is not None:
            return False
        if self.mode == "tools":
            return True
        with _lock:
            if "tools" not in self._cache:
                config = _config(self._spec())
                self._cache["tools"] = config is not None and uses_tools(config)
            return self._cache["tools"]

    def tools_refused(self) -> str | None:
        """Why the endpoint refused tool calling in this run; None while it has not."""
        with _lock:
            if "tools_refused" not in self._cache:
                marker = self._tools_refused_file()
                self._cache["tools_refused"] = (marker.read_text() if marker and marker.is_file()
                                                else None)
            return self._cache["tools_refused"]

    def refuse_tools(self, reason: str) -> None:
        """Remember that the endpoint refused tools: the closed loop from now on."""
        marker = self._tools_refused_file()
        with _lock:
            self._cache["tools_refused"] = reason
            if marker is not None:
                marker.write_text(reason)

    def feedback(self) -> FeedbackStore:
        """Where texts cut for the model are kept whole: the run directory's `feedback/`."""
        with _lock:
            if "feedback" not in self._cache:
                run_dir = self.run_directory()
                self._cache["feedback"] = FeedbackStore(
                    run_dir.path / FEEDBACK_DIR if run_dir else None)
            return self._cache["feedback"]

    def _tools_refused_file(self) -> Path | None:
        run_dir = self.run_directory()
        return run_dir.path / TOOLS_REFUSED if run_dir else None

    def sandbox_in_use(self) -> Sandbox:
        if self.sandbox is not None:
            return self.sandbox
        with _lock:
            if "local" not in _shared:
                workers = max(1, min(self.branches, os.cpu_count() or 1))
                _shared["local"] = get_sandbox("local", cpu_workers=workers)
                atexit.register(_shared["local"].close)
            return _shared["local"]

    def kernel_memory(self) -> KernelMemory | None:
        """The memory this run reads and writes; None when turned off or when it cannot be
        opened (logged: the search goes on without it)."""
        if not self.use_memory:
            return None
        if self.memory is not None:
            return self.memory
        sandbox = self.sandbox_in_use()  # takes the lock itself
        with _lock:
            if "memory" not in self._cache:
                try:
                    self._cache["memory"] = KernelMemory(sandbox=sandbox, seed=True)
                except KernelMemoryError as exc:
                    logging.getLogger(__name__).warning("kernel memory not used: %s", exc)
                    self._cache["memory"] = None
            return self._cache["memory"]

    def limits(self) -> Limits | None:
        """The wall limit the caller set for a verification; None: derived from the problem
        (tools/check.py), always within the search's time left."""
        return Limits(wall_s=self.verify_timeout_s) if self.verify_timeout_s else None

    def run_directory(self) -> RunDir | None:
        return RunDir(self.run_dir) if self.run_dir else None

    def _spec(self) -> ModelSpec:
        return self.profile if self.model is None else self.model

    def _model(self, key: str, spec: ModelSpec) -> BaseChatModel:
        if isinstance(spec, BaseChatModel):
            return spec
        with _lock:
            if key not in self._cache:
                config = _config(spec)
                assert config is not None
                self._cache[key] = make_chat_model(config)
            return self._cache[key]


def _config(spec: ModelSpec) -> ModelConfig | None:
    if isinstance(spec, ModelConfig):
        return spec
    if spec is None or isinstance(spec, str):
        return resolve_config(spec)
    return None


def context_of(runtime: Runtime[Any]) -> Context:
    """The run's Context; a run started without one (Studio, a parent graph) gets the defaults."""
    if isinstance(runtime.context, Context):
        return runtime.context
    with _lock:
        if "default" not in _defaults:
            _defaults["default"] = Context()
        return _defaults["default"]
