"""kernel_agent.graphs: the LangGraph kernel search (see DESIGN.md, "The graph").

`build_graph()` returns the compiled search, usable as a subgraph; `run_search()` runs one to the
end in a run directory with checkpoints, artifacts and streamed progress events.
"""

from kernel_agent.graphs.context import Context
from kernel_agent.graphs.events import EVENTS
from kernel_agent.graphs.graph import build_graph
from kernel_agent.graphs.runner import RunDirInUse, SearchResult, run_search
from kernel_agent.graphs.state import Candidate, InputState, OutputState, State

__all__ = ["EVENTS", "Candidate", "Context", "InputState", "OutputState", "RunDirInUse",
           "SearchResult", "State", "build_graph", "run_search"]
