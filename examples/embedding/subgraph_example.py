"""The kernel search as one node of your own LangGraph graph.

    python examples/embedding/subgraph_example.py --base-url http://localhost:8000/v1 \
        --model deepseek-ai/DeepSeek-R1-Distill-Qwen-32B [--problem examples/rmsnorm/problem.py]

The parent graph has its own state and context; `build_graph(context=...)` binds the search's
settings (model, branches, run directory) at build time, so the parent passes only a problem and
a budget. Progress events from inside the search reach the parent's stream (`subgraphs=True`),
and the search's answer (`chosen`, `stop_reason`, `messages`) lands in the parent's state.
Exit status 0 when a verified kernel was found, 1 when not, 2 when no endpoint is configured.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypedDict

from endpoint import add_endpoint_options, model_config
from langchain_core.messages import AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from kernel_agent.agent.models import NoEndpointConfigured, make_chat_model, uses_tools
from kernel_agent.graphs import Context, build_graph

EXAMPLES = Path(__file__).resolve().parent.parent


@dataclass
class TeamContext:
    """The parent application's own context; the search does not need to know it."""

    requested_by: str


class TeamState(TypedDict, total=False):
    """The parent's state: its own fields plus the search's input and output keys it uses."""

    ticket: str
    problem_path: str
    budget: dict[str, Any]
    messages: Annotated[list[AnyMessage], add_messages]
    chosen: dict[str, Any] | None
    stop_reason: str
    error: str | None
    summary: str


def build_team_graph(search: Any, problem: Path, minutes: float, rounds: int | None) -> Any:
    """prepare -> search (the kernel search subgraph) -> summarise."""

    def prepare(state: TeamState) -> dict[str, Any]:
        return {"problem_path": str(problem), "budget": {"minutes": minutes, "rounds": rounds}}

    def summarise(state: TeamState) -> dict[str, Any]:
        chosen = state.get("chosen")
        if chosen is None:
            why = state.get("error") or state.get("stop_reason") or "no kernel passed"
            return {"summary": f"{state['ticket']}: no verified kernel ({why})"}
        speed = f"{chosen['speedup']:.2f}x over eager" if chosen["speedup"] else "not timed"
        return {"summary": f"{state['ticket']}: verified kernel {chosen['id']} ({speed})"}

    return (StateGraph(TeamState, context_schema=TeamContext)
            .add_node("prepare", prepare).add_node("search", search)
            .add_node("summarise", summarise)
            .add_edge(START, "prepare").add_edge("prepare", "search")
            .add_edge("search", "summarise").add_edge("summarise", END)
            .compile())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_endpoint_options(parser)
    parser.add_argument("--problem", type=Path, default=EXAMPLES / "rmsnorm" / "problem.py",
                        help="KernelBench-format problem file")
    parser.add_argument("--minutes", type=float, default=10.0, help="search budget")
    parser.add_argument("--rounds", type=int, default=None, help="at most this many rounds")
    parser.add_argument("--branches", type=int, default=2, help="parallel lines of search")
    parser.add_argument("--run-dir", type=Path, default=None,
                        help="where the best kernel and the report go (default: a new temp dir)")
    args = parser.parse_args(argv)
    if not args.problem.is_file():
        parser.error(f"problem file not found: {args.problem}")

    try:
        config = model_config(args)
        model = make_chat_model(config)
    except (NoEndpointConfigured, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="kernel-search-"))
    search = build_graph(context=Context(
        model=model, mode="tools" if uses_tools(config) else "closed_loop",
        branches=args.branches, run_dir=str(run_dir)))
    team = build_team_graph(search, args.problem, args.minutes, args.rounds)

    final: dict[str, Any] = {}
    for namespace, mode, data in team.stream(
            {"ticket": f"speed up {args.problem.name}"}, context=TeamContext("example"),
            stream_mode=["custom", "values"], subgraphs=True):
        if mode == "custom":
            print(f"  [{namespace[0].split(':')[0]}] {data['event']}", flush=True)
        elif not namespace:
            final = data
    print(final.get("summary", "the search did not finish"))
    chosen = final.get("chosen")
    if chosen is None:
        return 1
    print(f"best kernel: {run_dir / 'best_kernel.py'}\n")
    print(chosen["code"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
