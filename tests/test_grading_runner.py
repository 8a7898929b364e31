"""`vae-course grade` on real and hostile submissions: the right points, a reason for each
lost point, and a finished table whatever the submissions do.

All submissions are built here from the committed notebooks (no fixture .ipynb files, so
nbval never runs them) and graded in ONE grader run, in parallel, as an instructor would.
"""

import copy
import csv
import io
import json
import pathlib
import shutil
import time

import nbformat
import pytest

from vae_course.cli import main as cli
from vae_course.grading.build import nbgrader
from vae_course.grading.runner import assemble_cells, load_pristine

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTION = ROOT / "solutions" / "ex04_vae.ipynb"
EXERCISE = ROOT / "exercises" / "ex04_vae.ipynb"
TIMEOUT = (
    30  # seconds per submission (a cell or task gets TIMEOUT / 4): headroom for a loaded CI machine
)
SUITE_LIMIT = 150  # seconds for the whole graded set on 2 cores
FULL = 19  # 7 functions and 2 modules of 2 points, a 1-point prediction (checked separately)
TASKS = [
    "reparameterize",
    "gaussian_kl",
    "bernoulli_log_likelihood",
    "vae_loss",
    "train_step",
    "sample_prior",
]


def _read(path):
    return nbformat.read(path, as_version=4)


def _cell(nb, grade_id):
    return next(c for c in nb.cells if nbgrader(c).get("grade_id") == grade_id)


def _set(nb, grade_id, source):
    _cell(nb, grade_id).source = source


def _added(nb, source, index=None):
    c = nbformat.v4.new_code_cell(source)
    nb.cells.insert(len(nb.cells) if index is None else index, c)


# ----------------------------------------------------------------------------- hostile set
def prints_passed(nb):
    """Stubs everywhere, but prints what a passing check would print, and fakes outputs."""
    for t in TASKS:
        _added(nb, f'print("✓ ex04.{t}: passed (6 cases)")')
        cell = _cell(nb, f"check_{t}")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="✓ passed\n")]


def edits_check_cells(nb):
    """A wrong KL whose check cell is replaced by `pass` (and given 100 points); another
    check cell deleted."""
    _set(
        nb,
        "gaussian_kl",
        "def gaussian_kl(mu, logvar):\n    return -0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum(1)",
    )
    c = _cell(nb, "check_gaussian_kl")
    c.source = "pass"
    c.metadata.nbgrader["points"] = 100
    nb.cells.remove(_cell(nb, "check_reparameterize"))


def patches_grading(nb):
    """A wrong reparameterize, plus every patch of the checking code one could think of."""
    _set(
        nb,
        "reparameterize",
        "import torch\n"
        "import vae_course.grading as g\n"
        "import vae_course.grading.checks as c\n"
        "g.check = check = lambda *a, **k: print('✓ passed')\n"
        "c.judge = lambda chk, *a, **k: c.CheckResult(chk.id, 'passed')\n"
        "c.execute_case = lambda chk, fn, case: {'outputs': {}}\n"
        "c.CheckResult.passed = property(lambda self: True)\n"
        "torch.allclose = lambda *a, **k: True\n"
        "def reparameterize(mu, logvar):\n    return mu\n",
    )


def infinite_loop(nb):
    _set(
        nb,
        "sample_prior",
        "def sample_prior(model, n, temperature=1.0):\n    while True:\n        pass",
    )


def loop_ignoring_the_alarm(nb):
    """An endless loop while defining the cell, after disabling the in-process timer."""
    _set(
        nb,
        "gaussian_kl",
        "import signal\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\nwhile True:\n    pass\n"
        + _cell(nb, "gaussian_kl").source,
    )


def memory_bomb(nb):
    _set(
        nb,
        "bernoulli_log_likelihood",
        "def bernoulli_log_likelihood(x, logits):\n"
        "    hog = []\n    while True:\n        hog.append(torch.ones(2**24))",
    )
    _added(nb, "hog = [bytearray(10**8) for _ in range(10**5)]")


def syntax_error(nb):
    _set(nb, "vae_loss", "def vae_loss(x, x_logits, mu, logvar, beta=1.0:\n    return 0")


def wrong_shape(nb):
    _set(
        nb,
        "gaussian_kl",
        "def gaussian_kl(mu, logvar):\n    return 0.5 * (mu**2 + logvar.exp() - 1 - logvar)",
    )


def exits_the_process(nb):
    _set(
        nb,
        "train_step",
        "def train_step(model, optimizer, x, beta=1.0):\n    import os\n    os._exit(3)",
    )


def starts_a_background_process(nb):
    """Leaves a process behind; the grader must end it with the submission's session."""
    _added(
        nb,
        "import pathlib, subprocess\n"
        "proc = subprocess.Popen(['sleep', '300'])\n"
        "pathlib.Path(PIDFILE).write_text(str(proc.pid))",
    )


def renames_a_function(nb):
    _set(nb, "gaussian_kl", _cell(nb, "gaussian_kl").source.replace("def gaussian_kl(", "def kl("))


def strips_metadata(nb):
    del nb.metadata["vae_course"]


def deletes_the_setup_cell(nb):
    nb.cells.remove(_cell(nb, "setup"))


# name: (base notebook, edit, expected points per task, substrings of the lost points' reasons)
HOSTILE = {
    "prints_passed": (
        EXERCISE,
        prints_passed,
        dict.fromkeys(TASKS, 0),
        {t: "not attempted" for t in TASKS},
    ),
    "edits_check_cells": (
        SOLUTION,
        edits_check_cells,
        {"gaussian_kl": 0},
        {"gaussian_kl": "wrong sign"},
    ),
    "patches_grading": (
        SOLUTION,
        patches_grading,
        {"reparameterize": 0},
        {"reparameterize": "z equals mu"},
    ),
    "infinite_loop": (
        SOLUTION,
        infinite_loop,
        {"sample_prior": 0},
        {"sample_prior": f"took longer than {TIMEOUT / 4:g} s"},
    ),
    "loop_ignoring_the_alarm": (
        SOLUTION,
        loop_ignoring_the_alarm,
        {"gaussian_kl": 0},
        {
            "gaussian_kl": "not defined (its cell gaussian_kl failed: was stopped after running out of time"
        },
    ),
    "memory_bomb": (
        SOLUTION,
        memory_bomb,
        {"bernoulli_log_likelihood": 0},
        {"bernoulli_log_likelihood": "ran out of memory"},
    ),
    "syntax_error": (SOLUTION, syntax_error, {"vae_loss": 0}, {"vae_loss": "SyntaxError"}),
    "wrong_shape": (
        SOLUTION,
        wrong_shape,
        {"gaussian_kl": 0},
        {"gaussian_kl": "expected shape (64,), got (64, 20): sum the KL over latent dimensions"},
    ),
    "exits_the_process": (
        SOLUTION,
        exits_the_process,
        {"train_step": 0},
        {"train_step": "crashed"},
    ),
    "renames_a_function": (
        SOLUTION,
        renames_a_function,
        {"gaussian_kl": 0},
        {"gaussian_kl": "function gaussian_kl is not defined"},
    ),
    "strips_metadata": (SOLUTION, strips_metadata, {}, {}),
    "starts_a_background_process": (SOLUTION, starts_a_background_process, {}, {}),
    "deletes_the_setup_cell": (SOLUTION, deletes_the_setup_cell, {}, {}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade every solution, every exercise and the hostile set in one CLI run."""
    d = tmp_path_factory.mktemp("submissions")
    for sol in sorted((ROOT / "solutions").glob("*.ipynb")):
        shutil.copy(sol, d / f"solution_{sol.name}")
    for ex in sorted((ROOT / "exercises").glob("*.ipynb")):
        shutil.copy(ex, d / f"exercise_{ex.name}")
    for name, (base, edit, _, _) in HOSTILE.items():
        nb = copy.deepcopy(_read(base))
        edit(nb)
        for c in nb.cells:
            c.source = c.source.replace("PIDFILE", repr(str(d.parent / "background.pid")))
        nbformat.write(nb, d / f"{name}.ipynb")
    good = (d / "wrong_shape.ipynb").read_text()
    # With several exercise sets, an unreadable file is known only by its name.
    (d / "corrupt_ex04_vae.ipynb").write_text(good[: len(good) // 2])
    (d / "corrupt.ipynb").write_text(good[: len(good) // 2])
    csv_path, json_path = d.parent / "grades.csv", d.parent / "grades.json"
    out = io.StringIO()
    t0 = time.perf_counter()
    import contextlib

    with contextlib.redirect_stdout(out):
        rc = cli(
            [
                "grade",
                str(d),
                "--csv",
                str(csv_path),
                "--json",
                str(json_path),
                "--timeout",
                str(TIMEOUT),
                "--memory-mb",
                "1500",
                "--jobs",
                "2",
                "-q",
            ]
        )
    seconds = time.perf_counter() - t0
    print(f"\ngraded {len(list(d.glob('*.ipynb')))} submissions in {seconds:.1f} s")
    data = json.loads(json_path.read_text())
    by_name = {s["learner"]: s for s in data["submissions"]}
    pidfile = d.parent / "background.pid"
    return {
        "pid": int(pidfile.read_text()) if pidfile.is_file() else None,
        "rc": rc,
        "stdout": out.getvalue(),
        "csv": csv_path.read_text(),
        "json": data,
        "by": by_name,
        "seconds": seconds,
    }


def _points(sub):
    """Points per function task (the build and prediction tasks have tests of their own)."""
    return {
        t["task"].split(".", 1)[1]: t["points"]
        for t in sub["tasks"]
        if t["task"].split(".", 1)[1] in TASKS
    }


def test_grading_ran_and_finished_in_time(graded):
    assert graded["rc"] == 0
    assert graded["seconds"] < SUITE_LIMIT, graded["seconds"]


def test_every_solution_scores_full_points(graded):
    sols = [s for n, s in graded["by"].items() if n.startswith("solution_")]
    assert sols
    for s in sols:
        assert s["total"] == s["max_points"] > 0, s
        assert all(t["status"] == "passed" for t in s["tasks"])


def test_every_exercise_scores_zero_not_attempted(graded):
    exs = [s for n, s in graded["by"].items() if n.startswith("exercise_")]
    assert exs
    for s in exs:
        assert s["total"] == 0 and s["max_points"] > 0
        assert all(t["reason"].startswith("not attempted") for t in s["tasks"]), s


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_submission_gets_the_right_points_and_reasons(graded, name):
    _, _, lost, reasons = HOSTILE[name]
    sub = graded["by"][name]
    want = {t: (0 if t in lost else 2) for t in TASKS}
    assert _points(sub) == want, sub
    assert sub["max_points"] == FULL  # points come from the pristine exercise, not the file
    for t in sub["tasks"]:
        task = t["task"].split(".", 1)[1]
        if t["points"] < t["max_points"] and task in reasons:
            assert reasons[task] in t["reason"], t


def test_corrupt_file_costs_everything_with_a_reason(graded):
    sub = graded["by"]["corrupt_ex04_vae"]
    assert sub["exercise"] == "ex04_vae" and sub["total"] == 0
    assert all("not a readable notebook" in t["reason"] for t in sub["tasks"])
    # nameless and unreadable: reported, not graded as a guessed exercise
    sub = graded["by"]["corrupt"]
    assert sub["exercise"] is None and not sub["tasks"]
    assert "not a readable notebook" in sub["notes"][0]


def test_terminal_table_and_csv(graded):
    out = graded["stdout"]
    assert "learner" in out and "total" in out and "Lost points:" in out
    assert "19/19" in out and "0/19" in out
    rows = list(csv.DictReader(io.StringIO(graded["csv"])))
    assert {r["learner"] for r in rows} == set(graded["by"])
    wrong = next(r for r in rows if r["learner"] == "wrong_shape")
    assert wrong["ex04.gaussian_kl"] == "0" and wrong["ex04.reparameterize"] == "2"
    assert wrong["total"] == "17" and wrong["max_points"] == "19"
    assert "sum the KL over latent dimensions" in wrong["reasons"]


def test_timing_is_reported(graded):
    for s in graded["json"]["submissions"]:
        assert 0 < s["seconds"] < TIMEOUT + 15
    assert graded["json"]["timeout"] == TIMEOUT


def test_locked_cells_come_from_the_pristine_exercise():
    pristine = load_pristine([ROOT / "exercises"])["ex04_vae"]
    sub = copy.deepcopy(_read(SOLUTION))
    _set(sub, "setup", "import torch\nprint('edited setup')")
    _set(sub, "check_gaussian_kl", "pass")
    _added(sub, "helper = 1", index=3)
    cells = assemble_cells(pristine, sub)
    by_id = {c["id"]: c for c in cells}
    assert by_id["setup"]["source"] == _cell(pristine, "setup").source
    assert "check_gaussian_kl" not in by_id and "demo" not in by_id  # checks are the parent's
    assert by_id["gaussian_kl"]["source"] == _cell(sub, "gaussian_kl").source
    assert [c["origin"] for c in cells][:3] == ["pristine", "added", "submission"]


def test_cli_errors_without_notebooks(tmp_path, capsys):
    assert cli(["grade", str(tmp_path / "missing.ipynb")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_processes_started_by_a_submission_are_ended(graded):
    pid = graded["pid"]
    assert pid is not None, "the background-process submission did not run"
    stat = pathlib.Path(f"/proc/{pid}/stat")
    alive = stat.exists() and stat.read_text().split(")")[-1].split()[0] not in ("Z", "X")
    assert not alive, f"process {pid} started by a submission is still running"


def test_unknown_or_foreign_notebooks_are_reported_not_misgraded(tmp_path):
    from vae_course.grading.runner import Limits, _Reference, grade_submission

    pristine = load_pristine([ROOT / "exercises"])
    other = copy.deepcopy(_read(SOLUTION))
    other.metadata["vae_course"]["exercise"] = "ex99_future"
    nbformat.write(other, tmp_path / "future.ipynb")
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(plain, tmp_path / "plain.ipynb")
    ref = _Reference(0)
    sub = grade_submission(tmp_path / "future.ipynb", "f", pristine, ref, Limits())
    assert sub.exercise is None and not sub.tasks and "ex99_future" in sub.notes[0]
    sub = grade_submission(tmp_path / "plain.ipynb", "p", pristine, ref, Limits())
    assert sub.exercise is None and "not an exercise notebook" in sub.notes[0]


# ----------------------------------------------------------------------------- usage errors
@pytest.mark.parametrize(
    "extra, message",
    [
        (["--timeout", "-5"], "--timeout must be a positive"),
        (["--timeout", "0"], "--timeout must be a positive"),
        (["--timeout", "nan"], "--timeout must be a positive"),
        (["--memory-mb", "-1"], "--memory-mb must be a positive"),
        (["--jobs", "0"], "--jobs must be at least 1"),
        (["--exercises", "NOPE_DIR"], "--exercises folder not found: "),
        (["--csv", "MISSING/sub/g.csv"], "--csv "),
        (["--json", "MISSING/sub/g.json"], "--json "),
    ],
)
def test_cli_usage_errors_are_reported_before_any_grading(tmp_path, capsys, extra, message):
    """Bad arguments end at once with exit code 2 and a message naming the argument;
    nothing is graded first (no progress line), so no grading time is wasted."""
    extra = [e.replace("NOPE_DIR", str(tmp_path / "nope")) for e in extra]
    extra = [e.replace("MISSING", str(tmp_path / "missing")) for e in extra]
    assert cli(["grade", str(SOLUTION), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err, err
    assert "graded " not in err and "Traceback" not in err
    if "--exercises" in extra:
        assert str(tmp_path / "nope") in err  # the folder given, not another one
    if "--csv" in extra or "--json" in extra:
        assert str(tmp_path / "missing" / "sub") in err and "does not exist" in err


def test_cli_names_an_empty_folder_and_a_non_notebook(tmp_path, capsys):
    empty = tmp_path / "hand_ins"
    empty.mkdir()
    assert cli(["grade", str(empty)]) == 2
    err = capsys.readouterr().err
    assert f"no notebooks (*.ipynb) in the folder {empty}" in err
    text = tmp_path / "essay.txt"
    text.write_text("not a notebook")
    assert cli(["grade", str(text)]) == 2
    err = capsys.readouterr().err
    assert f"not a notebook (expected a .ipynb file): {text}" in err and "0/0" not in err


def test_output_files_are_written_atomically(tmp_path, monkeypatch):
    """A failure while writing leaves the previous CSV intact and no temporary file."""
    from vae_course.atomic import atomic_path

    target = tmp_path / "grades.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]


def test_table_is_one_per_exercise_set_with_short_names():
    """Many sets at once: one narrow table per set (short task names), not one 400-wide."""
    from vae_course.grading.runner import Submission, TaskScore, format_table

    def sub(name, ex, tasks):
        scores = [TaskScore(t, t, p, 2.0, "passed" if p else "failed", "") for t, p in tasks]
        return Submission(name, f"{name}.ipynb", ex, scores)

    subs = [
        sub("ann", "ex01_toy", [("ex01.alpha", 2.0), ("ex01.beta", 0.0)]),
        sub("ann2", "ex02_kl", [("ex02.gamma", 2.0)]),
        sub("bob", "ex01_toy", [("ex01.alpha", 0.0), ("ex01.beta", 2.0)]),
    ]
    out = format_table(subs)
    assert "== ex01_toy ==" in out and "== ex02_kl ==" in out
    first, second = out.split("== ex02_kl ==")
    assert "alpha" in first and "gamma" not in first and "gamma" in second
    assert "ex01.alpha" not in out.split("Lost points")[0]  # short names in the headers
    table_lines = [ln for ln in out.splitlines() if not ln.startswith("  ")]
    assert max(map(len, table_lines)) < 60
