"""A LangChain agent that calls `optimize_kernel` when it needs a fast GPU kernel.

    python examples/embedding/agent_tool_example.py --base-url http://localhost:8000/v1 \
        --model meta/llama-3.3-70b-instruct [--search-model deepseek-ai/deepseek-r1] \
        [--problem examples/rmsnorm/problem.py]

The agent's model must support tool calling; the search's model (`--search-model`, default the
same) may be a reasoning model such as DeepSeek-R1. `make_optimize_kernel_tool(model=...)` binds
the search to that model; the agent decides when to call the tool and with what budget. Uses
LangChain's `create_agent` where the `langchain` package is installed, else LangGraph's
prebuilt ReAct agent. Exit status 0 when the tool found a verified kernel, 1 when not, 2 when no
endpoint is configured.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from endpoint import add_endpoint_options, model_config
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import HumanMessage
from langchain_core.tools import BaseTool

from kernel_agent.agent.models import NoEndpointConfigured, make_chat_model, uses_tools
from kernel_agent.graphs.optimize_tool import make_optimize_kernel_tool

EXAMPLES = Path(__file__).resolve().parent.parent
SYSTEM = ("You help engineers make PyTorch code fast. When asked for a GPU kernel, call "
          "optimize_kernel with the reference code, then report the status, the best kernel's "
          "file and its speedup exactly as the tool gave them.")
ASK = ("Please write a fast GPU kernel for this PyTorch reference. Use a budget of {minutes:g} "
       "minutes and {branches} branch(es).\n\n```python\n{code}\n```")


def make_agent(model: BaseChatModel, tools: list[BaseTool]) -> Any:
    try:
        from langchain.agents import create_agent
    except ImportError:
        from langgraph.prebuilt import create_react_agent

        with warnings.catch_warnings():  # it points to langchain's create_agent, used above
            warnings.simplefilter("ignore", DeprecationWarning)
            return create_react_agent(model, tools, prompt=SYSTEM)
    return create_agent(model, tools, system_prompt=SYSTEM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_endpoint_options(parser)
    parser.add_argument("--search-model", help="model for the kernel search (default: --model)")
    parser.add_argument("--problem", type=Path, default=EXAMPLES / "rmsnorm" / "problem.py",
                        help="KernelBench-format problem file handed to the agent")
    parser.add_argument("--minutes", type=float, default=10.0, help="budget to ask for")
    parser.add_argument("--branches", type=int, default=2, help="branches to ask for")
    parser.add_argument("--run-root", type=Path, default=None,
                        help="where search runs go (default: ~/.cache/kernel-agent/runs)")
    args = parser.parse_args(argv)
    if not args.problem.is_file():
        parser.error(f"problem file not found: {args.problem}")

    try:
        agent_model = make_chat_model(model_config(args))
        search_config = model_config(args, args.search_model)
        search_model = make_chat_model(search_config)
    except (NoEndpointConfigured, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    tool = make_optimize_kernel_tool(
        model=search_model, mode="tools" if uses_tools(search_config) else "closed_loop",
        run_root=args.run_root)
    agent = make_agent(agent_model, [tool])
    question = ASK.format(minutes=args.minutes, branches=args.branches,
                          code=args.problem.read_text().rstrip())
    result = agent.invoke({"messages": [HumanMessage(question)]})
    answers = [m.content for m in result["messages"] if m.type == "tool"]
    for answer in answers:
        print(f"[optimize_kernel]\n{answer}\n")
    print(result["messages"][-1].content)
    return 0 if any(a.startswith("status: pass") for a in answers) else 1


if __name__ == "__main__":
    sys.exit(main())
