"""The exercise notebook format: single source, generated stubs, nbgrader-compatible metadata."""

import ast
import copy
import json
import pathlib

import nbformat
import pytest

from vae_course.cli import main as cli
from vae_course.grading import all_checks
from vae_course.grading.build import (
    BEGIN,
    END,
    NotebookFormatError,
    build_exercise,
    build_exercises,
    dumps,
    graded_tasks,
    nbgrader,
    stub_source,
    validate,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
NBGRADER_REQUIRED = {"grade", "grade_id", "locked", "schema_version", "solution"}


def _read(path):
    return nbformat.read(path, as_version=4)


def _src(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_solution_notebooks_and_matching_exercises():
    assert SOLUTIONS, "no solutions/*.ipynb"
    for sol in SOLUTIONS:
        assert (ROOT / "exercises" / sol.name).is_file(), f"exercises/{sol.name} missing"


def test_exercises_are_up_to_date(tmp_path):
    stale = [
        str(p)
        for p, changed in build_exercises(ROOT / "solutions", ROOT / "exercises", check_only=True)
        if changed
    ]
    assert not stale, f"out of date, run `vae-course build-exercises`: {stale}"


@pytest.mark.parametrize("sol", SOLUTIONS, ids=lambda p: p.name)
def test_solution_notebook_format(sol):
    nb = _read(sol)
    tasks = validate(nb, sol.name)
    assert 3 <= len(tasks) <= 10  # a set has 3-8 graded tasks plus its prediction
    for cell in nb.cells:
        if cell.cell_type == "code":
            meta = nbgrader(cell)
            assert NBGRADER_REQUIRED <= set(meta), cell.source[:60]
            assert set(meta) <= NBGRADER_REQUIRED | {"points", "task"}
    for t in tasks:
        assert t.check_id in all_checks() and t.points > 0


@pytest.mark.parametrize("sol", SOLUTIONS, ids=lambda p: p.name)
def test_exercise_stubs_parse_raise_with_a_hint_and_hide_the_solution(sol):
    solution, exercise = _read(sol), _read(ROOT / "exercises" / sol.name)
    assert len(solution.cells) == len(exercise.cells)
    for s_cell, e_cell in zip(solution.cells, exercise.cells, strict=True):
        assert nbgrader(s_cell) == nbgrader(e_cell)
        if e_cell.cell_type != "code":
            assert e_cell.source == s_cell.source
            continue
        assert e_cell.outputs == [] and e_cell.execution_count is None
        src = _src(e_cell)
        ast.parse(src)  # still parses
        assert BEGIN not in src and END not in src
        if not nbgrader(s_cell).get("solution"):
            assert src == _src(s_cell)
            continue
        inside = _src(s_cell).split(BEGIN, 1)[1].split(END, 1)[0]
        for line in inside.splitlines():
            code = line.strip() and not line.strip().startswith("#")
            if code and any(ch.isalnum() for ch in line):  # a lone ")" is no leak
                assert line not in src.splitlines(), f"solution line leaked: {line}"
        import torch

        setup = {"torch": torch, "nn": torch.nn, "F": torch.nn.functional}  # the setup cell's
        ns = dict(setup)
        exec(compile(src, "<stub>", "exec"), ns)
        name = next(n for n in ns if not n.startswith("__") and n not in setup)
        if not callable(ns[name]):  # a predict-then-run answer: left unset, with its hint
            assert ns[name] is None and src.startswith("# YOUR ANSWER HERE (")
            continue
        if isinstance(ns[name], type):  # a build task: the class's __init__ is the stub
            with pytest.raises(NotImplementedError, match="^Complete __init__: .+"):
                ns[name]()
            continue
        with pytest.raises(NotImplementedError, match=f"^Complete {name}: .+"):
            ns[name](*([None] * ns[name].__code__.co_argcount))


def test_stub_keeps_indentation_and_code_outside_the_region():
    src = (
        "def f(x):\n"
        '    """Doc."""\n'
        "    y = 1\n"
        f"    {BEGIN}\n"
        "    # hint: add y\n"
        "    return x + y\n"
        f"    {END}\n"
    )
    out = stub_source(src)
    assert out.splitlines() == [
        "def f(x):",
        '    """Doc."""',
        "    y = 1",
        "    # YOUR CODE HERE",
        '    raise NotImplementedError("Complete f: add y")',
    ]


def _toy(cells):
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["vae_course"] = {"exercise": "ex99_toy"}
    return nb


def _code(src, **meta):
    c = nbformat.v4.new_code_cell(src)
    base = {"grade": False, "locked": True, "solution": False, "schema_version": 3}
    c.metadata["nbgrader"] = {**base, **meta}
    return c


GOOD_SOLUTION = f"def gaussian_kl(mu, lv):\n    {BEGIN}\n    return 0\n    {END}\n"


def _good():
    return [
        _code("import torch", grade_id="setup"),
        _code(GOOD_SOLUTION, grade_id="kl", solution=True, locked=False),
        _code('check("ex04.gaussian_kl", gaussian_kl)', grade_id="check_kl", grade=True, points=2),
    ]


def test_validate_accepts_a_good_notebook_and_lists_its_tasks():
    tasks = validate(_toy(_good()))
    assert [(t.grade_id, t.check_id, t.function, t.points) for t in tasks] == [
        ("check_kl", "ex04.gaussian_kl", "gaussian_kl", 2.0)
    ]


@pytest.mark.parametrize(
    "breakage, message",
    [
        (
            lambda c: c[1].__setitem__("source", f"def f():\n    {BEGIN}\n    pass\n"),
            "never closed",
        ),
        (lambda c: c[1].__setitem__("source", f"{BEGIN}\n{BEGIN}\n{END}\n{END}"), "nested"),
        (lambda c: c[0].__setitem__("source", f"{BEGIN}\nx = 1\n{END}"), "outside a solution cell"),
        (lambda c: c[1].__setitem__("source", "### BEGIN SOLUTION!\n### END SOLUTION"), "exactly"),
        (lambda c: c[2].metadata.nbgrader.__setitem__("cell_kind", "x"), "may not hold"),
        (lambda c: c[2].metadata.nbgrader.__setitem__("grade_id", "kl"), "used twice"),
        (
            lambda c: c[2].metadata.nbgrader.__setitem__("grade_id", "bad id!"),
            "grade_id must match",
        ),
        (lambda c: c[2].metadata.nbgrader.pop("points"), "points"),
        (lambda c: c[2].metadata.nbgrader.__setitem__("locked", False), "locked"),
        (
            lambda c: c[2].__setitem__("source", "check('ex04.gaussian_kl', gaussian_kl); x = 1"),
            "exactly",
        ),
        (
            lambda c: c[2].__setitem__("source", 'check("ex04.nope", gaussian_kl)'),
            "no check called",
        ),
        (
            lambda c: c[2].__setitem__("source", 'check("ex04.reparameterize", gaussian_kl)'),
            "tests a function called",
        ),
        (lambda c: c[0].metadata.pop("nbgrader"), "need nbgrader metadata"),
        (lambda c: c[1].__setitem__("source", "def gaussian_kl(mu, lv):\n    return 0"), "without"),
    ],
)
def test_validate_rejects_broken_notebooks(breakage, message):
    cells = copy.deepcopy(_good())
    breakage(cells)
    with pytest.raises(NotebookFormatError, match=message):
        validate(_toy(cells))


def test_validate_needs_the_exercise_id():
    nb = _toy(_good())
    del nb.metadata["vae_course"]
    with pytest.raises(NotebookFormatError, match="exercise"):
        validate(nb)


def test_build_is_deterministic_and_cli_check_reports_stale_files(tmp_path, capsys):
    sol_dir, ex_dir = tmp_path / "solutions", tmp_path / "exercises"
    sol_dir.mkdir()
    nbformat.write(_toy(_good()), sol_dir / "ex99_toy.ipynb")
    assert cli(["build-exercises", str(sol_dir), "-o", str(ex_dir), "--check"]) == 1
    assert "out of date" in capsys.readouterr().out
    assert cli(["build-exercises", str(sol_dir), "-o", str(ex_dir)]) == 0
    first = (ex_dir / "ex99_toy.ipynb").read_text()
    assert cli(["build-exercises", str(sol_dir), "-o", str(ex_dir), "--check"]) == 0
    assert first == dumps(build_exercise(_read(sol_dir / "ex99_toy.ipynb")))
    nb = json.loads(first)
    assert "raise NotImplementedError" in "".join(nb["cells"][1]["source"])
    # editing the solution makes the exercise stale
    changed = _toy(_good())
    changed.cells[0].source = "import torch  # changed"
    nbformat.write(changed, sol_dir / "ex99_toy.ipynb")
    assert cli(["build-exercises", str(sol_dir), "-o", str(ex_dir), "--check"]) == 1


def test_graded_tasks_come_from_check_cells_of_the_exercise():
    nb = _read(ROOT / "exercises" / "ex04_vae.ipynb")
    tasks = [
        t for t in graded_tasks(nb) if t.function[0].islower() and "prediction" not in t.function
    ]
    assert [t.function for t in tasks] == [
        "reparameterize",
        "gaussian_kl",
        "bernoulli_log_likelihood",
        "vae_loss",
        "train_step",
        "sample_prior",
        "optimal_decoder_logvar",
    ]
    assert sum(t.points for t in tasks) == 14


@pytest.mark.slow
def test_exercise_notebooks_run_without_crashing_and_say_not_attempted(tmp_path):
    from nbclient import NotebookClient

    for path in sorted((ROOT / "exercises").glob("*.ipynb")):
        nb = _read(path)
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
        check_outputs = [
            "".join(o.get("text", "") for o in c.outputs)
            for c in nb.cells
            if c.cell_type == "code" and nbgrader(c).get("grade")
        ]
        assert check_outputs and all("✗" in o and "not attempted" in o for o in check_outputs), (
            check_outputs
        )
