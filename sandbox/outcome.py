"""Turning what a backend observed about a finished task into a TaskResult.

Both backends report the same facts: the task's answer (if it wrote one), how its process ended
({"exit": n}, {"signal": n} or {"setup_error": text}), whether the sandbox killed it for time,
and whether the kernel's OOM killer fired. The answer wins when there is one: a task that answered
and then crashed on the way out (CUDA teardown, say) still answered.
"""

from __future__ import annotations

import signal
from typing import Any

from kernel_agent.sandbox.protocol import Failure, TaskResult

OUTPUT_TAIL_CHARS = 4000


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def task_result(*, answer: dict[str, Any] | None, status: dict[str, Any] | None,
                timed_out: bool, wall_s: float, oom_killed: bool, memory_bytes: int | None,
                output: str, elapsed_s: float, notes: list[str]) -> TaskResult:
    result = TaskResult(output_tail=output[-OUTPUT_TAIL_CHARS:], elapsed_s=elapsed_s,
                        notes=notes)
    if timed_out:
        result.failure = Failure("timeout", f"killed after the {wall_s:g} s wall-clock limit")
    elif answer is not None and "failure" in answer:
        result.failure = Failure(**answer["failure"])
        if oom_killed and result.failure.signal == signal.SIGKILL:  # a process of the task's
            result.failure = failure_without_answer({"signal": signal.SIGKILL}, True,
                                                    memory_bytes)
    elif answer is not None:
        result.value = answer["value"]
        result.clock = answer.get("clock", {})
    else:
        result.failure = failure_without_answer(status, oom_killed, memory_bytes)
    return result


def failure_without_answer(status: dict[str, Any] | None, oom_killed: bool,
                           memory_bytes: int | None) -> Failure:
    if oom_killed:
        limit = f" at the {memory_bytes >> 20} MiB limit" if memory_bytes else ""
        return Failure("out_of_memory", f"killed by the kernel's OOM killer{limit}",
                       signal=status.get("signal") if status else None)
    if status is None:
        return Failure("sandbox_error", "the task ended without leaving a status")
    if "setup_error" in status:
        return Failure("sandbox_error", f"the sandbox could not start the task: "
                                        f"{status['setup_error']}")
    if "signal" in status:
        number = status["signal"]
        message = f"the task died with {signal_name(number)}"
        if number == signal.SIGXFSZ:
            message += " (it wrote a file larger than the sandbox allows)"
        return Failure("crashed", message, signal=number)
    return Failure("sandbox_error", f"the task exited with code {status.get('exit')} "
                                    "without an answer")
