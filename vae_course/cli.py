"""The ``vae-course`` command.

vae-course info                 versions, device, and an offline data check
vae-course execute NB...        re-execute notebooks the way CI checks them
vae-course bench                fit() vs a hand-written loop (see vae_course.bench)
vae-course build-exercises      write exercises/ from solutions/ (see vae_course.grading)
vae-course grade PATH...        grade submitted exercise notebooks into a table
"""

from __future__ import annotations

import argparse
import sys


def _info(args) -> int:
    import platform

    import torch

    from . import __version__
    from .data import load_mnist
    from .device import available_devices, get_device

    print(
        f"vae_course {__version__}, Python {platform.python_version()}, torch {torch.__version__}"
    )
    print(f"devices available: {', '.join(available_devices())}; course uses: {get_device()}")
    data = load_mnist()
    print(f"bundled MNIST: {len(data.x_train)} train / {len(data.x_test)} test digits, offline: OK")
    return 0


def _execute(args) -> int:
    from .authoring import execute_notebook

    for nb in args.notebooks:
        seconds = execute_notebook(nb, timeout=args.timeout)
        print(f"executed {nb} in {seconds:.1f} s; now check it with: pytest --nbval {nb}")
    return 0


def _bench(args) -> int:
    from .bench import main as bench_main

    return bench_main(args.rest)


def _build_exercises(args) -> int:
    from .grading.build import NotebookFormatError, build_exercises

    try:
        results = build_exercises(args.solutions, args.output, check_only=args.check)
    except NotebookFormatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stale = [str(p) for p, changed in results if changed]
    if args.check:
        for p in stale:
            print(f"out of date: {p} (run: vae-course build-exercises)")
        if not stale:
            print(f"{len(results)} exercise notebook(s) up to date")
        return 1 if stale else 0
    for p, changed in results:
        print(f"{'wrote' if changed else 'unchanged'} {p}")
    return 0


def _grade(args) -> int:
    import time

    from .atomic import atomic_path
    from .grading.build import NotebookFormatError
    from .grading.runner import Limits, format_table, grade_paths, to_csv, to_json

    problem = _grade_usage_problem(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    limits = Limits(timeout=args.timeout, memory_mb=args.memory_mb)
    t0 = time.perf_counter()

    def progress(sub):
        if not args.quiet:
            print(
                f"graded {sub.learner}: {sub.total:g}/{sub.max_points:g} in {sub.seconds:.1f} s",
                file=sys.stderr,
            )

    try:
        subs, seed = grade_paths(
            args.paths,
            limits=limits,
            exercises=args.exercises,
            seed=args.seed,
            jobs=args.jobs,
            progress=progress,
        )
    except (FileNotFoundError, NotebookFormatError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - t0
    if not subs:
        print("no notebooks found", file=sys.stderr)
        return 2
    print(format_table(subs))
    print(
        f"\n{len(subs)} submission(s) graded in {seconds:.1f} s "
        f"(seed {seed}, limits: {limits.timeout:g} s and {limits.memory_mb} MB per submission)"
    )
    if args.csv:
        with atomic_path(args.csv) as tmp:
            tmp.write_text(to_csv(subs), encoding="utf-8", newline="")
        print(f"wrote {args.csv}")
    if args.json:
        meta = {"seed": seed, "timeout": limits.timeout, "memory_mb": limits.memory_mb}
        with atomic_path(args.json) as tmp:
            tmp.write_text(to_json(subs, **meta), encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


def _grade_usage_problem(args) -> str | None:
    """What is wrong with ``vae-course grade``'s arguments, before any grading time is spent."""
    import math
    import os
    from pathlib import Path

    if not (math.isfinite(args.timeout) and args.timeout > 0):
        return f"--timeout must be a positive number of seconds, got {args.timeout:g}"
    if args.memory_mb <= 0:
        return f"--memory-mb must be a positive number of megabytes, got {args.memory_mb}"
    if args.jobs is not None and args.jobs < 1:
        return f"--jobs must be at least 1, got {args.jobs}"
    for d in args.exercises or []:
        if not Path(d).is_dir():
            return f"--exercises folder not found: {d}"
    for flag, out in (("--csv", args.csv), ("--json", args.json)):
        if not out:
            continue
        out = Path(out)
        parent = out.parent if str(out.parent) else Path(".")
        if out.is_dir():
            return f"{flag} {out} is a folder; give a file name"
        if not parent.is_dir():
            return f"{flag} {out}: the folder {parent} does not exist"
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"{flag} {out}: the folder {parent} is not writable"
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vae-course", description="The VAE course's command.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="show versions, device and check the bundled data")
    p.set_defaults(func=_info)
    p = sub.add_parser("execute", help="re-execute notebooks in place, as CI checks them")
    p.add_argument("notebooks", nargs="+")
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    p.set_defaults(func=_execute)
    p = sub.add_parser("bench", help="benchmark fit() against a hand-written loop")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_bench)
    p = sub.add_parser(
        "build-exercises", help="write exercises/ (stubs, no outputs) from solutions/"
    )
    p.add_argument("solutions", nargs="?", default="solutions", help="folder or notebook")
    p.add_argument("-o", "--output", default="exercises", help="folder to write to")
    p.add_argument(
        "--check", action="store_true", help="only report out-of-date files (exit 1 if any)"
    )
    p.set_defaults(func=_build_exercises)
    p = sub.add_parser(
        "grade",
        help="grade exercise notebooks (files or folders), one learner per notebook",
        description="Grade submitted exercise notebooks. Each runs in its own process with a "
        "time and memory limit; scores come from the grader's own checks. Grade untrusted "
        "code inside a container or VM.",
    )
    p.add_argument("paths", nargs="+", help="notebooks, or folders searched recursively")
    p.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    p.add_argument("--json", metavar="FILE", help="also write full results as JSON")
    p.add_argument(
        "--timeout", type=float, default=60.0, help="wall seconds per submission (default 60)"
    )
    p.add_argument(
        "--memory-mb", type=int, default=2048, help="address-space limit per submission (MB)"
    )
    p.add_argument("--jobs", type=int, default=None, help="submissions graded in parallel")
    p.add_argument("--seed", type=int, default=None, help="seed of the check inputs")
    p.add_argument(
        "--exercises",
        action="append",
        metavar="DIR",
        help="folder of pristine exercise notebooks (default: ./exercises)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no per-submission progress")
    p.set_defaults(func=_grade)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
