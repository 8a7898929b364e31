"""Checks of exercise set ex06 (conditional VAE): right answers written several ways pass,
plausible wrong answers lose the task's points with their hint, stubs are not attempted."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vae_course.grading import NOT_ATTEMPTED, run_check
from vae_course.losses import bernoulli_log_likelihood, gaussian_kl
from vae_course.models import analogy_grid as pkg_analogy_grid


def one_hot_right(labels, n):
    return F.one_hot(labels, n).float()


def one_hot_scatter(labels, n):
    out = torch.zeros(len(labels), n, device=labels.device)
    return out.scatter_(1, labels[:, None], 1.0)


def one_hot_eye(labels, n):
    return torch.eye(n, device=labels.device)[labels]


def loss_right(model, x, labels, beta=1.0):
    out = model(x, labels)
    rec = bernoulli_log_likelihood(x, out["x_logits"])
    return (-rec + beta * gaussian_kl(out["mu"], out["logvar"])).mean()


def loss_bce(model, x, labels, beta=1.0):
    out = model(x, labels)
    bce = F.binary_cross_entropy_with_logits(out["x_logits"], x, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (out["mu"] ** 2 + out["logvar"].exp() - 1 - out["logvar"]).sum(1)
    return (bce + beta * kl).mean()


def grid_loop(model, x, labels):
    rows = []
    with torch.no_grad():
        mu, _ = model.encode(x, labels)
        for i in range(len(x)):
            rows.append(x[i : i + 1])
            for c in range(model.n_classes):
                rows.append(torch.sigmoid(model.decode(mu[i : i + 1], torch.tensor([c]))))
    return torch.cat(rows)


RIGHT = [
    ("ex06.one_hot", one_hot_right),
    ("ex06.one_hot", one_hot_scatter),
    ("ex06.one_hot", one_hot_eye),
    ("ex06.conditional_loss", loss_right),
    ("ex06.conditional_loss", loss_bce),
    ("ex06.analogy_grid", pkg_analogy_grid),
    ("ex06.analogy_grid", grid_loop),
]


@pytest.mark.parametrize("task, fn", RIGHT, ids=[f"{t}-{f.__name__}" for t, f in RIGHT])
@pytest.mark.parametrize("seed", [0, 31337])
def test_right_answers_pass(task, fn, seed):
    res = run_check(task, fn, seed=seed, max_points=2)
    assert res.passed, res.message


@pytest.mark.parametrize("task", sorted({t for t, _ in RIGHT}))
def test_stub_is_not_attempted(task):
    def stub(*a, **k):
        raise NotImplementedError

    assert run_check(task, stub, seed=0).status == NOT_ATTEMPTED


def _loss(f):
    def loss(model, x, labels, beta=1.0):
        out = model(x, labels)
        return f(
            bernoulli_log_likelihood(x, out["x_logits"]),
            gaussian_kl(out["mu"], out["logvar"]),
            beta,
        )

    return loss


WRONG = [
    ("ex06.one_hot", "long", lambda y, n: F.one_hot(y, n), "float32"),
    (
        "ex06.one_hot",
        "max+1 classes",
        lambda y, n: F.one_hot(y).float(),
        "not the largest label + 1",
    ),
    ("ex06.one_hot", "cpu", lambda y, n: F.one_hot(y.cpu(), n).float(), "device"),
    ("ex06.one_hot", "transposed", lambda y, n: F.one_hot(y, n).float().T, ""),
    ("ex06.one_hot", "inverted", lambda y, n: 1 - F.one_hot(y, n).float(), "not the reverse"),
    (
        "ex06.conditional_loss",
        "no beta",
        _loss(lambda r, k, b: (-r + k).mean()),
        "beta has no effect",
    ),
    (
        "ex06.conditional_loss",
        "beta on rec",
        _loss(lambda r, k, b: (-b * r + k).mean()),
        "not the reconstruction",
    ),
    (
        "ex06.conditional_loss",
        "sum",
        _loss(lambda r, k, b: (-r + b * k).sum()),
        "summed over the batch",
    ),
    ("ex06.conditional_loss", "elbo", _loss(lambda r, k, b: (r - b * k).mean()), "wrong sign"),
    (
        "ex06.conditional_loss",
        "item",
        _loss(lambda r, k, b: (-r + b * k).mean().item()),
        "no .item()",
    ),
    (
        "ex06.conditional_loss",
        "detached kl",
        _loss(lambda r, k, b: (-r + b * k.detach()).mean()),
        "wrong gradient",
    ),
    (
        "ex06.conditional_loss",
        "no labels",
        lambda m, x, y, beta=1.0: loss_right(m, x, None, beta),
        "call the model with the labels",
    ),
    (
        "ex06.conditional_loss",
        "class 0 for all",
        lambda m, x, y, beta=1.0: loss_right(m, x, torch.zeros_like(y), beta),
        "pass the batch's labels",
    ),
    (
        "ex06.analogy_grid",
        "logits",
        lambda m, x, y: torch.cat(
            [
                torch.cat(
                    [
                        x[i : i + 1],
                        m.decode(
                            m.encode(x, y)[0][i : i + 1].expand(m.n_classes, -1),
                            torch.arange(m.n_classes),
                        ),
                    ]
                )
                for i in range(len(x))
            ]
        ),
        "sigmoid",
    ),
    (
        "ex06.analogy_grid",
        "re-encoded with target label",
        lambda m, x, y: torch.cat(
            [
                torch.cat(
                    [
                        x[i : i + 1],
                        torch.sigmoid(
                            m.decode(
                                m.encode(
                                    x[i : i + 1].expand(m.n_classes, -1, -1, -1),
                                    torch.arange(m.n_classes),
                                )[0],
                                torch.arange(m.n_classes),
                            )
                        ),
                    ]
                )
                for i in range(len(x))
            ]
        ),
        "own",
    ),
    (
        "ex06.analogy_grid",
        "sampled z",
        lambda m, x, y: torch.cat(
            [
                torch.cat(
                    [
                        x[i : i + 1],
                        torch.sigmoid(
                            m.decode(
                                m(x, y)["z"][i : i + 1].expand(m.n_classes, -1),
                                torch.arange(m.n_classes),
                            )
                        ),
                    ]
                )
                for i in range(len(x))
            ]
        ),
        "no sampling",
    ),
    (
        "ex06.analogy_grid",
        "without the original",
        lambda m, x, y: (
            pkg_analogy_grid(m, x, y)
            .reshape(len(x), 1 + m.n_classes, *x.shape[1:])[:, 1:]
            .reshape(-1, *x.shape[1:])
        ),
        "starts with the digit itself",
    ),
    (
        "ex06.analogy_grid",
        "ten classes hard-coded",
        lambda m, x, y: torch.cat(
            [
                torch.cat(
                    [
                        x[i : i + 1],
                        torch.sigmoid(
                            m.decode(
                                m.encode(x, y)[0][i : i + 1].expand(10, -1),
                                torch.arange(10) % m.n_classes,
                            )
                        ),
                    ]
                )
                for i in range(len(x))
            ]
        ),
        "",
    ),
]


@pytest.mark.parametrize(
    "task, why, fn, hint", WRONG, ids=[f"{t.split('.')[1]}-{w}" for t, w, _, _ in WRONG]
)
def test_wrong_answers_lose_their_points(task, why, fn, hint):
    for seed in (0, 7):
        res = run_check(task, fn, seed=seed, max_points=2)
        assert res.status == "failed" and res.points == 0, f"{why} passed"
        assert hint in res.message, res.message
