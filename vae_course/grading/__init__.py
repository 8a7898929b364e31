"""Exercises and grading: checks with helpful messages, the exercise builder, the grader.

For learners
------------
In an exercise notebook, a locked cell after each task runs::

    from vae_course.grading import check
    check("ex04.gaussian_kl", gaussian_kl)      # prints ✓ passed, or ✗ what is wrong and why

The check calls your function on random and edge-case inputs (batch of 1, extreme
values, float64, another device: ``meta`` tensors stand in for a GPU) and compares with
the course's reference. In JupyterLab a failure only prints its ✗ line (the line is the
feedback; a traceback would bury it, and *Run All* should reach the next task); under
nbgrader (``NBGRADER_EXECUTION``, set by ``nbgrader validate`` and ``autograde``) it raises
:class:`CheckFailed` with that line, so nbgrader, which awards a grade cell's points
whenever it runs without an error, scores the cell 0. A passing check prints its ✓ line
and writes nothing to stderr (nbgrader zeroes a cell with any stderr output). ``run_check(task, fn, max_points=2)`` returns the
:class:`CheckResult` instead of printing it (``.status``, ``.message``, ``.points``: all
of ``max_points`` when every case passes, else 0).

For instructors
---------------
``vae-course grade PATH... --csv grades.csv --json grades.json`` (see
:mod:`vae_course.grading.runner`). Scores come only from the grader, which runs each
submission's own code in a child process with time and memory limits and compares the
outputs with the references in its own process: same checks, same messages as in the
notebook, but nothing the submission does can change the comparison.

Layout
------
``checks``  the registry, :class:`Check`, :func:`check`, :func:`run_check`, output helpers
``ex01`` … ``ex12``  the checks of exercise sets ex01–ex12 (one module per exercise set)
``build``   notebook format: markers, nbgrader metadata, ``vae-course build-exercises``
``runner``  ``vae-course grade``: one sandboxed child process per submission
``mutants`` the harness that measures checks with plausible wrong answers (mutants)
``_child``  the child's entry point (runs the learner's cells and functions, nothing else)

How to add an exercise set (e.g. ex02_elbo)
-------------------------------------------
1. **Checks.** Create ``vae_course/grading/ex02.py`` with one :class:`Check` subclass per
   graded task and register each (``register(MyCheck())`` at the bottom of the module);
   import the module in this file (``from . import ex02``). A check defines:

   * ``id = "ex02.log_mean_exp"`` and ``function = "log_mean_exp"`` (the name the
     learner's function has in the notebook);
   * ``cases(seed) -> list[Case]``: ``Case("batch of 1", {"x": tensor, ...})``; inputs are
     tensors and plain values only (they are sent to the grading child with torch.save).
     Derive all randomness from ``seed`` (``torch.Generator().manual_seed(seed)``);
     ``inputs["seed"]`` (optional) seeds torch's global RNG before the call;
   * ``run(fn, inputs) -> dict``: call the learner's ``fn`` and return named outputs
     (tensors, numbers). It runs in the learner's process: do no judging here;
   * ``reference(case)``: the expected result, from the course package (parent side);
   * ``compare(case, out, expected) -> str | None``: ``out[name]`` is
     :func:`~vae_course.grading.checks.describe`'s dict (``kind``, ``shape``, ``dtype``,
     ``device``, ``requires_grad``, ``value``). Return ``None`` when right, else
     "<case>: what is wrong: hint why" — never the reference code. Use
     ``tensor_problem`` for type/shape/dtype/device, and ``diagnose(got, [(variant,
     hint), ...])`` to recognise plausible wrong answers (wrong sign, mean vs sum, log-std
     as log-variance ...);
   * optional ``uses = ("gaussian_kl",)`` with ``references()``: while this task is
     checked, those names in the learner's notebook are bound to the references, so an
     earlier mistake does not cost twice.

   **Reuse the case builders** in :mod:`~vae_course.grading.checks` for properties every
   sampling or estimating task shares, so the module holds only its references and its
   catalogue of known mistakes:

   * hand tensors to the learner with ``copy_input(inputs["x"])``: an in-place edit of
     the copy is then reported (``execute_case`` compares it after the call);
   * a ``generator`` argument: ``generator_runs(call, seed)`` in ``run`` (same seed twice,
     after moving the global RNG, and a different seed), ``generator_problem`` in
     ``compare`` (ignored, global or reseeded generators);
   * draws that must be independent across dimensions or examples:
     ``independence_problem(case, noise)`` (|corr| within 6/√n);
   * draws that must be N(0, 1): ``normal_tail_problem(case, eps)`` (tail mass beyond 1,
     2.2 and 3 within 6 standard errors: clamped, truncated, uniform or mis-scaled noise);
   * counting what a function draws: wrap the model in ``RecordingModel(model,
     {"log_likelihood": "z"})``, return ``draw_counts(...)`` from ``run`` and judge with
     ``draw_count_problem`` (K·B distinct codes, not K shared or K − 1);
   * gradients: compare them with the reference's (not only ``requires_grad``), as
     ``ex04.VAELoss`` does, so a detached term is caught.

   Test every check: it passes the reference and other right answers for several seeds,
   and fails each plausible wrong answer with the expected hint. Add the wrong answers to
   ``scripts/mutation_check.py`` (a strict test), and have someone who has not read the
   check write a held-out batch (``scripts/mutants_heldout.py``): close every survivor.

2. **Solution notebook** ``solutions/ex02_elbo.ipynb`` (the single source; author it with
   nbformat from a throwaway script, then edit it in Jupyter if you like):

   * notebook metadata ``metadata["vae_course"] = {"exercise": "ex02_elbo"}``;
   * a locked setup cell importing what the tasks need, including
     ``from vae_course.grading import check``;
   * per task, a **solution cell**: ``def log_mean_exp(...)`` with the contract in its
     docstring (inputs, shapes, return value, units), then the answer between
     ``### BEGIN SOLUTION`` and ``### END SOLUTION``; the first line inside may be
     ``# hint: ...`` (one line), which becomes the stub's ``NotImplementedError`` message.
     Metadata ``nbgrader = {"grade": False, "grade_id": "log_mean_exp", "locked":
     False, "schema_version": 3, "solution": True}``;
   * then a **check cell**, whose source is exactly ``check("ex02.log_mean_exp",
     log_mean_exp)``, metadata ``nbgrader = {"grade": True, "grade_id":
     "check_log_mean_exp", "locked": True, "points": 2, "schema_version": 3, "solution":
     False}``. Points live here only (the grader reads them from the pristine exercise);
   * other code cells are locked (``grade: False, locked: True, solution: False`` and a
     ``grade_id``). A cell that only demonstrates (training, plots) and should not run
     during grading gets ``metadata["vae_course"] = {"skip_in_grader": True}``; make it
     print a friendly note instead of failing while tasks are unfinished
     (``except NotImplementedError``), because exercises/ must run without errors.
   * no keys other than nbgrader's inside ``metadata["nbgrader"]`` (its schema forbids them).

3. **Build and execute**::

       vae-course build-exercises            # solutions/*.ipynb -> exercises/*.ipynb
       vae-course execute solutions/ex02_elbo.ipynb
       python -m pytest --nbval --nbval-current-env \\
           --nbval-sanitize-with tests/nbval_sanitize.cfg solutions/ex02_elbo.ipynb
       vae-course grade exercises/ex02_elbo.ipynb solutions/ex02_elbo.ipynb

   ``tests/test_grading_build.py`` fails when exercises/ is out of date, and
   ``tests/test_grading_runner.py`` grades every solution (full points) and every
   exercise (zero, "not attempted") automatically.
"""

from . import ex01, ex02, ex03, ex04, ex05, ex06, ex07, ex08, ex09, ex10, ex11, ex12  # noqa: F401  (importing a set's module registers its checks)
from .checks import (
    NOT_ATTEMPTED,
    Case,
    Check,
    CheckFailed,
    CheckResult,
    all_checks,
    check,
    get_check,
    register,
    run_check,
)

__all__ = [
    "check",
    "run_check",
    "CheckResult",
    "CheckFailed",
    "Check",
    "Case",
    "register",
    "get_check",
    "all_checks",
    "NOT_ATTEMPTED",
]
