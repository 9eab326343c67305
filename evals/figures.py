"""The report's figures, drawn from the report dict with matplotlib's Agg canvas.

Figures are built as `matplotlib.figure.Figure` objects on an Agg canvas rather than through
pyplot, so drawing needs no display, keeps no global state, and is safe next to worker threads.
Where speed was not measured (no GPU), the speedup figure says so instead of plotting zeros.
The scaling curve is drawn for generate runs only: in an evaluate-only run an attempt's time is
its verification time, not the time a search took to find it.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

CATEGORIES = (  # (label, colour), in stacking order
    ("passed", "#2e7d32"),
    ("rejected by integrity checks", "#f9a825"),
    ("wrong values", "#c62828"),
    ("crashed or timed out when run", "#ef6c00"),
    ("constructor error", "#ad1457"),
    ("did not load or compile", "#6a1b9a"),
    ("no candidate", "#9e9e9e"),
    ("error", "#424242"),
    ("bad input (not counted)", "#90caf9"),
)


def category(row: dict[str, Any]) -> str | None:
    """Where a problem falls in the outcomes figure; None while unfinished."""
    outcome = row["outcome"]
    if outcome == "bad_input":
        return "bad input (not counted)"
    if outcome in ("no_candidate", "error"):
        return outcome.replace("_", " ")
    if outcome != "evaluated":
        return None
    if row["correct"]:
        return "passed"
    if row["numerically_correct"]:
        return "rejected by integrity checks"
    if row["error_kind"] == "constructor_error":
        return "constructor error"
    if row["stage"] == "sandbox" or (row["compiled"] and row["error_kind"] not in (
            None, "output_mismatch")):
        return "crashed or timed out when run"
    return "wrong values" if row["compiled"] else "did not load or compile"


def group_name(level: int | None) -> str:
    return f"level {level}" if level is not None else "all"


def draw_figures(report: dict[str, Any], directory: Path) -> dict[str, Path]:
    """scaling.png (generate runs only), speedup.png and outcomes.png in `directory`; their
    paths by name."""
    directory.mkdir(parents=True, exist_ok=True)
    drawings = {"scaling": scaling_figure, "speedup": speedup_figure,
                "outcomes": outcomes_figure}
    if report["run"]["mode"] != "generate":
        del drawings["scaling"]
        (directory / "scaling.png").unlink(missing_ok=True)  # from an older report
    paths = {}
    for name, draw in drawings.items():
        figure = Figure(figsize=(7, 4.2), dpi=110, layout="constrained")
        FigureCanvasAgg(figure)
        draw(figure, report)
        paths[name] = directory / f"{name}.png"
        figure.savefig(paths[name])
    return paths


def scaling_figure(figure: Figure, report: dict[str, Any]) -> None:
    axes = figure.add_subplot()
    curve = report["scaling_curve"]
    minutes = [point["minutes"] for point in curve]
    series = [("correct", "correct", "#2e7d32"),
              ("fast_1_eager", "fast_1 vs eager", "#1565c0"),
              ("fast_1_compiled", "fast_1 vs torch.compile", "#ef6c00")]
    for key, label, colour in series:
        values = [point[key] for point in curve]
        if curve and all(v is not None for v in values):
            axes.step(minutes, [100 * v for v in values], where="post", label=label,
                      color=colour, linewidth=2)
    if not report["headline"]["speed_measured"]:
        axes.text(0.98, 0.04, "fast_1: speed not measured (no GPU)", ha="right",
                  transform=axes.transAxes, fontsize=9, color="#555555")
    axes.set_xlabel("minutes from each problem's start")
    axes.set_ylabel("% of counted problems")
    axes.set_ylim(0, 100)
    axes.set_title("Inference-time scaling")
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="upper left")


def speedup_figure(figure: Figure, report: dict[str, Any]) -> None:
    axes = figure.add_subplot()
    axes.set_title("Speedup of correct kernels, per level")
    rows = [r for r in report["problems"] if r["correct"]]
    groups = sorted({r["level"] for r in rows}, key=lambda level: (level is None, level))
    if not report["headline"]["speed_measured"]:
        reason = report["run"]["not_measured"].get("timing", "no timing in any verdict")
        correct = ", ".join(f"{group_name(g)}: {sum(r['level'] == g for r in rows)}"
                            for g in groups) or "none"
        axes.text(0.5, 0.6, "Speed not measured", ha="center", fontsize=14,
                  transform=axes.transAxes)
        axes.text(0.5, 0.5, f"correct kernels ({correct}) were not timed", ha="center",
                  fontsize=10, transform=axes.transAxes)
        axes.text(0.5, 0.4, textwrap.fill(reason, 70), ha="center", va="top", fontsize=9,
                  transform=axes.transAxes, color="#555555")
        axes.set_axis_off()
        return
    positions, labels = [], []
    series = (("speedup_eager", "vs eager", "#1565c0"),
              ("speedup_compiled", "vs torch.compile", "#ef6c00"))
    for index, level in enumerate(groups):
        for offset, (key, _, colour) in enumerate(series):
            values = [r[key] for r in rows if r["level"] == level and r[key]]
            if not values:
                continue
            where = 3 * index + offset
            axes.boxplot(values, positions=[where], widths=0.7, patch_artist=True,
                         boxprops={"facecolor": colour, "alpha": 0.35},
                         medianprops={"color": "black"})
            axes.scatter([where] * len(values), values, color=colour, s=14, zorder=3)
        positions.append(3 * index + 0.5)
        labels.append(group_name(level))
    axes.axhline(1.0, color="#555555", linestyle="--", linewidth=1)
    axes.set_yscale("log")
    axes.set_xticks(positions, labels)
    axes.set_xlim(-1, 3 * len(groups) - 1)
    axes.set_ylabel("speedup (x, log scale)")
    axes.legend(handles=[Patch(color=colour, alpha=0.5, label=label)
                         for _, label, colour in series], loc="best")
    axes.grid(alpha=0.3, axis="y")


def outcomes_figure(figure: Figure, report: dict[str, Any]) -> None:
    axes = figure.add_subplot()
    rows = [(r["level"], category(r)) for r in report["problems"]]
    groups = sorted({level for level, cat in rows if cat}, key=lambda g: (g is None, g))
    bottoms = [0] * len(groups)
    names = [group_name(g) for g in groups]
    for label, colour in CATEGORIES:
        counts = [sum(1 for level, cat in rows if level == g and cat == label) for g in groups]
        if any(counts):
            axes.bar(names, counts, bottom=bottoms, color=colour, label=label)
            bottoms = [b + c for b, c in zip(bottoms, counts, strict=True)]
    axes.set_ylabel("problems")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title("Outcome per problem")
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
