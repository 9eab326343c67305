"""What a researcher reads after an evaluate-only run with layout mistakes and constructor
errors: the terminal at 80 and 120 columns, the report's rows, figures and links, and the report
itself opened in headless Chromium.

The suite is four level-1 problems; their candidates:

    1_Scale_add   correct                                   pass, compiled
    2_ReLU        ModelNew(width) where the problem gives ()  constructor_error, not compiled
    3_Row_sum     ModelNew's constructor raises                constructor_error, not compiled
    4_Softmax     saved as level1/4_softmax.py                 no candidate; the file is unmatched
"""

from __future__ import annotations

import html.parser
import json
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kernel_agent.evals.figures import category, outcomes_figure

from .conftest import CANDIDATES, SUITE, read_json, run_cli

EXIT_UNMATCHED = 3
WANTS_ARGUMENT = '''import torch
from torch import nn


class ModelNew(nn.Module):
    def __init__(self, width):
        super().__init__()

    def forward(self, x):
        return torch.relu(x)
'''
RAISES = '''import torch
from torch import nn


class ModelNew(nn.Module):
    def __init__(self):
        super().__init__()
        raise RuntimeError("no weights for this shape")

    def forward(self, x):
        return x.sum(-1)
'''
# Written into a copy of report.html: on load, what the browser made of every image and link.
PROBE = """<script>
window.addEventListener('load', () => {
  const problems = [...document.querySelectorAll('table')].pop().tBodies[0].rows;
  const out = {
    images: [...document.images].map(i => ({alt: i.alt, complete: i.complete,
      width: i.naturalWidth, height: i.naturalHeight, png: i.src.startsWith('data:image/png')})),
    headings: [...document.querySelectorAll('h1, h2')].map(h => h.textContent),
    rows: problems.length,
    links: [...problems].map(r => ({
      problem: r.cells[0].textContent,
      links: [...r.querySelectorAll('a')].map(a => [a.textContent, a.href])})),
  };
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


@pytest.fixture(scope="module")
def mistaken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The run, its candidates folder, and what the terminal showed at 80 columns."""
    base = tmp_path_factory.mktemp("diagnostics")
    suite, candidates = base / "suite" / "level1", base / "candidates" / "level1"
    suite.mkdir(parents=True)
    candidates.mkdir(parents=True)
    for name in ("1_Scale_add", "2_ReLU", "3_Row_sum", "4_Softmax"):
        shutil.copy(SUITE / "level1" / f"{name}.py", suite)
    shutil.copy(CANDIDATES / "level1" / "1_Scale_add.py", candidates)
    (candidates / "2_ReLU.py").write_text(WANTS_ARGUMENT)
    (candidates / "3_Row_sum.py").write_text(RAISES)
    shutil.copy(CANDIDATES / "level1" / "4_Softmax.py", candidates / "4_softmax.py")
    run_dir = base / "run"
    done = run_cli("eval", base / "suite", "--candidates", base / "candidates", "--out", run_dir,
                   env={"COLUMNS": "80", "KERNEL_AGENT_CACHE": str(base / "cache")})
    assert done.returncode == EXIT_UNMATCHED, done.stdout + done.stderr
    return run_dir, base / "candidates", done.stdout


def lines_fit(output: str, width: int) -> None:
    too_wide = [line for line in output.splitlines() if len(line) > width]
    assert not too_wide, too_wide


def test_an_unmatched_file_is_loud(mistaken):
    run_dir, candidates, stdout = mistaken
    lines_fit(stdout, 80)
    said = " ".join(stdout.split())
    # the progress line of the problem names every path tried and the file that matched nothing
    assert ("level1/4_Softmax: no_candidate: no candidate file: looked for level1/4_Softmax.py, "
            "level1/4_Softmax/kernel.py, level_1_problem_4_sample_0_kernel.py, 4_Softmax.py, "
            f"4_Softmax/kernel.py in {candidates}; 1 file(s) there matched no problem: "
            "level1/4_softmax.py") in said
    # ... and the summary says both again, after the table
    assert "no candidate for 1 problem(s): level1/4_Softmax" in said
    assert "1 file(s) in --candidates matched no problem: level1/4_softmax.py" in said
    assert said.index("matched no problem: level1/4_softmax.py", said.index("metric")) > 0
    report = read_json(run_dir / "report.json")
    assert report["run"]["unmatched_candidates"] == ["level1/4_softmax.py"]
    markdown = (run_dir / "report.md").read_text()
    assert "1 file(s) in the candidates folder matched no problem: level1/4_softmax.py" in markdown


def test_every_problem_matched_exits_0_even_with_stray_files(tmp_path):
    """A stray file alone is no mistake when every problem found its candidate."""
    candidates = tmp_path / "candidates"
    shutil.copytree(CANDIDATES, candidates)
    (candidates / "notes.py").write_text("# not a kernel\n")
    done = run_cli("eval", SUITE, "--problems", "1", "--level", "1", "--candidates", candidates,
                   "--out", tmp_path / "run", env={"COLUMNS": "120"})
    assert done.returncode == 0, done.stdout + done.stderr
    lines_fit(done.stdout, 120)
    said = " ".join(done.stdout.split())
    assert "1 file(s) in --candidates matched no problem: notes.py" in said
    assert "no candidate for" not in said


def test_constructor_errors_are_not_compiled(mistaken):
    run_dir, _, stdout = mistaken
    head = read_json(run_dir / "report.json")["headline"]
    assert head["compiled"] == {"count": 1, "total": 4, "share": 0.25}
    assert head["correct"]["count"] == 1
    compiled_line = next(line for line in stdout.splitlines() if line.startswith("│ compiled"))
    assert [cell.strip() for cell in compiled_line.split("│")[2:4]] == ["25.0% (1/4)"] * 2
    rows = {r["id"]: r for r in read_json(run_dir / "report.json")["problems"]}
    for problem in ("level1/2_ReLU", "level1/3_Row_sum"):
        assert (rows[problem]["compiled"], rows[problem]["error_kind"]) == (
            False, "constructor_error")
        assert category(rows[problem]) == "constructor error"
    assert rows["level1/2_ReLU"]["error"].startswith(
        "constructor_error: ModelNew's constructor does not accept the problem's init inputs")
    assert "'width'" in rows["level1/2_ReLU"]["error"]
    assert rows["level1/3_Row_sum"]["error"] == (
        "constructor_error: RuntimeError: no weights for this shape")
    assert category(rows["level1/1_Scale_add"]) == "passed"
    assert category(rows["level1/4_Softmax"]) == "no candidate"


def test_the_outcome_chart_counts_whole_problems(mistaken):
    run_dir, _, _ = mistaken
    figure = Figure()
    FigureCanvasAgg(figure)
    outcomes_figure(figure, read_json(run_dir / "report.json"))
    axes = figure.axes[0]
    figure.canvas.draw()
    ticks = [t for t in axes.get_yticks() if axes.get_ylim()[0] <= t <= axes.get_ylim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks), ticks
    assert [t.get_text() for t in axes.get_legend().get_texts()] == [
        "passed", "constructor error", "no candidate"]


@pytest.mark.parametrize("columns", [80, 120])
def test_the_headline_fits_the_terminal(mistaken, columns):
    run_dir, _, _ = mistaken
    shown = run_cli("eval", "report", run_dir, env={"COLUMNS": str(columns)})
    assert shown.returncode == 0, shown.stderr
    lines_fit(shown.stdout, columns)
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in shown.stdout.splitlines() if line.startswith("│")}
    assert rows["compiled"] == ["25.0% (1/4)", "25.0% (1/4)"]
    assert rows["correct (= fast_0)"] == ["25.0% (1/4)", "25.0% (1/4)"]
    assert rows["geomean speedup vs torch.compile"] == ["not measured", "not measured"]
    assert not {"fast_0", "time to first correct kernel (median)", "cost"} & set(rows)


def test_the_report_in_a_browser(mistaken, chromium):
    """report.html as a person opens it: it renders, its figures decode, an evaluate-only
    report has no search sections, and every problem row links to existing files."""
    run_dir, candidates, _ = mistaken
    page = (run_dir / "report.html").read_text()
    probed = run_dir / "report.probe.html"  # next to the report, so links resolve the same
    probed.write_text(page.replace("</body>", PROBE + "</body>"))
    dumped = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         "--virtual-time-budget=5000", probed.as_uri()],
        capture_output=True, text=True, timeout=60)
    assert dumped.returncode == 0, dumped.stderr
    found = ProbeReader.read(dumped.stdout)

    assert found["headings"][0].startswith("Eval: ")
    assert found["headings"][1:] == ["Headline", "Notes", "Integrity flags", "Figures", "Problems"]
    assert [i["alt"] for i in found["images"]] == [
        "Speedups of the correct kernels, per level", "Outcome of every problem, per level"]
    for image in found["images"]:
        assert image["complete"] and image["png"], image
        assert image["width"] >= 400 and image["height"] >= 300, image
    assert "scaling" not in page.lower() and "first correct" not in page

    assert found["rows"] == 4
    links = {row["problem"]: dict(row["links"]) for row in found["links"]}
    assert set(links) == {"level1/1_Scale_add", "level1/2_ReLU", "level1/3_Row_sum",
                          "level1/4_Softmax"}
    for problem in ("level1/1_Scale_add", "level1/2_ReLU", "level1/3_Row_sum"):
        kernel, verdict = (Path(unquote(urlparse(links[problem][name]).path))
                           for name in ("kernel", "verdict"))
        assert kernel == candidates / "level1" / f"{problem.split('/')[1]}.py"
        assert verdict.is_file() and json.loads(verdict.read_text())["problem"] == problem
    assert json.loads(Path(unquote(urlparse(links["level1/2_ReLU"]["verdict"]).path))
                      .read_text())["error"]["kind"] == "constructor_error"
    assert links["level1/4_Softmax"] == {}, "no candidate: nothing to link"


class ProbeReader(html.parser.HTMLParser):
    """The JSON the probe script left in <pre id=probe> of the dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.inside, self.text = False, ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.inside = tag == "pre" and ("id", "probe") in attrs

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.text += data

    @classmethod
    def read(cls, dom: str) -> dict:
        reader = cls()
        reader.feed(dom)
        assert reader.text, "the probe did not run: " + dom[-500:]
        return json.loads(reader.text)


def test_the_matching_rules_are_whole_at_80_columns():
    shown = run_cli("eval", "run", "--help", env={"COLUMNS": "80"})
    assert shown.returncode == 0, shown.stderr
    lines_fit(shown.stdout, 80)
    for layout in ("DIR/levelL/<id>_<name>.py", "DIR/levelL/<id>_<name>/kernel.py",
                   "DIR/level_L_problem_<id>_sample_0_kernel.py", "DIR/<id>_<name>.py",
                   "DIR/<id>_<name>/kernel.py"):
        assert any(line.strip(" │") == layout for line in shown.stdout.splitlines()), layout
    assert "3 done but some problem had no" in " ".join(shown.stdout.split())
