"""The exercise notebooks under the real nbgrader: a teacher's JupyterHub workflow.

For every exercise set in solutions/, on a scratch course folder: ``nbgrader
generate_assignment`` from the solution notebook, then ``nbgrader autograde`` of three
submissions and ``nbgrader export``:

* **blank**: the release copy, unedited        → 0 points;
* **solution**: the solution notebook          → full points;
* **one wrong**: the solution with one task's answer replaced by a wrong one that runs
  (``return None``)                             → full points minus that task's.

nbgrader awards a grade cell's points whenever it runs without an error, so this holds only
because ``vae_course.grading.check`` raises under nbgrader (``NBGRADER_EXECUTION``).
It never skips: nbgrader is part of the test extra, and a missing nbgrader fails.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETS = sorted(p.stem for p in (ROOT / "solutions").glob("ex*.ipynb"))
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"

pytestmark = pytest.mark.slow


def _source(cell) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def _grade_cells(nb) -> list[tuple[int, dict]]:
    return [
        (i, c["metadata"]["nbgrader"])
        for i, c in enumerate(nb["cells"])
        if c["metadata"].get("nbgrader", {}).get("grade")
    ]


def _break_one_task(nb) -> float:
    """Replace the first indented solution region (a function's body) with ``return None``;
    return the points of the grade cell that checks it (the next grade cell)."""
    for i, cell in enumerate(nb["cells"]):
        meta = cell["metadata"].get("nbgrader", {})
        if not meta.get("solution") or cell["cell_type"] != "code":
            continue
        lines = _source(cell).split("\n")
        starts = [k for k, ln in enumerate(lines) if ln.strip() == BEGIN]
        ends = [k for k, ln in enumerate(lines) if ln.strip() == END]
        if not starts:
            continue
        a, b = starts[0], ends[0]
        indent = lines[a][: len(lines[a]) - len(lines[a].lstrip())]
        if not indent:
            continue  # a top-level answer (a value): try the next task
        lines[a : b + 1] = [f"{indent}return None  # a wrong answer that runs"]
        cell["source"] = "\n".join(lines)
        later = [g for j, g in _grade_cells(nb) if j > i]
        assert later, f"no grade cell after solution cell {meta.get('grade_id')}"
        return float(later[0]["points"])
    raise AssertionError("no function task to break")


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)  # nbgrader runs alembic from the same env
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    env["JUPYTER_CONFIG_DIR"] = str(course / ".jupyter")
    env["JUPYTER_DATA_DIR"] = str(course / ".jupyter-data")
    env.setdefault("MPLCONFIGDIR", str(course / ".mpl"))
    env["VAE_COURSE_DEVICE"] = "cpu"
    env.pop("NBGRADER_EXECUTION", None)
    proc = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stderr[-3000:]}"
    return proc


def test_nbgrader_is_installed():
    """Part of the test extra: the nbgrader tests must run, never skip."""
    import nbgrader  # noqa: F401


@pytest.mark.parametrize("exercise", SETS)
def test_nbgrader_autograde_scores_blank_solution_and_one_wrong_task(tmp_path, exercise):
    course = tmp_path / "course"
    (course / "source" / exercise).mkdir(parents=True)
    shutil.copy(ROOT / "solutions" / f"{exercise}.ipynb", course / "source" / exercise)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'vae-course'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{course / 'gradebook.db'}'\n"
        "c.Execute.timeout = 600\n"
    )
    _nbgrader(course, "generate_assignment", exercise, "--force")
    release = course / "release" / exercise / f"{exercise}.ipynb"
    assert release.is_file()
    released = json.loads(release.read_text())
    full = sum(float(g["points"]) for _, g in _grade_cells(released))
    assert full > 0

    solution = json.loads((ROOT / "solutions" / f"{exercise}.ipynb").read_text())
    wrong = json.loads(json.dumps(solution))
    lost = _break_one_task(wrong)
    submissions = {"blank": released, "solution": solution, "onewrong": wrong}
    for student, nb in submissions.items():
        folder = course / "submitted" / student / exercise
        folder.mkdir(parents=True)
        (folder / f"{exercise}.ipynb").write_text(json.dumps(nb))
        _nbgrader(course, "db", "student", "add", student)

    _nbgrader(course, "autograde", exercise, "--force")
    _nbgrader(course, "export", "--to", str(course / "grades.csv"))
    with open(course / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    scores = {s: float(rows[s]["score"]) for s in submissions}
    print(f"\n{exercise}: nbgrader scores {scores} of {full:g} (wrong task worth {lost:g})")
    assert {s: float(rows[s]["max_score"]) for s in submissions} == dict.fromkeys(submissions, full)
    assert scores == {"blank": 0.0, "solution": full, "onewrong": full - lost}, scores

    # nbgrader runs every cell, demo cells (skip_in_grader) included: in the blank copy only
    # the answer cells (unanswered) and the check cells may end in an error; a demo cell
    # catches NotImplementedError and prints a note. The solution runs without any error.
    for student, allowed in (("blank", {"solution", "grade"}), ("solution", set())):
        done = json.loads(
            (course / "autograded" / student / exercise / f"{exercise}.ipynb").read_text()
        )
        for cell in done["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
            if errors and not any(meta.get(k) for k in allowed):
                name = meta.get("grade_id") or _source(cell)[:60]
                raise AssertionError(f"{student}: cell {name!r} raised {errors[0]['ename']}")
