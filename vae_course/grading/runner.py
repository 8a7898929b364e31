"""``vae-course grade``: grade submitted exercise notebooks, safely, into a table.

Trust model. The parent (this module) holds the check inputs, the references and the
comparison logic. For each submission it starts a child process
(:mod:`vae_course.grading._child`) with a wall-time limit and a memory limit, which runs

* the learner's **solution cells** (and any extra cells they added), taken from the
  submission, and
* the **locked cells from the pristine exercise notebook**, never the submission's copies
  (check cells are not run at all: the parent does the checking),

then calls the learner's functions on inputs the parent sent and writes back what they
returned. The parent compares. Printing "passed", editing or deleting a check cell,
redefining ``check`` or patching ``vae_course.grading`` inside the notebook can only
change the learner's own outputs, never the comparison.

A crash, syntax error, infinite loop, memory bomb, missing function or corrupt file costs
only the cells/tasks it touches: a child that dies is restarted without the cell or task
that killed it, and grading always ends with a table.

Grading untrusted code on your own account is still risky (a submission can read your
files or kill processes): run the grader inside a container or VM.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .build import NotebookFormatError, Task, exercise_id, graded_tasks, nbgrader
from .checks import NOT_ATTEMPTED, Case, CheckResult, get_check, judge

__all__ = [
    "Limits",
    "TaskScore",
    "Submission",
    "find_notebooks",
    "load_pristine",
    "grade_paths",
    "format_table",
    "to_csv",
    "to_json",
]

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
MAX_RESULT_BYTES = 32 * 1024 * 1024


@dataclass
class Limits:
    """Per-submission limits. ``timeout``: wall seconds for the whole submission;
    a single cell or a single task's function calls get ``timeout / 4`` each."""

    timeout: float = 60.0
    memory_mb: int = 2048
    threads: int = 1

    @property
    def stage_seconds(self) -> float:
        return max(2.0, self.timeout / 4)


@dataclass
class TaskScore:
    task: str  # check id, e.g. "ex04.gaussian_kl"
    grade_id: str
    points: float
    max_points: float
    status: str  # passed | failed | not attempted | error
    reason: str = ""


@dataclass
class Submission:
    learner: str
    file: str
    exercise: str | None
    tasks: list[TaskScore] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        return sum(t.points for t in self.tasks)

    @property
    def max_points(self) -> float:
        return sum(t.max_points for t in self.tasks)


# ----------------------------------------------------------------------------- inputs
def find_notebooks(paths: list[str | os.PathLike]) -> list[Path]:
    """Notebook files named in ``paths`` (files, or folders searched recursively)."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            here = sorted(q for q in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in q.parts)
            if not here:
                raise FileNotFoundError(f"no notebooks (*.ipynb) in the folder {p}")
            found += here
        elif p.is_file():
            if p.suffix != ".ipynb":
                raise FileNotFoundError(f"not a notebook (expected a .ipynb file): {p}")
            found.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    seen, unique = set(), []
    for f in found:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _learner_names(files: list[Path]) -> list[str]:
    """Name each learner by file stem; disambiguate repeated stems with their folders."""
    names = [f.stem for f in files]
    for depth in range(1, 8):
        dup = {n for n in names if names.count(n) > 1}
        if not dup:
            break
        names = [
            "/".join((*f.parent.parts[-depth:], f.stem)) if n in dup else n
            for f, n in zip(files, names, strict=True)
        ]
    return names


def load_pristine(dirs: list[str | os.PathLike] | None = None) -> dict[str, dict]:
    """Pristine exercise notebooks by exercise id, from the first folder holding each.

    Default folders: ``./exercises`` then the course checkout's ``exercises/``.
    """
    import nbformat

    if dirs is None:
        dirs = [Path.cwd() / "exercises", PACKAGE_ROOT / "exercises"]
    pristine: dict[str, dict] = {}
    for d in map(Path, dirs):
        for f in sorted(d.glob("*.ipynb")) if d.is_dir() else []:
            nb = nbformat.read(f, as_version=4)
            ex = exercise_id(nb)
            if ex and ex not in pristine:
                pristine[ex] = nb
    return pristine


def _read_submission(path: Path):
    import nbformat

    raw = path.read_bytes()
    if len(raw) > 50 * 1024 * 1024:
        raise ValueError(f"file too large ({len(raw) // 2**20} MB)")
    data = json.loads(raw.decode("utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError("not a Jupyter notebook (no list of cells)")
    return nbformat.reads(json.dumps(data), as_version=4)


def _task_ids(nb) -> set[str]:
    """grade_ids of solution and check cells (setup-like ids are shared across exercises)."""
    return {
        nbgrader(c)["grade_id"]
        for c in nb.get("cells", [])
        if (nbgrader(c).get("solution") or nbgrader(c).get("grade")) and nbgrader(c).get("grade_id")
    }


def _identify(nb, path: Path, pristine: dict[str, dict]) -> str | None:
    """Which exercise a submission is: its metadata, else its task cells, else its name."""
    if nb is not None:
        declared = exercise_id(nb)
        if declared is not None:
            return declared if declared in pristine else None
        ids = _task_ids(nb)
        scores = {e: len(ids & _task_ids(p)) for e, p in pristine.items()}
        best = max(scores, key=scores.get, default=None)
        if best is not None and scores[best] > 0:
            return best
    for ex in pristine:
        if ex in path.name:
            return ex
    return next(iter(pristine)) if len(pristine) == 1 and nb is None else None


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def assemble_cells(pristine, submission) -> list[dict]:
    """The code the child runs, in the submission's order.

    Cells whose grade_id names a pristine solution cell: the submission's source.
    Pristine locked cells: the pristine source (at the first cell claiming that grade_id,
    or, if deleted, where they stood relative to the other pristine cells). Check cells
    and cells marked ``skip_in_grader``: not run. Cells the learner added: run as written.
    """
    pcells = {}
    for i, c in enumerate(pristine.cells):
        gid = nbgrader(c).get("grade_id")
        if c.cell_type == "code" and gid:
            pcells[gid] = (i, c)

    def runs(c) -> bool:
        meta = nbgrader(c)
        skip = (c.get("metadata", {}).get("vae_course") or {}).get("skip_in_grader")
        return not meta.get("grade") and not skip

    seq: list[tuple[int | None, dict]] = []  # (pristine index or None, cell spec)
    used: set[str] = set()
    for j, c in enumerate(submission.cells if submission is not None else []):
        if c.get("cell_type") != "code":
            continue
        gid = nbgrader(c).get("grade_id")
        if gid in pcells:
            i, pc = pcells[gid]
            if not runs(pc):
                continue
            if nbgrader(pc).get("solution"):
                seq.append((i, {"id": f"{gid}", "source": _source(c), "origin": "submission"}))
                used.add(gid)
            elif gid not in used:
                seq.append((i, {"id": gid, "source": _source(pc), "origin": "pristine"}))
                used.add(gid)
        else:
            seq.append((None, {"id": f"added-{j}", "source": _source(c), "origin": "added"}))
    for gid, (i, pc) in sorted(pcells.items(), key=lambda kv: kv[1][0]):
        if gid in used or not runs(pc):
            continue
        # deleted by the learner: the pristine cell (a stub, for solution cells) goes back
        pos = next((k for k, (pi, _) in enumerate(seq) if pi is not None and pi > i), len(seq))
        seq.insert(pos, (i, {"id": gid, "source": _source(pc), "origin": "pristine"}))
    ids: dict[str, int] = {}
    out = []
    for _, spec in seq:  # make ids unique (a solution cell pasted twice)
        n = ids.get(spec["id"], 0)
        ids[spec["id"]] = n + 1
        if n:
            spec = {**spec, "id": f"{spec['id']}#{n + 1}"}
        out.append(spec)
    return out


# ----------------------------------------------------------------------------- references
class _Reference:
    """Cases and expected values per check, computed once (before threads start)."""

    def __init__(self, seed: int):
        self.seed = seed
        self._cache: dict[str, tuple[list[Case], list]] = {}
        self._lock = threading.Lock()

    def get(self, check_id: str) -> tuple[list[Case], list]:
        with self._lock:
            if check_id not in self._cache:
                chk = get_check(check_id)
                cases = chk.cases(self.seed)
                self._cache[check_id] = (cases, [chk.reference(c) for c in cases])
            return self._cache[check_id]


# ----------------------------------------------------------------------------- one submission
def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "OMP_NUM_THREADS": str(threads),
            "MKL_NUM_THREADS": str(threads),
            "VAE_COURSE_DEVICE": os.environ.get("VAE_COURSE_GRADE_DEVICE", "cpu"),
            "MPLBACKEND": "Agg",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    return env


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()


def _progress(path: Path) -> list[tuple[str, str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    return [tuple(ln.split(" ", 1)) for ln in text.splitlines() if " " in ln]


def _run_child(jobdir: Path, job: dict, limits: Limits, deadline: float) -> tuple[str, str | None]:
    """Run the child once; return (how it ended, the stage it was in if it didn't finish).

    Ends: "finished", "timeout" (the stage ran past its limit, or the budget ran out),
    "crashed: ..." (died by itself).
    """
    (jobdir / "job.json").write_text(json.dumps(job), encoding="utf-8")
    prog = jobdir / "progress"
    prog.write_text("", encoding="utf-8")
    with open(jobdir / "stdout.txt", "ab") as out, open(jobdir / "stderr.txt", "ab") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "vae_course.grading._child", str(jobdir)],
            cwd=jobdir,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=_child_env(limits.threads),
            start_new_session=True,
        )
        last, since = None, time.monotonic()
        try:
            while True:
                rc = proc.poll()
                marks = _progress(prog)
                now = time.monotonic()
                cur = marks[-1] if marks else None
                if cur != last:
                    last, since = cur, now
                stage = None
                if cur and cur[0] in ("cell", "task"):
                    stage = f"{cur[0]} {cur[1]}"
                if rc is not None:
                    if cur and cur[0] == "end":
                        return "finished", None
                    how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
                    return f"crashed ({how})", stage
                stage_limit = limits.stage_seconds + 3.0
                if now > deadline or (stage and now - since > stage_limit):
                    _kill(proc)
                    return "timeout", stage
                time.sleep(0.05)
        finally:
            _kill(proc)  # also ends anything the learner's code started in its session


def _load_result(path: Path):
    import torch

    if not path.is_file():
        return None
    if path.stat().st_size > MAX_RESULT_BYTES:
        return {"results": [], "unsaved": "the outputs were too large"}
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        return {"results": [], "unsaved": f"the outputs could not be read ({type(exc).__name__})"}
    return data if isinstance(data, dict) else {"results": [], "unsaved": "malformed outputs"}


def _cell_note(cell_errors: dict[str, str], cells: list[dict], function: str) -> str:
    for c in cells:
        if c["id"] in cell_errors and f"def {function}" in c["source"]:
            return f" (its cell {c['id']} failed: {cell_errors[c['id']]})"
    return ""


def grade_submission(
    path: Path, learner: str, pristine: dict[str, dict], ref: _Reference, limits: Limits
) -> Submission:
    """Grade one notebook in its own child process (restarted if it dies)."""
    import torch

    t0 = time.monotonic()
    sub = Submission(learner=learner, file=str(path), exercise=None)
    nb, load_error = None, None
    try:
        nb = _read_submission(path)
    except json.JSONDecodeError as exc:
        load_error = (
            f"not a readable notebook: invalid JSON (line {exc.lineno}, column {exc.colno})"
        )
    except Exception as exc:
        load_error = f"not a readable notebook ({type(exc).__name__}: {exc})"[:200]
    ex = _identify(nb, path, pristine)
    sub.exercise = ex
    if ex is None:
        declared = exercise_id(nb) if nb is not None else None
        sub.notes.append(
            load_error
            or (
                f"exercise {declared!r} has no pristine notebook (see --exercises)"
                if declared
                else "not an exercise notebook of this course"
            )
        )
        sub.seconds = time.monotonic() - t0
        return sub
    tasks: list[Task] = graded_tasks(pristine[ex])

    def score(task: Task, result: CheckResult | None, reason: str = "", status: str = "failed"):
        pts = 0.0
        if result is not None:
            status, reason, pts = result.status, result.message, result.points
        if status == NOT_ATTEMPTED:
            reason = f"{NOT_ATTEMPTED}: {reason}"
        sub.tasks.append(TaskScore(task.check_id, task.grade_id, pts, task.points, status, reason))

    if load_error:
        sub.notes.append(load_error)
        for t in tasks:
            score(t, None, load_error)
        sub.seconds = time.monotonic() - t0
        return sub

    cells = assemble_cells(pristine[ex], nb)
    results: dict[str, dict | str] = {}
    cell_errors: dict[str, str] = {}
    deadline = t0 + limits.timeout
    with tempfile.TemporaryDirectory(prefix="vae-grade-") as tmp:
        jobdir = Path(tmp)
        torch.save(
            {
                t.check_id: [{"name": c.name, "inputs": c.inputs} for c in ref.get(t.check_id)[0]]
                for t in tasks
            },
            jobdir / "cases.pt",
        )
        skip_cells: list[str] = []
        remaining = list(tasks)
        for _attempt in range(len(cells) + len(tasks) + 1):
            if not remaining:
                break
            if time.monotonic() >= deadline:
                for t in remaining:
                    results[t.grade_id] = (
                        f"not graded: the submission used up its {limits.timeout:g} s time limit"
                    )
                break
            job = {
                "cells": cells,
                "tasks": [
                    {"grade_id": t.grade_id, "check": t.check_id, "function": t.function}
                    for t in remaining
                ],
                "skip_cells": skip_cells,
                "memory_mb": limits.memory_mb,
                "cell_seconds": limits.stage_seconds,
                "task_seconds": limits.stage_seconds,
                "threads": limits.threads,
            }
            ended, stage = _run_child(jobdir, job, limits, deadline)
            cells_file = jobdir / "results" / "_cells.json"
            if cells_file.is_file():
                try:
                    cell_errors.update(json.loads(cells_file.read_text(encoding="utf-8")))
                except ValueError:
                    pass
            for t in list(remaining):
                done = jobdir / "results" / f"{t.grade_id}.pt"
                if done.is_file() and ("done", t.grade_id) in _progress(jobdir / "progress"):
                    results[t.grade_id] = _load_result(done)
                    remaining.remove(t)
                    done.unlink()
            if ended == "finished":
                break
            why = (
                f"was stopped after running out of time ({limits.stage_seconds:g} s per "
                "cell/task; an infinite loop?)"
                if ended == "timeout"
                else f"crashed the Python process ({ended.split('(', 1)[-1].rstrip(')')}; "
                "out of memory, or os._exit?)"
            )
            if stage and stage.startswith("cell "):
                cid = stage.split(" ", 1)[1]
                skip_cells.append(cid)
                cell_errors[cid] = why
            elif stage and stage.startswith("task "):
                gid = stage.split(" ", 1)[1]
                results[gid] = f"calling the function {why}"
                remaining = [t for t in remaining if t.grade_id != gid]
            else:
                lines = (jobdir / "stderr.txt").read_text(errors="replace").strip().splitlines()
                note = lines[-1][:200] if lines else ended
                for t in remaining:
                    results[t.grade_id] = (
                        f"the grading process could not start ({note}); is the memory "
                        "limit too low?"
                    )
                break
    for cid, err in cell_errors.items():
        sub.notes.append(f"cell {cid}: {err}")
    for t in tasks:
        res = results.get(t.grade_id)
        chk = get_check(t.check_id)
        cases, expected = ref.get(t.check_id)
        if isinstance(res, str):
            score(t, None, res)
        elif res is None:
            score(t, None, "no result (the grading process ended early)")
        elif res.get("missing"):
            if chk.value_task:  # a predict-then-run answer left as None (or deleted)
                score(t, None, f"answer {t.function} is not set", status=NOT_ATTEMPTED)
            else:
                score(
                    t,
                    None,
                    f"function {t.function} is not defined"
                    + _cell_note(cell_errors, cells, t.function),
                )
        elif "unsaved" in res:
            score(t, None, str(res["unsaved"])[:200])
        else:
            got = [r if isinstance(r, dict) else None for r in res.get("results", [])]
            got = got[: len(cases)]
            if got and got[-1] and "took longer" in str(got[-1].get("error", "")):
                cases, expected = cases[: len(got)], expected[: len(got)]  # stopped there
            got += [None] * (len(cases) - len(got))
            score(t, judge(chk, cases, got, expected, t.points))
    sub.seconds = time.monotonic() - t0
    return sub


# ----------------------------------------------------------------------------- many
def grade_paths(
    paths: list[str | os.PathLike],
    *,
    limits: Limits | None = None,
    exercises: list[str | os.PathLike] | None = None,
    seed: int | None = None,
    jobs: int | None = None,
    progress=None,
) -> tuple[list[Submission], int]:
    """Grade every notebook under ``paths``; return (submissions in order, seed used)."""
    limits = limits or Limits()
    files = find_notebooks(paths)
    for d in map(Path, exercises or []):
        if not d.is_dir():
            raise FileNotFoundError(f"exercises folder not found: {d} (from --exercises)")
    pristine = load_pristine(exercises)
    if not pristine:
        raise NotebookFormatError(
            "no pristine exercise notebooks found (looked in ./exercises and the course's "
            "exercises/); pass --exercises DIR"
        )
    if seed is None:
        seed = int.from_bytes(os.urandom(4), "little") % (2**31)
    ref = _Reference(seed)
    for nb in pristine.values():  # compute references up front, single-threaded
        for t in graded_tasks(nb):
            ref.get(t.check_id)
    names = _learner_names(files)
    jobs = max(1, min(jobs or (os.cpu_count() or 1), len(files) or 1))

    def one(args):
        f, name = args
        try:
            res = grade_submission(f, name, pristine, ref, limits)
        except Exception as exc:  # a bug of ours must not lose the other learners
            res = Submission(name, str(f), None, notes=[f"grader error: {exc!r}"[:300]])
        if progress:
            progress(res)
        return res

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        subs = list(pool.map(one, zip(files, names, strict=True)))
    return subs, seed


# ----------------------------------------------------------------------------- reports
def _short_name(task: str, all_tasks: list[str]) -> str:
    exs = {t.split(".", 1)[0] for t in all_tasks}
    return task.split(".", 1)[1] if len(exs) == 1 else task


def _columns(subs: list[Submission]) -> list[str]:
    cols: list[str] = []
    for s in subs:
        for t in s.tasks:
            if t.task not in cols:
                cols.append(t.task)
    return cols


def _pts(x: float) -> str:
    return f"{x:g}"


def format_table(subs: list[Submission]) -> str:
    """The terminal tables: one per exercise set (points per task with short task names,
    and the total), then a reason for every lost point.

    One table per set keeps the terminal readable when a class hands in many sets at once
    (CSV and JSON keep every column in one file)."""
    groups: dict[str, list[Submission]] = {}
    for s in subs:
        groups.setdefault(s.exercise or "", []).append(s)
    if len(groups) == 1:
        return _format_one(subs)
    parts = []
    for ex in sorted(groups, key=lambda e: (e == "", e)):
        title = ex or "not identified as an exercise set"
        parts.append(f"== {title} ==\n" + _format_one(groups[ex]))
    return "\n\n".join(parts)


def _format_one(subs: list[Submission]) -> str:
    cols = _columns(subs)
    heads = ["learner"] + [_short_name(c, cols) for c in cols] + ["total"]
    rows = []
    for s in subs:
        by = {t.task: t for t in s.tasks}
        row = [s.learner]
        for c in cols:
            t = by.get(c)
            row.append("-" if t is None else f"{_pts(t.points)}/{_pts(t.max_points)}")
        row.append(f"{_pts(s.total)}/{_pts(s.max_points)}")
        rows.append(row)
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]

    def line(r):
        return "  ".join(
            (v.ljust(w) if i == 0 else v.rjust(w))
            for i, (v, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()

    out = [line(heads), line(["-" * w for w in widths])] + [line(r) for r in rows]
    lost = []
    for s in subs:
        reasons = {t.reason for t in s.tasks}
        if len(s.tasks) > 1 and len(reasons) == 1 and s.total == 0:
            lost.append(f"  {s.learner} · every task (-{_pts(s.max_points)}): {reasons.pop()}")
            continue
        if len(s.tasks) > 1 and all(t.status == "not attempted" for t in s.tasks):
            lost.append(
                f"  {s.learner} · every task (-{_pts(s.max_points)}): not attempted "
                "(every function still raises NotImplementedError, every answer is unset)"
            )
            continue
        for t in s.tasks:
            if t.points < t.max_points:
                lost.append(
                    f"  {s.learner} · {_short_name(t.task, cols)} "
                    f"(-{_pts(t.max_points - t.points)}): {t.reason or t.status}"
                )
        if not s.tasks:
            lost.append(f"  {s.learner}: {'; '.join(s.notes) or 'nothing to grade'}")
    if lost:
        out += ["", "Lost points:"] + lost
    return "\n".join(out)


def to_csv(subs: list[Submission]) -> str:
    """One row per learner: a column per task (points), total, max, and the reasons."""
    cols = _columns(subs)
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["learner", "file", "exercise", *cols, "total", "max_points", "seconds", "reasons"])
    for s in subs:
        by = {t.task: t for t in s.tasks}
        reasons = [
            f"{t.task}: {t.reason or t.status}" for t in s.tasks if t.points < t.max_points
        ] or ([] if s.tasks else s.notes)
        w.writerow(
            [
                s.learner,
                s.file,
                s.exercise or "",
                *[_pts(by[c].points) if c in by else "" for c in cols],
                _pts(s.total),
                _pts(s.max_points),
                f"{s.seconds:.1f}",
                " | ".join(reasons),
            ]
        )
    return buf.getvalue()


def to_json(subs: list[Submission], **meta) -> str:
    """Everything, for scripts: per learner, per task points, status and reason."""
    return json.dumps(
        {
            **meta,
            "submissions": [
                {
                    **{k: v for k, v in asdict(s).items() if k != "tasks"},
                    "total": s.total,
                    "max_points": s.max_points,
                    "tasks": [asdict(t) for t in s.tasks],
                }
                for s in subs
            ],
        },
        indent=2,
        ensure_ascii=False,
    )
