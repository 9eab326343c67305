"""Running a compiled graph the way a client watches it: its custom events and its final state."""

from __future__ import annotations

from typing import Any


def stream_to_end(graph: Any, start: dict[str, Any], context: Any
                  ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(final state, custom events) of one run of `graph` from `start`."""
    events, final = [], None
    for mode, data in graph.stream(start, context=context, stream_mode=["custom", "values"]):
        if mode == "custom":
            events.append(data)
        else:
            final = data
    assert final is not None
    return final, events
