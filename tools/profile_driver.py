"""The program Nsight Compute profiles: the candidate's forward, warm-up calls first.

Run as `python -m kernel_agent.tools.profile_driver REQUEST.json` by the profile task, under
ncu. It loads problem and candidate the way the verifier does, builds the inputs on the GPU and
calls the candidate `warmup_calls + calls` times; ncu skips the warm-up launches by count.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path


def main(argv: list[str]) -> int:
    import torch

    from kernel_agent.tools.verify import Verification

    request = json.loads(Path(argv[0]).read_text())
    with tempfile.TemporaryDirectory(prefix="profile-driver-") as tmp:
        verification = Verification(request["options"], Path(tmp))
        verification.load_problem()
        verification.take_snapshots()
        verification.load_candidate()
        verification.build_models()
        inputs = verification.make_inputs(request["options"]["seed"])
        with torch.no_grad():
            for _ in range(request["warmup_calls"] + request["calls"]):
                verification.new(*inputs)
        torch.cuda.synchronize()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
