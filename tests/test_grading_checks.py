"""Each check passes the reference, and fails plausible wrong answers with a useful hint."""

import pytest
import torch
import torch.nn.functional as F

from vae_course.grading import NOT_ATTEMPTED, all_checks, check, get_check, run_check
from vae_course.grading.checks import Case, describe, execute_case
from vae_course.grading.ex04 import ref_vae_loss
from vae_course.losses import bernoulli_log_likelihood, gaussian_kl
from vae_course.models import reparameterize


# ----------------------------------------------------------------------------- references
def ref_train_step(model, optimizer, x, beta=1.0):
    out = model(x)
    loss = vae_loss(x, out["x_logits"], out["mu"], out["logvar"], beta=beta)  # noqa: F821
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def ref_sample_prior(model, n, temperature=1.0):
    with torch.no_grad():
        z = temperature * torch.randn(n, model.latent_dim, device=next(model.parameters()).device)
        return torch.sigmoid(model.decode(z))


REFERENCES = {
    "ex04.reparameterize": reparameterize,
    "ex04.gaussian_kl": gaussian_kl,
    "ex04.bernoulli_log_likelihood": bernoulli_log_likelihood,
    "ex04.vae_loss": ref_vae_loss,
    "ex04.train_step": ref_train_step,
    "ex04.sample_prior": ref_sample_prior,
}


def _dev(model):
    return next(model.parameters()).device


def _bce(x, lg):
    return F.binary_cross_entropy_with_logits(lg, x, reduction="none").reshape(x.shape[0], -1)


def _kl(mu, lv):
    return 0.5 * (mu**2 + lv.exp() - 1 - lv)


def _step(loss_fn, zero=True, step=True):
    def train_step(model, optimizer, x, beta=1.0):
        out = model(x)
        loss = loss_fn(x, out, beta)
        if zero:
            optimizer.zero_grad()
        loss.backward()
        if step:
            optimizer.step()
        return loss.item()

    return train_step


def _good_loss(x, out, beta):
    return ref_vae_loss(x, out["x_logits"], out["mu"], out["logvar"], beta=beta)


# (check id, description, wrong function, substring the message must contain)
WRONG = [
    (
        "ex04.reparameterize",
        "logvar used as log-std",
        lambda mu, lv: mu + lv.exp() * torch.randn_like(mu),
        "log-std",
    ),
    (
        "ex04.reparameterize",
        "noise made on the CPU",
        lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn(mu.shape),
        "device",
    ),
    (
        "ex04.reparameterize",
        "uniform noise",
        lambda mu, lv: mu + (0.5 * lv).exp() * torch.rand_like(mu),
        "uniform",
    ),
    (
        "ex04.reparameterize",
        "torch.normal blocks gradients",
        lambda mu, lv: torch.normal(mu, (0.5 * lv).exp()),
        "∂z/∂mu",
    ),
    ("ex04.reparameterize", "no noise", lambda mu, lv: mu + 0 * lv, "z equals mu"),
    (
        "ex04.reparameterize",
        "detached",
        lambda mu, lv: (mu + (0.5 * lv).exp() * torch.randn_like(mu)).detach(),
        "autograd",
    ),
    (
        "ex04.reparameterize",
        "one ε shared by the batch",
        lambda mu, lv: mu + (0.5 * lv).exp() * torch.randn_like(mu[..., :1, :]),
        "same ε",
    ),
    ("ex04.gaussian_kl", "wrong sign", lambda mu, lv: -_kl(mu, lv).sum(1), "sign"),
    (
        "ex04.gaussian_kl",
        "not summed over latents",
        lambda mu, lv: _kl(mu, lv),
        "sum the KL over latent dimensions",
    ),
    (
        "ex04.gaussian_kl",
        "logvar as log-std",
        lambda mu, lv: 0.5 * (mu**2 + (2 * lv).exp() - 1 - 2 * lv).sum(1),
        "log-std",
    ),
    (
        "ex04.gaussian_kl",
        "mean over latents",
        lambda mu, lv: _kl(mu, lv).mean(1),
        "averaged over latent",
    ),
    ("ex04.gaussian_kl", "factor 1/2 dropped", lambda mu, lv: 2 * _kl(mu, lv).sum(1), "1/2"),
    (
        "ex04.gaussian_kl",
        "summed over the batch",
        lambda mu, lv: _kl(mu, lv).sum(),
        "one KL per example",
    ),
    (
        "ex04.gaussian_kl",
        "float32 accumulator",
        lambda mu, lv: torch.zeros(mu.shape[0]) + _kl(mu, lv).sum(1).float(),
        "dtype",
    ),
    (
        "ex04.bernoulli_log_likelihood",
        "mean over pixels",
        lambda x, lg: -_bce(x, lg).mean(1),
        "averaged over pixels",
    ),
    ("ex04.bernoulli_log_likelihood", "BCE sign", lambda x, lg: _bce(x, lg).sum(1), "sign"),
    (
        "ex04.bernoulli_log_likelihood",
        "unstable sigmoid + log",
        lambda x, lg: (
            (x * torch.sigmoid(lg).log() + (1 - x) * (1 - torch.sigmoid(lg)).log())
            .reshape(x.shape[0], -1)
            .sum(1)
        ),
        "underflows",
    ),
    (
        "ex04.bernoulli_log_likelihood",
        "sigmoid twice",
        lambda x, lg: -_bce(x, torch.sigmoid(lg)).sum(1),
        "sigmoid applied twice",
    ),
    (
        "ex04.bernoulli_log_likelihood",
        "not summed over pixels",
        lambda x, lg: -F.binary_cross_entropy_with_logits(lg, x, reduction="none"),
        "sum over every pixel",
    ),
    (
        "ex04.vae_loss",
        "beta ignored",
        lambda x, xl, mu, lv, beta=1.0: ref_vae_loss(x, xl, mu, lv),
        "beta has no effect",
    ),
    (
        "ex04.vae_loss",
        "summed over the batch",
        lambda x, xl, mu, lv, beta=1.0: (
            -bernoulli_log_likelihood(x, xl) + beta * gaussian_kl(mu, lv)
        ).sum(),
        "summed over the batch",
    ),
    (
        "ex04.vae_loss",
        "the ELBO, not its negative",
        lambda x, xl, mu, lv, beta=1.0: -ref_vae_loss(x, xl, mu, lv, beta=beta),
        "sign",
    ),
    (
        "ex04.vae_loss",
        ".item()",
        lambda x, xl, mu, lv, beta=1.0: ref_vae_loss(x, xl, mu, lv, beta=beta).item(),
        ".item()",
    ),
    (
        "ex04.vae_loss",
        "beta on the reconstruction",
        lambda x, xl, mu, lv, beta=1.0: (
            -beta * bernoulli_log_likelihood(x, xl) + gaussian_kl(mu, lv)
        ).mean(),
        "not the reconstruction",
    ),
    ("ex04.train_step", "no zero_grad", _step(_good_loss, zero=False), "zero_grad"),
    ("ex04.train_step", "no optimizer.step", _step(_good_loss, step=False), "optimizer.step()"),
    (
        "ex04.train_step",
        "beta ignored",
        _step(lambda x, out, beta: _good_loss(x, out, 1.0)),
        "beta is ignored",
    ),
    ("ex04.train_step", "returns nothing", lambda m, o, x, beta=1.0: None, "forget to return"),
    (
        "ex04.sample_prior",
        "logits, not probabilities",
        lambda m, n, temperature=1.0: m.decode(
            temperature * torch.randn(n, m.latent_dim, device=_dev(m))
        ).detach(),
        "sigmoid",
    ),
    (
        "ex04.sample_prior",
        "temperature squared",
        lambda m, n, temperature=1.0: torch.sigmoid(
            m.decode(temperature**2 * torch.randn(n, m.latent_dim, device=_dev(m)))
        ).detach(),
        "not its square",
    ),
    (
        "ex04.sample_prior",
        "uniform prior",
        lambda m, n, temperature=1.0: torch.sigmoid(
            m.decode(torch.rand(n, m.latent_dim, device=_dev(m)))
        ).detach(),
        "uniform",
    ),
    (
        "ex04.sample_prior",
        "z on the CPU",
        lambda m, n, temperature=1.0: torch.sigmoid(
            m.decode(temperature * torch.randn(n, m.latent_dim))
        ).detach(),
        "device",
    ),
    (
        "ex04.sample_prior",
        "keeps the graph",
        lambda m, n, temperature=1.0: torch.sigmoid(
            m.decode(temperature * torch.randn(n, m.latent_dim, device=_dev(m)))
        ),
        "no_grad",
    ),
]


def test_every_registered_check_has_a_reference_and_two_wrong_answers():
    functions = {
        k
        for k, c in all_checks().items()
        if k.startswith("ex04.")
        and not c.value_task
        and k not in ("ex04.encoder", "ex04.decoder", "ex04.optimal_decoder_logvar")
    }
    assert (
        set(REFERENCES) == functions
    )  # others: test_grading_predictions, _build_task, _derivations
    for task in REFERENCES:
        assert sum(w[0] == task for w in WRONG) >= 2, task


@pytest.mark.parametrize("task", sorted(REFERENCES))
@pytest.mark.parametrize("seed", [0, 12345])
def test_reference_passes(task, seed):
    res = run_check(task, REFERENCES[task], seed=seed, max_points=2)
    assert res.passed and res.points == 2, res.message
    assert res.line().startswith("✓ ") and "passed" in res.line()


@pytest.mark.parametrize(
    "task, why, fn, hint", WRONG, ids=[f"{w[0].split('.')[1]}-{w[1]}" for w in WRONG]
)
def test_plausible_wrong_answer_fails_with_hint(task, why, fn, hint):
    res = run_check(task, fn, seed=3, max_points=2)
    assert not res.passed and res.status == "failed" and res.points == 0
    assert hint in res.message, res.message
    assert res.line().startswith("✗ ")


@pytest.mark.parametrize("task", sorted(REFERENCES))
def test_stub_is_not_attempted(task):
    def stub(*args, **kwargs):
        raise NotImplementedError("Complete it")

    res = run_check(task, stub, seed=0)
    assert res.status == NOT_ATTEMPTED and not res.passed
    assert NOT_ATTEMPTED in res.line()


def test_check_prints_one_line(capsys):
    check("ex04.gaussian_kl", gaussian_kl)
    check("ex04.gaussian_kl", lambda mu, lv: _kl(mu, lv))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("✓ ex04.gaussian_kl")
    assert lines[1] == (
        "✗ ex04.gaussian_kl: batch of 64, d=20: expected shape (64,), got (64, 20): "
        "sum the KL over latent dimensions (dim=1) [6 of 6 cases failed]"
    )


def test_messages_never_contain_reference_code():
    sources = [
        "torch.exp(0.5 * logvar)",
        "binary_cross_entropy_with_logits(logits, x",
        "randn_like(std)",
    ]
    for task, _, fn, _ in WRONG:
        msg = run_check(task, fn, seed=1).message
        assert not any(s in msg for s in sources), msg


def test_check_leaves_the_learners_random_state_alone():
    torch.manual_seed(7)
    a = torch.rand(3)
    torch.manual_seed(7)
    run_check("ex04.reparameterize", reparameterize, seed=0)
    assert torch.equal(torch.rand(3), a)


def test_uses_binds_references_only_during_the_check():
    ns = {}
    exec(
        "def gaussian_kl(mu, lv):\n    return -1\n"
        "def vae_loss(x, xl, mu, lv, beta=1.0):\n"
        "    return (-bernoulli_log_likelihood(x, xl) + beta * gaussian_kl(mu, lv)).mean()\n",
        ns,
    )
    assert run_check("ex04.vae_loss", ns["vae_loss"], seed=0).passed
    assert ns["gaussian_kl"](0, 0) == -1 and "bernoulli_log_likelihood" not in ns


def test_unknown_task_and_non_function():
    with pytest.raises(KeyError, match="known"):
        get_check("ex99.nope")
    assert "expected a function" in run_check("ex04.gaussian_kl", 42).message


def test_describe_strips_subclasses_and_handles_meta_and_odd_values():
    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    d = describe(torch.ones(2).as_subclass(Liar))
    assert type(d["value"]) is torch.Tensor and d["shape"] == (2,)
    assert describe(torch.ones(2, device="meta"))["value"] is None
    assert describe(3)["kind"] == "number" and describe((1, 2))["type"] == "tuple"
    assert describe(None)["kind"] == "none"


def test_execute_case_reports_errors_instead_of_raising():
    chk = get_check("ex04.gaussian_kl")
    case = Case("c", {"mu": torch.zeros(2, 3), "logvar": torch.zeros(2, 3)})
    res = execute_case(chk, lambda mu, lv: 1 / 0, case)
    assert "ZeroDivisionError" in res["error"] and not res["not_implemented"]


def test_device_expectations_never_come_from_the_learners_side():
    """A forged output claiming to live on `meta` must not skip the value checks."""
    chk = get_check("ex04.sample_prior")
    case = chk.cases(0)[0]  # a CPU case with 10000 samples
    forged = {
        "x": {
            "kind": "tensor",
            "shape": (case.inputs["n"], 1, 1, case.inputs["d"]),
            "dtype": "float32",
            "device": "meta",
            "requires_grad": False,
            "value": None,
        },
        "model_device": {"kind": "tensor", "device": "meta"},
    }
    assert "device" in chk.compare(case, forged, None)
