"""Measure the checks with plausible wrong answers ("mutants"): the harness of
``scripts/mutation_check.py`` and the held-out batches ``scripts/mutants_heldout*.py``.

A mutant is a wrong answer to one task; it is *killed* when its check fails on every seed.
A batch also carries the right answers it was written beside (``solutions``), which must
pass, so a harness mistake cannot pass for a strong check. ``tests/test_grading_builders.py``
runs every batch as a strict test.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from .checks import CheckResult, run_check

__all__ = ["judge", "report", "sanity_alternatives"]


def judge(task: str, fn: Callable, seeds: Sequence[int]) -> tuple[bool, list[CheckResult]]:
    """(killed, results): ``fn`` checked as ``task`` on every seed; killed when all fail."""
    from . import ex01  # noqa: F401  (importing the package registers every set's checks)

    results = [run_check(task, fn, seed=s) for s in seeds]
    return all(not r.passed for r in results), results


def _first_message(results: list[CheckResult]) -> str:
    return next((r.message for r in results if not r.passed), "")


def report(
    mutants: Sequence[tuple[str, Callable]],
    solutions: dict[str, Callable] | None = None,
    seeds: Sequence[int] = (11, 12),
    argv: Sequence[str] | None = None,
) -> int:
    """Print one line per mutant (or per solution with ``--sanity``) and a count.

    Returns the exit status: 0 when every mutant is killed (``--sanity``: every solution
    passes), 1 otherwise.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--sanity" in argv:
        bad = []
        for task, fn in (solutions or {}).items():
            killed, results = judge(task, fn, seeds)
            ok = all(r.passed for r in results)
            print(f"{'ok    ' if ok else 'FAILED'} {task:36s} {_first_message(results)[:150]}")
            if not ok:
                bad.append(task)
        n = len(solutions or {})
        print(f"{n - len(bad)} of {n} solutions pass")
        if bad:
            print("failing solutions:", ", ".join(bad))
        return 1 if bad else 0
    survivors = []
    for task, fn in mutants:
        killed, results = judge(task, fn, seeds)
        name = getattr(fn, "__name__", repr(fn))
        status = "killed  " if killed else "SURVIVED"
        print(f"{status} {task:36s} {name:28s} {_first_message(results)[:150]}", flush=True)
        if not killed:
            survivors.append(f"{task}:{name}")
    print(f"{len(mutants) - len(survivors)} of {len(mutants)} killed")
    print("survivors:", ", ".join(survivors) if survivors else "none")
    return 1 if survivors else 0


def sanity_alternatives(alternatives: Sequence[tuple[str, Callable]], seeds: Sequence[int]) -> int:
    """Run right answers written differently from the solution; print one line each.

    ``alternatives``: (task id, function) pairs, each of which must pass on every seed.
    Returns 0 when all pass, 1 otherwise (an exit status for a batch's ``--sanity``).
    """
    bad = []
    for task, fn in alternatives:
        _, results = judge(task, fn, seeds)
        ok = all(r.passed for r in results)
        msg = next((r.message for r in results if not r.passed), "")
        print(f"{'ok    ' if ok else 'FAILED'} {task:36s} {fn.__name__:28s} {msg[:150]}")
        if not ok:
            bad.append(f"{task}:{fn.__name__}")
    print(f"{len(alternatives) - len(bad)} of {len(alternatives)} other right answers pass")
    if bad:
        print("failing right answers:", ", ".join(bad))
    return 1 if bad else 0
