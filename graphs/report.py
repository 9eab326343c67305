"""report.md: what was asked, what was tried, what won and why, in a page a person reads."""

from __future__ import annotations

import time
from typing import Any

from kernel_agent.graphs.ranking import best_of

FAILURES_SHOWN = 40  # the latest attempts without a candidate; attempts.jsonl has them all


def render(state: dict[str, Any]) -> str:
    problem = state.get("problem") or {"path": state.get("problem_path", "?")}
    chosen = state.get("chosen")
    candidates = state.get("candidates", [])
    lines = [f"# Kernel search: {problem.get('path')}", ""]
    if state.get("request"):
        lines += [f"Request: {state['request']}", ""]
    lines += [f"- Stopped: {state.get('stop_reason') or 'unknown'}"]
    if state.get("error"):
        lines += [f"- Error: {state['error']}"]
    elapsed = time.time() - state["started_at"] if state.get("started_at") else None
    lines += [f"- Rounds: {state.get('round', 0)}; candidates verified: {len(candidates)}; "
              f"tokens: {state.get('tokens_used', 0)}"
              + (f"; wall time: {_duration(elapsed)}" if elapsed is not None else ""), ""]
    lines += _result(chosen, candidates, state.get("retime") or {})
    if state.get("branches"):
        lines += ["## Branches", ""]
        for key in sorted(state["branches"], key=int):
            lines.append(f"- branch {key}: {state['branches'][key]['idea']}")
        lines.append("")
    if candidates:
        lines += ["## Candidates", "", "| id | round | branch | status | speedup | verify s | "
                  "diagnosis |", "|---|---|---|---|---|---|---|"]
        for c in candidates:
            speed = f"{c['speedup']:.2f}x" if c.get("speedup") else "-"
            headline = c["headline"].replace("|", "\\|").replace("\n", " ")[:200]
            lines.append(f"| {c['id']} | {c['round']} | {c['branch']} | {c['status']} | "
                         f"{speed} | {c['verify_s']:.1f} | {headline} |")
        lines.append("")
    failures = state.get("failures", [])
    if failures:
        lines += ["## Attempts without a candidate", "",
                  "Each cost its branch one attempt; the branch asked again. Every failed call "
                  "and answer without code, re-asks included, is in attempts.jsonl.", ""]
        if len(failures) > FAILURES_SHOWN:
            lines.append(f"- ({len(failures) - FAILURES_SHOWN} earlier ones in attempts.jsonl)")
        lines += [f"- round {f['round']}, branch {f['branch']}: {f['kind']}: "
                  f"{' '.join(f['message'].split())[:300]}" for f in failures[-FAILURES_SHOWN:]]
        lines.append("")
    return "\n".join(lines)


def _result(chosen: dict[str, Any] | None, candidates: list[dict[str, Any]],
            retime: dict[str, Any]) -> list[str]:
    lines = ["## Result", ""]
    if chosen is None:
        closest = best_of(candidates)
        lines.append("No candidate passed verification."
                     + (f" Closest: {closest['id']}: {closest['headline']}" if closest else ""))
        return [*lines, ""]
    lines.append(f"Best kernel: `{chosen['id']}` (round {chosen['round']}, branch "
                 f"{chosen['branch']}, idea: {chosen['idea']}), saved as best_kernel.py.")
    speed = chosen.get("speedup")
    if speed:
        lines.append(f"Speedup over eager PyTorch when verified: {speed:.2f}x.")
    else:
        why = chosen["verdict"].get("not_measured", {}).get("timing", "not timed")
        lines.append(f"Speed not measured ({why}); with no timing, the fastest correct kernel "
                     "cannot be told apart, so the correct one with the best verdict was kept.")
    if retime.get("measured"):
        lines += ["", f"Re-timed interleaved on {retime.get('device')} ({retime.get('rounds')} "
                  f"rounds, eager {retime.get('eager_ms', 0):.4f} ms):", "",
                  "| id | median ms | speedup over eager |", "|---|---|---|"]
        failed = retime.get("failed") or {}
        for key, result in retime.get("results", {}).items():
            if key not in failed:
                lines.append(f"| {key} | {result['median_ms']:.4f} | "
                             f"{result.get('speedup_eager') or 0:.2f}x |")
        for key, failure in failed.items():
            lines.append(f"| {key} | wrong output while re-timed ({failure.get('flag')}): "
                         f"{' '.join(str(failure.get('reason', '')).split())[:200]}; never "
                         "chosen | - |")
    elif retime.get("reason"):
        lines.append(f"Finalists not re-timed: {retime['reason']}.")
    lines += ["", "```python", chosen["code"].rstrip(), "```", ""]
    return lines


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"
