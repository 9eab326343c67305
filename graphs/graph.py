"""The kernel search graph, built and compiled.

    START -> intake -> recall -> plan -> generate (xK) -> verify (xK) -> assess -> critic (xK) -+
             |  ^ |       |               ^                                |                  |
             |  | |       |               +--------------------------------|------------------+
             |  | |       +---------------------------> select <-----------+ budget used or
             |  | |                                        |                 target met
             |  | +----------------------> finish <- tune <-+
             v  |
           draft -> review (interrupt: the person approves, edits or asks for changes)
             ^         |
             +---------+

A chat request without a problem goes from intake to draft, which writes a reference problem
from the conversation and checks it in the sandbox; review waits for the person and sends the
approved reference back to intake, which starts the search. After a search, the next message on
the same thread is a follow-up: intake archives the finished search and drafting revises its
reference (graphs/intake.py, graphs/draft.py, graphs/review.py). Recall re-verifies what kernel
memory holds for the problem (a starting point, or the answer when the run asks only that);
tune tries the chosen kernel's launch parameters on a GPU (graphs/recall.py, graphs/tune.py).

plan, assess and critic fan out with Send, one task per branch. Each branch step is its own
node, so every model answer, every verdict and every refined prompt is checkpointed as soon as
its step ends, and a resumed run repeats at most the steps that were in flight. A stage's K tasks
run in parallel (one superstep); assess joins them once per round. `graph` (for langgraph.json
and Studio) is compiled without a checkpointer; `build_graph(checkpointer=...)` persists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime

from kernel_agent.graphs.assess import assess
from kernel_agent.graphs.context import Context
from kernel_agent.graphs.critique import critic
from kernel_agent.graphs.draft import draft
from kernel_agent.graphs.finish import finish
from kernel_agent.graphs.generate import generate
from kernel_agent.graphs.intake import intake
from kernel_agent.graphs.plan import plan
from kernel_agent.graphs.recall import recall_node
from kernel_agent.graphs.review import review
from kernel_agent.graphs.select import select
from kernel_agent.graphs.state import InputState, OutputState, State
from kernel_agent.graphs.tune import tune
from kernel_agent.graphs.verify import verify

Node = Callable[[Any, Runtime[Context]], Any]
# Steps run in a thread pool; its default size (CPU count + 4) would serialise wide searches.
MAX_CONCURRENCY = 64
# Four steps per round; the budget, not LangGraph's step limit, ends a search.
RECURSION_LIMIT = 100_000


def build_graph(checkpointer: BaseCheckpointSaver | None = None, *,
                context: Context | None = None, name: str = "kernel_search",
                max_concurrency: int = MAX_CONCURRENCY) -> CompiledStateGraph:
    """The compiled search graph; usable on its own or as a node of a parent graph.

    `context` is used whenever a run brings no `Context` of its own, e.g. inside a parent
    graph whose context schema is different; without it such runs get `Context()` defaults.
    """
    builder = StateGraph(State, context_schema=Context, input_schema=InputState,
                         output_schema=OutputState)
    nodes: list[tuple[str, Node, tuple[str, ...]]] = [
        ("intake", intake, ("draft", "recall", "finish")), ("draft", draft, ("review", END)),
        ("review", review, ("intake", "draft", "review")),
        ("recall", recall_node, ("plan", "select")), ("plan", plan, ("generate",)),
        ("generate", generate, ("verify",)), ("verify", verify, ()),
        ("assess", assess, ("critic", "select")), ("critic", critic, ("generate",)),
        ("select", select, ("tune",)), ("tune", tune, ()), ("finish", finish, ())]
    for node_name, node, destinations in nodes:
        builder.add_node(node_name, _with_context(node, context) if context else node,
                         destinations=destinations or None)
    builder.add_edge(START, "intake")
    builder.add_edge("verify", "assess")
    builder.add_edge("tune", "finish")
    builder.add_edge("finish", END)
    compiled = builder.compile(checkpointer=checkpointer, name=name)
    return compiled.with_config(max_concurrency=max_concurrency,
                                recursion_limit=RECURSION_LIMIT)


def _with_context(node: Node, context: Context) -> Node:
    """`node`, run with `context` when the run's own context is not a search Context."""

    def run(state: Any, runtime: Runtime[Context]) -> Any:
        if not isinstance(runtime.context, Context):
            runtime = runtime.override(context=context)
        return node(state, runtime)

    run.__name__ = node.__name__
    return run


graph = build_graph()
