"""The exercise notebook format, and ``vae-course build-exercises``.

``solutions/exNN_topic.ipynb`` is the single source. This module validates it (markers,
nbgrader metadata, check cells) and writes the learner's version to
``exercises/exNN_topic.ipynb``: every region between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` becomes a stub that still parses::

    # YOUR CODE HERE
    raise NotImplementedError("<the region's '# hint:' line>")

and all outputs and execution counts are cleared. The same module tells the grader
which tasks a notebook has (:func:`graded_tasks`) from its check cells.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BEGIN",
    "END",
    "NotebookFormatError",
    "Task",
    "exercise_id",
    "nbgrader",
    "graded_tasks",
    "validate",
    "stub_source",
    "build_exercise",
    "build_exercises",
    "dumps",
]

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HIDDEN = "### BEGIN HIDDEN TESTS"
GRADE_ID_RE = re.compile(r"^[a-zA-Z0-9_\-]+$")
CHECK_RE = re.compile(r"""^check\(\s*["']([\w.\-]+)["']\s*,\s*([A-Za-z_]\w*)\s*\)\s*;?$""")
DEF_RE = re.compile(r"^\s*def\s+([A-Za-z_]\w*)\s*\(")
HINT_RE = re.compile(r"^\s*#\s*hint:\s*(.+?)\s*$", re.IGNORECASE)
#: a top-level solution region that only assigns a value: a predict-then-run answer
VALUE_RE = re.compile(r"^([A-Za-z_]\w*)\s*=\s*\S")
NBGRADER_KEYS = {"grade", "grade_id", "locked", "points", "schema_version", "solution", "task"}
DEFAULT_HINT = "Complete this part of the exercise (its contract is in the docstring)"


class NotebookFormatError(ValueError):
    """A solution or exercise notebook breaks the format; the message names the cell."""


@dataclass(frozen=True)
class Task:
    """One graded task of an exercise notebook, read from its check cell."""

    grade_id: str  # the check cell's nbgrader grade_id
    check_id: str  # registry id, e.g. "ex04.gaussian_kl"
    function: str  # name of the learner's function
    points: float


def nbgrader(cell) -> dict:
    """The cell's nbgrader metadata ({} if none)."""
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def exercise_id(nb) -> str | None:
    """``metadata["vae_course"]["exercise"]`` (e.g. ``"ex04_vae"``), or None."""
    meta = nb.get("metadata", {}).get("vae_course")
    if isinstance(meta, dict) and isinstance(meta.get("exercise"), str):
        return meta["exercise"]
    return None


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _where(cell, index: int) -> str:
    gid = nbgrader(cell).get("grade_id")
    return f"cell {index}" + (f" ({gid})" if gid else "")


def graded_tasks(nb) -> list[Task]:
    """The graded tasks of a notebook, in order: one per check cell (nbgrader ``grade``)."""
    tasks = []
    for i, cell in enumerate(nb.get("cells", [])):
        meta = nbgrader(cell)
        if cell.get("cell_type") != "code" or not meta.get("grade"):
            continue
        m = CHECK_RE.match(_source(cell).strip())
        if not m:
            raise NotebookFormatError(
                f'{_where(cell, i)}: a grade cell must be exactly check("exNN.task", function_name)'
            )
        tasks.append(
            Task(meta.get("grade_id", ""), m.group(1), m.group(2), float(meta.get("points", 0)))
        )
    return tasks


def _regions(src: str, where: str) -> list[tuple[int, int]]:
    """(begin, end) line numbers of the solution regions; errors for bad nesting."""
    regions, start = [], None
    for n, line in enumerate(src.splitlines()):
        s = line.strip()
        if s == BEGIN:
            if start is not None:
                raise NotebookFormatError(f"{where}: nested {BEGIN} (line {n + 1})")
            start = n
        elif s == END:
            if start is None:
                raise NotebookFormatError(f"{where}: {END} without {BEGIN} (line {n + 1})")
            regions.append((start, n))
            start = None
        elif "BEGIN SOLUTION" in s or "END SOLUTION" in s:
            raise NotebookFormatError(
                f"{where}: write the marker exactly as '{BEGIN}' / '{END}' (line {n + 1})"
            )
    if start is not None:
        raise NotebookFormatError(f"{where}: {BEGIN} (line {start + 1}) is never closed")
    return regions


def validate(nb, name: str = "notebook") -> list[Task]:
    """Check a solution notebook's format; return its tasks or raise NotebookFormatError."""
    from .checks import get_check

    if exercise_id(nb) is None:
        raise NotebookFormatError(
            f'{name}: set metadata["vae_course"]["exercise"] (e.g. "ex04_vae")'
        )
    seen: set[str] = set()
    for i, cell in enumerate(nb.get("cells", [])):
        where = f"{name}, {_where(cell, i)}"
        meta = nbgrader(cell)
        src = _source(cell)
        if meta:
            extra = set(meta) - NBGRADER_KEYS
            if extra:
                raise NotebookFormatError(
                    f"{where}: nbgrader metadata may not hold {sorted(extra)} "
                    '(put course data in metadata["vae_course"])'
                )
            for key in ("grade", "locked", "solution"):
                if not isinstance(meta.get(key), bool):
                    raise NotebookFormatError(f"{where}: nbgrader '{key}' must be true or false")
            if meta.get("schema_version") != 3:
                raise NotebookFormatError(f"{where}: nbgrader schema_version must be 3")
            gid = meta.get("grade_id")
            if not isinstance(gid, str) or not GRADE_ID_RE.match(gid):
                raise NotebookFormatError(f"{where}: grade_id must match {GRADE_ID_RE.pattern}")
            if gid in seen:
                raise NotebookFormatError(f"{where}: grade_id {gid!r} is used twice")
            seen.add(gid)
            if meta["grade"]:
                pts = meta.get("points")
                if not isinstance(pts, (int, float)) or isinstance(pts, bool) or pts < 0:
                    raise NotebookFormatError(f"{where}: a grade cell needs points >= 0")
                if not meta["locked"]:
                    raise NotebookFormatError(f"{where}: check cells must be locked")
        elif cell.get("cell_type") == "code":
            raise NotebookFormatError(f"{where}: code cells need nbgrader metadata")
        regions = _regions(src, where)
        if regions and not meta.get("solution"):
            raise NotebookFormatError(f"{where}: solution markers outside a solution cell")
        if meta.get("solution") and cell.get("cell_type") == "code" and not regions:
            raise NotebookFormatError(f"{where}: a solution cell without {BEGIN} ... {END}")
        if HIDDEN in src:
            raise NotebookFormatError(
                f"{where}: hidden tests are not used: the checks live in vae_course.grading"
            )
    tasks = graded_tasks(nb)
    if not tasks:
        raise NotebookFormatError(f"{name}: no check cells (nbgrader grade: true)")
    for t in tasks:
        try:
            chk = get_check(t.check_id)
        except KeyError as exc:
            raise NotebookFormatError(f"{name}, {t.grade_id}: {exc.args[0]}") from None
        if chk.function != t.function:
            raise NotebookFormatError(
                f"{name}, {t.grade_id}: check {t.check_id} tests a function called "
                f"{chk.function!r}, not {t.function!r}"
            )
    return tasks


def stub_source(src: str, where: str = "cell") -> str:
    """Replace each solution region of ``src`` by a stub raising NotImplementedError(hint).

    A top-level region that only assigns a value (``prediction = "falls"``: a
    predict-then-run answer) becomes ``prediction = None`` under a ``# YOUR ANSWER HERE``
    line instead, so the exercise runs and its check says "not set yet".
    """
    lines = src.splitlines()
    regions = _regions(src, where)
    if not regions:
        return src
    out: list[str] = []
    pos = 0
    for begin, end in regions:
        out.extend(lines[pos:begin])
        indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
        hint = DEFAULT_HINT
        for before in reversed(lines[:begin]):
            m = DEF_RE.match(before)
            if m:
                hint = f"Complete {m.group(1)}"
                break
        for inner in lines[begin + 1 : end]:
            if inner.strip():
                m = HINT_RE.match(inner)
                if m:
                    hint = f"{hint}: {m.group(1)}" if hint != DEFAULT_HINT else m.group(1)
                break
        body = [ln for ln in lines[begin + 1 : end] if ln.strip() and not HINT_RE.match(ln)]
        value = VALUE_RE.match(body[0]) if len(body) == 1 and not indent else None
        if value:  # a predict-then-run answer: the stub leaves the variable unset
            out.append(f"# YOUR ANSWER HERE ({hint})")
            out.append(f"{value.group(1)} = None")
            pos = end + 1
            continue
        out.append(f"{indent}# YOUR CODE HERE")
        literal = json.dumps(hint, ensure_ascii=False)
        one_line = f"{indent}raise NotImplementedError({literal})"
        if len(one_line) <= 100:
            out.append(one_line)
        else:  # the layout ruff format gives a long call, so exercises stay format-clean
            out += [f"{indent}raise NotImplementedError(", f"{indent}    {literal}", f"{indent})"]
        pos = end + 1
    out.extend(lines[pos:])
    return "\n".join(out)


def build_exercise(solution_nb, name: str = "notebook"):
    """The learner's version of a (validated) solution notebook, as a new notebook."""
    validate(solution_nb, name)
    nb = copy.deepcopy(solution_nb)
    for i, cell in enumerate(nb["cells"]):
        cell.get("metadata", {}).pop("execution", None)
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
            if nbgrader(cell).get("solution"):
                cell["source"] = stub_source(_source(cell), f"{name}, {_where(cell, i)}")
    nb["metadata"].pop("widgets", None)
    return nb


def dumps(nb) -> str:
    """Serialise a notebook the way nbformat writes it (stable, for up-to-date checks)."""
    import nbformat

    text = nbformat.writes(nbformat.from_dict(nb))
    return text if text.endswith("\n") else text + "\n"


def build_exercises(
    solutions: str | Path = "solutions",
    exercises: str | Path = "exercises",
    *,
    check_only: bool = False,
) -> list[tuple[Path, bool]]:
    """Write ``exercises/X.ipynb`` for every ``solutions/X.ipynb``.

    Returns ``[(exercise_path, changed)]``. With ``check_only`` nothing is written:
    ``changed`` says which files are missing or out of date.
    """
    import nbformat

    solutions, exercises = Path(solutions), Path(exercises)
    paths = sorted(solutions.glob("*.ipynb")) if solutions.is_dir() else [solutions]
    if not paths:
        raise NotebookFormatError(f"no solution notebooks in {solutions}")
    results = []
    for src in paths:
        nb = nbformat.read(src, as_version=4)
        text = dumps(build_exercise(nb, src.name))
        dst = exercises / src.name
        changed = not dst.is_file() or dst.read_text(encoding="utf-8") != text
        if changed and not check_only:
            exercises.mkdir(parents=True, exist_ok=True)
            dst.write_text(text, encoding="utf-8")
        results.append((dst, changed))
    return results
