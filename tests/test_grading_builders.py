"""The reusable case builders of ``grading/checks.py`` and the mutation check.

Each builder is tested on a right answer (no message) and on the wrong answer it exists to
catch (a message with its hint); then every mutant of ``scripts/mutation_check.py`` (plausible
wrong answers to ex01–ex04) must lose its task's points.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from vae_course.grading import run_check
from vae_course.grading.checks import (
    Case,
    RecordingModel,
    describe,
    draw_count_problem,
    draw_counts,
    generator_problem,
    generator_runs,
    independence_problem,
    normal_tail_problem,
)
from vae_course.toy import LinearGaussian

ROOT = Path(__file__).resolve().parents[1]
CASE = Case("a case")


def _described(runs):
    return {k: describe(v) for k, v in runs.items()}


def test_generator_builder_accepts_a_generator_that_is_used():
    runs = generator_runs(lambda g: torch.randn(5, generator=g), seed=3)
    assert generator_problem(CASE, _described(runs)) is None


@pytest.mark.parametrize(
    "draw, hint",
    [
        (lambda g: torch.randn(5), "identically seeded generators gave different"),
        (
            lambda g: torch.randn(5, generator=torch.Generator().manual_seed(0)),
            "different seeds gave the same",
        ),
    ],
    ids=["global-state", "private-reseeded"],
)
def test_generator_builder_catches_ignored_generators(draw, hint):
    msg = generator_problem(CASE, _described(generator_runs(draw, seed=3)))
    assert msg is not None and hint in msg


def test_independence_builder():
    g = torch.Generator().manual_seed(0)
    fresh = torch.randn(5000, 4, generator=g)
    shared = torch.randn(5000, 1, generator=g).expand(5000, 4)
    assert independence_problem(CASE, fresh) is None
    msg = independence_problem(CASE, shared, across="pixels")
    assert msg is not None and "correlation 1" in msg and "pixel" in msg
    half = torch.cat([fresh[:, :2], fresh[:, :1] + 0.3 * fresh[:, 2:3]], dim=1)
    assert independence_problem(CASE, half) is not None  # correlation ≈ 0.96, not only 1


@pytest.mark.parametrize("seed", range(5))
def test_tail_builder_accepts_normal_draws(seed):
    eps = torch.randn(30_000, generator=torch.Generator().manual_seed(seed))
    assert normal_tail_problem(CASE, eps) is None


@pytest.mark.parametrize(
    "transform, hint",
    [
        (lambda e: e.clamp(-2, 2), "clamped or truncated"),
        (lambda e: e.clamp(-3, 3), "clamped or truncated"),
        (lambda e: e * 1.1, "beyond"),
        (lambda e: (torch.rand_like(e) - 0.5) * 2 * 3**0.5, "beyond"),  # uniform, variance 1
    ],
    ids=["clamp2", "clamp3", "scale1.1", "uniform"],
)
def test_tail_builder_catches_wrong_noise(transform, hint):
    eps = torch.randn(30_000, generator=torch.Generator().manual_seed(1))
    msg = normal_tail_problem(CASE, transform(eps))
    assert msg is not None and hint in msg


def test_recording_model_counts_draws_positional_and_keyword():
    model = LinearGaussian.random(3, 2, seed=0)
    rec = RecordingModel(model, {"log_likelihood": "z"})
    x = torch.zeros(4, 3, dtype=model.W.dtype)
    z = model.sample_prior(10 * 4).reshape(10, 4, 2)
    assert torch.equal(rec.log_likelihood(x, z), model.log_likelihood(x, z))
    rec.log_likelihood(x, z=z[:2])
    counts = draw_counts(rec.recorded["log_likelihood"], 2)
    assert counts.tolist() == [48.0, 40.0]
    assert rec.W is model.W  # everything else passes through


def test_draw_count_builder():
    ok = torch.tensor([60.0, 60.0])
    assert draw_count_problem(CASE, ok, k=20, batch=3) is None
    assert "not the same K shared" in draw_count_problem(
        CASE, torch.tensor([60.0, 20.0]), k=20, batch=3
    )
    assert "expected K·B" in draw_count_problem(CASE, torch.tensor([57.0, 57.0]), k=20, batch=3)
    assert draw_count_problem(CASE, torch.tensor([0.0, 0.0]), k=20, batch=3) is None  # no verdict


def test_an_in_place_edit_of_a_copied_input_is_caught():
    def kl_in_place(mu, logvar):  # right values, but squares the caller's mu
        return 0.5 * (mu.pow_(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)

    res = run_check("ex04.gaussian_kl", kl_in_place, seed=0)
    assert not res.passed and "in place" in res.message


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The first batch (written with the checks) and the held-out batch (written by someone who
# had not read the checks: 66 of 69 killed on its first run, 69 after the fixes it prompted).
# ex05's held-out batch (34, by another helper that had not read ex05's checks): 32 killed on
# its first run; the two survivors (a sigmoid-then-BCE distortion, an in-place clamp of logvar)
# led to an extreme-value case and copy_input in the loss check.
HELDOUT = _script("mutants_heldout")
HELDOUT_EX05 = _script("mutants_heldout_ex05")
# ex06's held-out batch (30): 28 killed first; the survivors (a thresholded original in the
# analogy grid, a grid moved to the CPU) led to a grey-level case and "on the device of x".
HELDOUT_EX06 = _script("mutants_heldout_ex06")
# ex07's held-out batch (37): 36 killed first; the survivor (the merge under torch.no_grad())
# led to a case whose inputs need gradients.
HELDOUT_EX07 = _script("mutants_heldout_ex07")
# ex08's held-out batch (73): 68 of 72 genuine wrong answers killed first (one "mutant" was a
# right answer); the survivors (float32 distances, a random tie-break, float32 codes, results
# moved to the CPU) led to a float64 near-tie case, float64-tight values and an EMA device case.
HELDOUT_EX08 = _script("mutants_heldout_ex08")
# ex09's held-out batch (95): 94 killed first (seeds 11, 12); the survivor (an in-place clamp of
# logvar to ±10 through .data) and a seed-dependent one (an MI estimate clamped at 0) led to a
# logvar case from -15 to 12 and an ignore-x case whose estimate is surely negative.
HELDOUT_EX09 = _script("mutants_heldout_ex09")
# ex10's held-out batch (87 functions + 22 values for the two answer variables): 103 of 109
# killed first (seeds 11, 12); the survivors (slerp's fallback tested on sin Ω < ε, on ‖z‖² or
# on ‖z0‖·‖z1‖; t in float32 for float64 codes; exp_() on logvar when it needs no gradient;
# a ValueError saying "invalid arguments") led to a near-antiparallel float64 case, a code of
# norm 2e-6, float64-tight paths, a torch.no_grad() case and messages that name the argument.
HELDOUT_EX10 = _script("mutants_heldout_ex10")
MUTANTS = (
    _script("mutation_check").MUTANTS
    + [m[:2] for m in HELDOUT.MUTANTS]
    + [m[:2] for m in HELDOUT_EX05.MUTANTS]
    + [m[:2] for m in HELDOUT_EX06.MUTANTS]
    + [m[:2] for m in HELDOUT_EX07.MUTANTS]
    + [m[:2] for m in HELDOUT_EX08.MUTANTS]
    + [m[:2] for m in HELDOUT_EX09.MUTANTS]
    + [m[:2] for m in HELDOUT_EX10.MUTANTS]
)


@pytest.mark.parametrize("task, fn", MUTANTS, ids=[f"{t}-{f.__name__}" for t, f in MUTANTS])
def test_every_mutant_loses_its_points(task, fn):
    for seed in (1, 2):
        res = run_check(task, fn, seed=seed, max_points=2)
        assert not res.passed and res.points == 0, f"{fn.__name__} passed with seed {seed}"


# wrong answers to the value tasks (predict-then-run, a diagnosis): graded as values, not called
VALUE_MUTANTS = [m[:3] for m in HELDOUT_EX10.VALUE_MUTANTS]


@pytest.mark.parametrize(
    "task, value", [m[::2] for m in VALUE_MUTANTS], ids=[f"{t}-{n}" for t, n, _ in VALUE_MUTANTS]
)
def test_every_wrong_value_loses_its_points(task, value):
    for seed in (1, 2):
        res = run_check(task, value, seed=seed, max_points=2)
        assert not res.passed and res.points == 0, f"{value!r} passed with seed {seed}"


SOLUTIONS = {
    **HELDOUT.SOLUTIONS,
    **HELDOUT_EX05.SOLUTIONS,
    **HELDOUT_EX06.SOLUTIONS,
    **HELDOUT_EX07.SOLUTIONS,
    **HELDOUT_EX08.SOLUTIONS,
    **HELDOUT_EX09.SOLUTIONS,
    **HELDOUT_EX10.SOLUTIONS,
}


@pytest.mark.parametrize("task", sorted(SOLUTIONS))
def test_the_heldout_batchs_own_solutions_pass(task):
    # its harness is sound: the correct answers it was written beside get full marks
    assert run_check(task, SOLUTIONS[task], seed=11).passed


ALTERNATIVES = (
    HELDOUT_EX07.ALTERNATIVES
    + HELDOUT_EX08.ALTERNATIVES
    + HELDOUT_EX09.ALTERNATIVES
    + HELDOUT_EX10.ALTERNATIVES
)


@pytest.mark.parametrize(
    "task, fn", ALTERNATIVES, ids=[f"{t}-{f.__name__}" for t, f in ALTERNATIVES]
)
def test_other_right_answers_pass(task, fn):
    # right answers written differently from the solution keep full marks
    assert run_check(task, fn, seed=5).passed, fn.__name__


@pytest.mark.parametrize(
    "task, value",
    [(t, v) for t, _, v in HELDOUT_EX10.VALUE_ALTERNATIVES],
    ids=[f"{t}-{n}" for t, n, _ in HELDOUT_EX10.VALUE_ALTERNATIVES],
)
def test_other_right_values_pass(task, value):
    assert run_check(task, value, seed=5).passed, value


def test_mutant_report_fails_when_a_mutant_survives_or_a_solution_fails(capsys):
    from vae_course.grading.mutants import report

    right = HELDOUT.SOLUTIONS["ex01.log_mean_exp"]

    def wrong(a, dim=0):
        return torch.logsumexp(a, dim=dim)  # missing −log K

    assert report([("ex01.log_mean_exp", wrong)], seeds=(1,), argv=[]) == 0
    assert report([("ex01.log_mean_exp", right)], seeds=(1,), argv=[]) == 1
    assert "survivors: ex01.log_mean_exp:" in capsys.readouterr().out
    assert report([], {"ex01.log_mean_exp": wrong}, seeds=(1,), argv=["--sanity"]) == 1
    assert report([], {"ex01.log_mean_exp": right}, seeds=(1,), argv=["--sanity"]) == 0


def test_sanity_alternatives_flags_a_wrong_answer(capsys):
    from vae_course.grading.mutants import sanity_alternatives

    right = HELDOUT.SOLUTIONS["ex01.log_mean_exp"]

    def wrong(a, dim=0):
        return torch.logsumexp(a, dim=dim)  # missing −log K

    assert sanity_alternatives([("ex01.log_mean_exp", right)], (1,)) == 0
    assert sanity_alternatives([("ex01.log_mean_exp", wrong)], (1,)) == 1
    assert "failing right answers: ex01.log_mean_exp:wrong" in capsys.readouterr().out
