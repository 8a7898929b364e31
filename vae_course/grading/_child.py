"""The grading child: runs ONE submission's code under limits, and reports raw outputs.

``python -m vae_course.grading._child JOBDIR`` is started by
:mod:`vae_course.grading.runner`, one process per submission (and again, without the
cell or task that killed it, if it dies). It

1. limits its own address space, file sizes and core dumps (``resource.setrlimit``);
2. executes the prepared cells (the learner's solution cells, the pristine locked cells)
   one by one, each under a time limit, recording errors instead of stopping;
3. calls each graded function on the inputs the parent prepared (``cases.pt``) and saves
   what came back, described as plain data (``results/<grade_id>.pt``).

It never judges anything and never sees the expected values: the parent compares.
Progress lines (``cell ID`` / ``task ID`` / ``done ID``) let the parent tell which cell
or task was running when the process had to be killed.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import resource
import signal
import sys
import time


class _TimeLimit(BaseException):
    """Raised by SIGALRM inside a cell or a function call that ran too long."""


def _on_alarm(signum, frame):
    raise _TimeLimit()


def _limit(kind: int, value: int) -> None:
    try:
        soft, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(kind, (value, value))
    except (ValueError, OSError):
        pass


_MAGIC = re.compile(r"^(\s*)[%!].*$")


def _clean(source: str) -> str:
    """Drop IPython magics and shell escapes (``%matplotlib``, ``!pip``), keeping indentation."""
    return "\n".join(_MAGIC.sub(r"\1pass", line) for line in source.splitlines())


def _short(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    if isinstance(exc, MemoryError) or "can't allocate memory" in str(exc):
        return "MemoryError: ran out of memory (the memory limit was reached)"
    text = " ".join(f"{type(exc).__name__}: {exc}".split()).rstrip(":")
    return text[:300]


def main(jobdir: str) -> None:
    os.chdir(jobdir)
    with open("job.json", encoding="utf-8") as f:
        job = json.load(f)
    mb = int(job["memory_mb"])
    _limit(resource.RLIMIT_AS, mb * 1024 * 1024)
    _limit(resource.RLIMIT_FSIZE, 64 * 1024 * 1024)
    _limit(resource.RLIMIT_CORE, 0)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    signal.signal(signal.SIGALRM, _on_alarm)

    progress = os.open("progress", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def mark(kind: str, ident: str) -> None:
        os.write(progress, f"{kind} {ident}\n".encode())

    import torch

    torch.set_num_threads(int(job.get("threads", 1)))
    from vae_course.grading.checks import Case, as_value_function, execute_case, get_check

    cases = torch.load("cases.pt", weights_only=True)
    # Hold our own references: learner code may rebind module attributes later.
    _execute, _get, _save, _alarm = execute_case, get_check, torch.save, signal.setitimer
    os.makedirs("results", exist_ok=True)

    def timed(seconds: float, fn, *args):
        _alarm(signal.ITIMER_REAL, seconds)
        try:
            return fn(*args)
        finally:
            _alarm(signal.ITIMER_REAL, 0)

    namespace = {"__name__": "__main__", "__builtins__": builtins}
    cell_errors: dict[str, str] = {}
    skip = set(job.get("skip_cells", []))
    for cell in job["cells"]:
        if cell["id"] in skip:
            continue
        mark("cell", cell["id"])
        try:
            code = compile(_clean(cell["source"]), f"<cell {cell['id']}>", "exec")
            timed(job["cell_seconds"], exec, code, namespace)
        except _TimeLimit:
            cell_errors[cell["id"]] = f"took longer than {job['cell_seconds']:g} s and was stopped"
        except BaseException as exc:  # SystemExit, KeyboardInterrupt, MemoryError too
            cell_errors[cell["id"]] = _short(exc)
    with open("results/_cells.json", "w", encoding="utf-8") as f:
        json.dump(cell_errors, f)

    for task in job["tasks"]:
        gid = task["grade_id"]
        mark("task", gid)
        fn = namespace.get(task["function"])
        payload: dict = {"results": []}
        chk = _get(task["check"])
        if chk.value_task and fn is not None:
            fn = as_value_function(fn)  # a predict-then-run answer: a value, not a function
        if not callable(fn):
            payload["missing"] = True
        else:
            task_end = time.monotonic() + job["task_seconds"]  # one budget for all cases
            for raw in cases[task["check"]]:
                case = Case(raw["name"], raw["inputs"])
                try:
                    left = max(0.05, task_end - time.monotonic())
                    res = timed(left, _execute, chk, fn, case)
                except _TimeLimit:
                    res = {
                        "error": f"took longer than {job['task_seconds']:g} s and was stopped "
                        "(an infinite loop?)",
                        "not_implemented": False,
                    }
                except BaseException as exc:
                    res = {"error": _short(exc), "not_implemented": False}
                payload["results"].append(res)
                if "error" in res and "took longer" in res["error"]:
                    break
        try:
            _save(payload, f"results/{gid}.pt")
        except BaseException as exc:
            _save({"results": [], "unsaved": _short(exc)}, f"results/{gid}.pt")
        mark("done", gid)
    mark("end", "-")
    sys.stdout.flush()
    os._exit(0)  # skip atexit handlers and finalizers the learner's code may have set up


if __name__ == "__main__":
    main(sys.argv[1])
