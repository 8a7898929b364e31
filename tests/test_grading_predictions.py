"""Predict-then-run questions (value tasks): every wrong choice loses its point, with a
hint that explains without giving the answer away; the build leaves the variable unset."""

import pytest

from vae_course.grading import NOT_ATTEMPTED, all_checks, run_check
from vae_course.grading.build import stub_source
from vae_course.grading.checks import ChoiceCheck

CHOICES = {k: c for k, c in all_checks().items() if isinstance(c, ChoiceCheck)}


def test_every_exercise_set_01_to_04_has_a_prediction():
    assert {k.split(".")[0] for k in CHOICES} >= {"ex01", "ex02", "ex03", "ex04"}


@pytest.mark.parametrize("task", sorted(CHOICES))
def test_the_answer_passes_and_every_other_choice_fails_with_its_hint(task):
    chk = CHOICES[task]
    assert chk.answer in chk.choices and len(chk.choices) >= 3
    assert run_check(task, chk.answer, max_points=1).points == 1
    for wrong in chk.choices:
        if wrong == chk.answer:
            continue
        res = run_check(task, wrong, max_points=1)
        assert res.status == "failed" and res.points == 0
        assert chk.hints[wrong] in res.message  # a specific hint for every wrong choice ...
        assert chk.answer not in chk.hints[wrong]  # ... that does not give the answer away


@pytest.mark.parametrize("task", sorted(CHOICES))
@pytest.mark.parametrize("value", [3, ["too low"], "Too Low ", ""])
def test_anything_but_one_of_the_choices_fails(task, value):
    res = run_check(task, value, max_points=1)
    assert res.status == "failed" and "must be one of" in res.message


@pytest.mark.parametrize("task", sorted(CHOICES))
def test_unset_is_not_attempted(task):
    res = run_check(task, None)
    assert res.status == NOT_ATTEMPTED and "is not set yet" in res.message


def test_the_build_leaves_a_prediction_unset_and_keeps_functions_as_stubs():
    src = '### BEGIN SOLUTION\n# hint: think first\nprediction_x = "too low"\n### END SOLUTION'
    assert stub_source(src) == "# YOUR ANSWER HERE (think first)\nprediction_x = None"
    fn = "def f(x):\n    ### BEGIN SOLUTION\n    # hint: add one\n    return x + 1\n    ### END SOLUTION"
    assert 'raise NotImplementedError("Complete f: add one")' in stub_source(fn)
