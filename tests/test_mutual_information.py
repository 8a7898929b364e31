"""metrics.mutual_information (He et al. 2019's estimate of I_q(x; z)) against known answers:
a linear-Gaussian encoder, whose I(x; z) = Σ ½ log(1 + a²/σ²) in closed form (within 4
standard errors over independent batches), an encoder that ignores x (0), and one that
identifies each example (the batch ceiling log N)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vae_course.metrics import mutual_information, mutual_information_from_posteriors


def _linear_gaussian(n, a, var, g):
    x = torch.randn(n, len(a), generator=g)
    mu = x * torch.tensor(a)
    return mu, torch.log(torch.tensor(var)).expand(n, len(a))


def test_linear_gaussian_encoder_matches_its_closed_form():
    a, var = (1.0, 2.0, 0.5), (0.25, 1.0, 1.0)
    true = sum(0.5 * math.log(1 + ai**2 / vi) for ai, vi in zip(a, var, strict=True))
    g = torch.Generator().manual_seed(0)
    values = torch.tensor(
        [
            mutual_information_from_posteriors(*_linear_gaussian(2000, a, var, g), generator=g)
            for _ in range(12)
        ]
    )
    se = values.std() / len(values) ** 0.5
    assert abs(float(values.mean()) - true) < 4 * float(se) + 0.01, (
        float(values.mean()),
        true,
        float(se),
    )


def test_an_encoder_that_ignores_x_carries_nothing_and_a_sharp_one_hits_log_n():
    g = torch.Generator().manual_seed(1)
    n = 500
    flat = mutual_information_from_posteriors(torch.zeros(n, 4), torch.zeros(n, 4), generator=g)
    assert abs(flat) < 4 * math.sqrt(2 / n)  # the same sampling noise, around 0
    sharp_mu = torch.randn(n, 4, generator=g) * 10
    sharp = mutual_information_from_posteriors(sharp_mu, torch.full((n, 4), -12.0), generator=g)
    # own component dominates: the estimate is log N plus the sampling noise of log q(z|x),
    # -1/2 chi2_4 per example, standard error sqrt(2 / n)
    assert sharp == pytest.approx(math.log(n), abs=4 * math.sqrt(2 / n))


class _Encoder(nn.Module):
    """A stand-in model: q(z|x) = N(first two pixels, 0.5)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))

    def encode(self, x):
        mu = x.flatten(1)[:, :2] + 0 * self.w
        return mu, torch.full_like(mu, math.log(0.5))


def test_model_level_estimate_averages_batches_and_repeats_from_a_seed():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1100, 1, 2, 2, generator=g)
    model = _Encoder()
    one = mutual_information(model, x, batch_size=500, seed=3)
    assert one == mutual_information(model, x, batch_size=500, seed=3)
    assert one != mutual_information(model, x, batch_size=500, seed=4)
    # 1100 = 500 + 600: the last 100 join the batch before; weights are the batch sizes
    mu, logvar = model.encode(x.double().float())
    g = torch.Generator().manual_seed(3)
    parts = [(0, 500), (500, 1100)]
    want = (
        sum(
            mutual_information_from_posteriors(mu[a:b].detach(), logvar[a:b], generator=g) * (b - a)
            for a, b in parts
        )
        / 1100
    )
    assert one == pytest.approx(want, rel=1e-6)
    true = 2 * 0.5 * math.log(1 + 1 / 0.5)  # pixels ~ N(0, 1), noise variance 0.5
    assert abs(one - true) < 0.1


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"same shape \(N, d\) with N >= 2"):
        mutual_information_from_posteriors(torch.zeros(1, 3), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="same shape"):
        mutual_information_from_posteriors(torch.zeros(4, 3), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        mutual_information(_Encoder(), torch.zeros(4, 1, 2, 2), batch_size=1)


def test_draws_average_independent_estimates_and_shrink_the_noise():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(600, 1, 2, 2, generator=g)
    model = _Encoder()
    three = mutual_information(model, x, batch_size=600, seed=7, draws=3)
    mu, logvar = model.encode(x)
    g = torch.Generator().manual_seed(7)
    singles = [
        mutual_information_from_posteriors(mu.detach(), logvar, generator=g) for _ in range(3)
    ]
    assert three == pytest.approx(sum(singles) / 3, rel=1e-9)
    spread_1 = torch.tensor([mutual_information(model, x, 600, seed=s) for s in range(20)]).std()
    spread_9 = torch.tensor(
        [mutual_information(model, x, 600, seed=s, draws=9) for s in range(20)]
    ).std()
    assert spread_9 < 0.6 * spread_1  # about 1/3 expected; 0.6 leaves room for 20-run noise
    with pytest.raises(ValueError, match="draws must be a positive int"):
        mutual_information(model, x, draws=0)
