"""kernel_agent.evals: KernelBench-format evaluation runs, their metrics and reports.

`launch(EvalOptions(...))` runs a suite (evaluate-only with existing candidates, or the agent's
search per problem) into a run directory whose results.sqlite survives a kill; `write_report`
rebuilds report.json, CSVs, report.md, report.html and figures from that file alone. The
metrics are pure functions of the recorded results (`metrics.summary`).
"""

from kernel_agent.evals.launch import EvalOptions, launch
from kernel_agent.evals.metrics import AttemptResult, ProblemResult, Share, summary
from kernel_agent.evals.report import build_report, write_report
from kernel_agent.evals.results import load_results
from kernel_agent.evals.suites import Suite, SuiteError, SuiteProblem, load_suite, select

__all__ = ["AttemptResult", "EvalOptions", "ProblemResult", "Share", "Suite", "SuiteError",
           "SuiteProblem", "build_report", "launch", "load_results", "load_suite", "select",
           "summary", "write_report"]
