"""The search's state: a narrow input, the full state with its reducers, and the branch payloads.

Everything in the state is plain JSON-like data (dicts, lists, strings, numbers, messages), so the
SQLite checkpointer stores it as it is and a resumed run reads back exactly what was verified.
Channels written by parallel branches in the same step have reducers: candidates and history
append, the token count adds up, branch records merge by branch, and `best` keeps the better one.
A thread is a conversation that may hold several searches: when the next one starts, the finished
one is archived in `searches` and the search's own keys are reset (graphs/searches.py).
"""

from __future__ import annotations

import operator
from typing import (
    Annotated,
    Any,
    NotRequired,  # pydantic needs these on Python < 3.12
)

from langchain_core.messages import AnyMessage
from langgraph.graph.message import add_messages
from typing_extensions import TypedDict

from kernel_agent.graphs.ranking import keep_best


class BudgetSpec(TypedDict, total=False):
    """What the caller grants: wall minutes (default 15), rounds and tokens (None: no limit);
    `deadline` (epoch seconds) when the caller's clock started before the search's (the CLI
    counts the budget from its own start)."""

    minutes: float
    rounds: int | None
    tokens: int | None
    deadline: NotRequired[float | None]


class InputState(TypedDict, total=False):
    """What a caller passes in: a problem (file path or source text), a request, a budget."""

    problem_path: str
    problem_text: str
    request: str
    budget: BudgetSpec
    messages: Annotated[list[AnyMessage], add_messages]


class Candidate(TypedDict):
    """One verified candidate: its code, where it came from, its verdict and its diagnosis."""

    id: str
    round: int
    branch: int
    idea: str
    path: str
    code: str
    status: str  # the verdict's: pass, fail or bad_input
    headline: str  # the critic's diagnosis in one line
    speedup: float | None  # over eager PyTorch, when timed
    verdict: dict[str, Any]
    verify_s: float
    model_s: float
    tokens: int
    note: str  # how the code was taken from the answer
    same_as: NotRequired[str]  # a resubmission: the earlier candidate whose verdict it took


class Failure(TypedDict):
    """A branch's round that produced nothing to verify, and why."""

    round: int
    branch: int
    kind: str  # model_error, endpoint_refused, request_refused, no_code, out_of_budget
    message: str
    at: NotRequired[float]  # epoch seconds, when the step gave up
    retry_after: NotRequired[float | None]  # the wait the endpoint asked for, if it asked


class EndpointHealth(TypedDict):
    """The circuit breaker's count: model calls failed in a row across all branches (each
    after its retries), since when, and whether the breaker ended the search."""

    failures: int
    since: float | None
    down: bool


class Branch(TypedDict):
    """One line of search: its optimisation idea and the prompt of its latest round."""

    branch: int
    idea: str
    prompt: str
    round: int


class ValidationResult(TypedDict):
    """Whether a reference problem ran in the sandbox as its own candidate, and where."""

    ok: bool
    error: str | None
    device: str  # e.g. "cpu (Triton interpreter)"; "" when it never ran
    gpu: bool
    seconds: float


class ReferenceDraft(TypedDict):
    """A reference problem drafted from the conversation, while the person reviews it."""

    text: str
    path: str  # where it is saved once approved
    request: str  # the kernel asked for, in a sentence (its KERNEL_AGENT request)
    validation: ValidationResult
    status: str  # review, change (redraft from words), fix (repair), approved
    origin: str  # model, edited
    revision: int  # 1 for the first draft of this search, +1 for every redraft or edit
    attempts: int  # model answers the latest drafting took
    tokens: int  # model tokens spent drafting this search's reference so far


class State(InputState):
    """The whole search (a thread may hold several: see `searches`)."""

    problem: dict[str, str]  # {"text", "path"}
    system_prompt: str
    deadline: float  # epoch seconds
    max_rounds: int | None
    max_tokens: int | None
    started_at: float
    round: int
    round_started_at: float
    tokens_used: Annotated[int, operator.add]
    candidates: Annotated[list[Candidate], operator.add]
    failures: Annotated[list[Failure], operator.add]
    history: Annotated[list[dict[str, Any]], operator.add]
    best: Annotated[Candidate | None, keep_best]
    branches: Annotated[dict[str, Branch], operator.or_]
    chosen: NotRequired[Candidate | None]
    retime: NotRequired[dict[str, Any]]
    stop_reason: NotRequired[str]
    error: NotRequired[str | None]
    endpoint: NotRequired[EndpointHealth]  # written by assess only
    # The conversation around the searches (graphs/draft.py, graphs/searches.py):
    reference_draft: NotRequired[ReferenceDraft | None]
    search_inputs: NotRequired[dict[str, Any]]  # the input values the latest search started from
    searches: Annotated[list[dict[str, Any]], operator.add]  # earlier searches of this thread
    starting_point: NotRequired[dict[str, Any] | None]  # the previous best kernel, on follow-ups


class OutputState(TypedDict, total=False):
    """What a finished search hands back (to a parent graph, or to `run_search`)."""

    messages: list[AnyMessage]
    chosen: Candidate | None
    candidates: list[Candidate]
    failures: list[Failure]
    stop_reason: str
    error: str | None
    round: int
    tokens_used: int
    retime: dict[str, Any]


class GenerateTask(TypedDict):
    """Payload of one branch's generate step (sent with Send)."""

    branch: int
    round: int
    idea: str
    prompt: str
    system: str
    problem: dict[str, str]
    deadline: float
    wait_s: NotRequired[float]  # back off this long first: the branch's last call failed


class VerifyTask(TypedDict):
    """Payload of one branch's verify step: the extracted code, or why there is none."""

    branch: int
    round: int
    idea: str
    problem: dict[str, str]
    code: str | None
    note: str
    model_s: float
    tokens: int
    failure: Failure | None
    deadline: NotRequired[float]  # the search's (epoch seconds); recall's tasks carry none


class AskAgain(TypedDict):
    """A branch whose call failed: the prompt to send again, after waiting `wait_s`."""

    prompt: str
    wait_s: float


class CritiqueTask(TypedDict):
    """Payload of one branch's critic step: its last outcome and what the search knows."""

    branch: int
    round: int  # the round about to start
    idea: str
    problem: dict[str, str]
    request: str
    system: str
    deadline: float
    candidate: Candidate | None
    failure: Failure | None
    best: Candidate | None
    history: list[dict[str, Any]]
    ask_again: NotRequired[AskAgain | None]  # the call failed: no critic, the same prompt
