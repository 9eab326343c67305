"""A search in a process of its own, so a test can kill it for real (SIGKILL) and resume it.

`python -m tests.graphs.search_child '{"base_url": ..., "run_dir": ...}'`; events are printed as
JSON lines. Verification runs through a CountingSandbox that logs every finished verification.
"""

from __future__ import annotations

import json
import sys

from kernel_agent.agent.models import ModelConfig, make_chat_model
from kernel_agent.graphs import run_search
from kernel_agent.sandbox import get_sandbox
from tests.graphs.scripts import PROBLEM, CountingSandbox


def main(argv: list[str]) -> None:
    args = json.loads(argv[0])
    model = make_chat_model(ModelConfig(profile="local", model="scripted-model",
                                        base_url=args["base_url"], max_retries=1, timeout_s=30))
    sandbox = CountingSandbox(get_sandbox("local", cpu_workers=2), args["log"])
    try:
        run_search(PROBLEM, args["run_dir"], model=model, mode="closed_loop", branches=2,
                   rounds=2, sandbox=sandbox,
                   on_event=lambda event: print(json.dumps(event), flush=True))
    finally:
        sandbox.close()


if __name__ == "__main__":
    main(sys.argv[1:])
