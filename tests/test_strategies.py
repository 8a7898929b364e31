"""Chapter 09's training strategies: cyclical annealing as Fu et al. wrote it, free bits per
dimension and per group (Kingma et al. 2016), and what they do to the loss and the bound."""

import math

import numpy as np
import pytest
import torch

from vae_course.data import load_digits
from vae_course.losses import FreeBits, elbo, free_bits_kl
from vae_course.metrics import active_units, kl_per_dimension, mutual_information
from vae_course.models import MLPVAE, HierarchicalVAE
from vae_course.schedules import Cyclical
from vae_course.strategies import (
    Strategy,
    StrategyRun,
    compare_strategies,
    run_strategy,
    strategy_table,
)


def fu_schedule(n_iter, n_cycle=4, ratio=0.5):
    """Fu et al. 2019, eq. (7), written from the paper as an independent reference:
    beta_t = tau / R if tau <= R else 1, with tau = mod(t - 1, ceil(T / M)) / (T / M) and t
    counted from 1 (our steps count from 0)."""
    t = np.arange(1, n_iter + 1)
    tau = np.mod(t - 1, np.ceil(n_iter / n_cycle)) / (n_iter / n_cycle)
    return np.where(tau <= ratio, tau / ratio, 1.0)


@pytest.mark.parametrize(
    "n_iter, cycles, ratio", [(400, 4, 0.5), (1000, 4, 0.5), (600, 3, 0.25), (320, 1, 0.5)]
)
def test_cyclical_matches_fu_et_al_formula(n_iter, cycles, ratio):
    ref = fu_schedule(n_iter, n_cycle=cycles, ratio=ratio)
    ours = Cyclical.from_cycles(n_iter, cycles, ratio)
    got = np.array([ours(t) for t in range(n_iter)])
    np.testing.assert_allclose(got, ref, atol=1e-9)


def test_cyclical_from_cycles_shape_of_the_schedule():
    s = Cyclical.from_cycles(1001, cycles=4, ratio=0.5)  # T not divisible by M
    assert s.cycle_steps == 251
    betas = np.array([s(t) for t in range(1001)])
    starts = np.flatnonzero(betas == 0.0)
    assert starts.tolist() == [0, 251, 502, 753]  # M cycles, each restarting at beta = 0
    assert betas.max() == 1.0 and betas.min() == 0.0
    assert math.isclose(float((betas == 1.0).mean()), 0.5, abs_tol=0.01)  # R = 0.5 at beta = 1


def test_cyclical_from_cycles_rejects_bad_arguments():
    with pytest.raises(ValueError, match="cycles <= total_steps"):
        Cyclical.from_cycles(3, cycles=4)
    with pytest.raises(ValueError, match="ints"):
        Cyclical.from_cycles(100.0, cycles=4)
    with pytest.raises(ValueError, match="ratio"):
        Cyclical.from_cycles(100, cycles=4, ratio=1.5)


def test_free_bits_kl_per_group_by_hand():
    kl = torch.tensor([0.1, 0.2, 3.0, 0.5, 0.0, 0.05])
    # groups of 2: sums 0.3, 3.5, 0.05 -> floors at 1.0: 1.0 + 3.5 + 1.0
    torch.testing.assert_close(free_bits_kl(kl, FreeBits(1.0, group_size=2)), torch.tensor(5.5))
    # groups of 3: sums 3.3, 0.55 -> 3.3 + 1.0
    torch.testing.assert_close(free_bits_kl(kl, FreeBits(1.0, group_size=3)), torch.tensor(4.3))
    # per dimension (a float), equal to FreeBits(λ, 1)
    per_dim = torch.clamp(kl, min=0.25).sum()
    torch.testing.assert_close(free_bits_kl(kl, 0.25), per_dim)
    torch.testing.assert_close(free_bits_kl(kl, FreeBits(0.25)), per_dim)
    # λ = 0 is the plain KL; one group of all dimensions floors the total
    torch.testing.assert_close(free_bits_kl(kl, 0.0), kl.sum())
    torch.testing.assert_close(free_bits_kl(kl, FreeBits(5.0, group_size=6)), torch.tensor(5.0))


def test_free_bits_gradient_reaches_only_groups_above_the_floor():
    kl = torch.tensor([0.1, 0.2, 3.0, 0.5, 0.0, 0.05], requires_grad=True)
    free_bits_kl(kl, FreeBits(1.0, group_size=2)).backward()
    # the group (3.0, 0.5) is above λ: both its dimensions get gradient 1, even the small one
    assert kl.grad.tolist() == [0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
    kl.grad = None
    free_bits_kl(kl, 1.0).backward()  # per dimension: only 3.0 is above λ
    assert kl.grad.tolist() == [0.0, 0.0, 1.0, 0.0, 0.0, 0.0]


def test_free_bits_kl_errors_say_what_was_expected():
    with pytest.raises(ValueError, match="does not divide the 6"):
        free_bits_kl(torch.zeros(6), FreeBits(1.0, group_size=4))
    with pytest.raises(ValueError, match=r"shape \(D,\)"):
        free_bits_kl(torch.zeros(2, 6), 1.0)
    with pytest.raises(ValueError, match=">= 0 nats per group"):
        FreeBits(-1.0)
    with pytest.raises(ValueError, match="positive int"):
        FreeBits(1.0, group_size=0)


def test_elbo_with_group_free_bits_changes_the_loss_not_the_bound():
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((16, 12), 0.3))
    logits = torch.randn(16, 12)
    mu, logvar = 0.3 * torch.randn(16, 8), 0.1 * torch.randn(16, 8)
    plain = elbo(x, logits, mu, logvar)
    fb = elbo(x, logits, mu, logvar, free_bits=FreeBits(2.0, group_size=4))
    torch.testing.assert_close(fb["elbo"], plain["elbo"])  # the bound is the true ELBO
    groups = plain["kl_per_dim"].reshape(2, 4).sum(1)
    expected = -plain["reconstruction"].mean() + groups.clamp(min=2.0).sum()
    torch.testing.assert_close(fb["loss"], expected)
    assert fb["loss"] > plain["loss"]  # both groups sit below the floor here
    assert bool((groups < 2.0).all())


def test_models_accept_group_free_bits():
    torch.manual_seed(0)
    x = torch.rand(4, 1, 28, 28)
    model = MLPVAE(latent_dim=8, hidden_dims=(32,))
    t = model.loss(x, free_bits=FreeBits(50.0, group_size=8))  # one group, far above its KL
    torch.testing.assert_close(t["loss"], -t["reconstruction"].mean() + 50.0)
    h = HierarchicalVAE(latent_dims=(4, 2), hidden_dims=(32,))
    th = h.loss(x, free_bits=FreeBits(30.0, group_size=2))  # 2 groups in z1, 1 in z2
    torch.testing.assert_close(th["loss"], -th["reconstruction"].mean() + 90.0)
    with pytest.raises(ValueError, match="does not divide"):
        model.loss(x, free_bits=FreeBits(1.0, group_size=3))


# ----------------------------------------------------------------------------- runs
@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    x_train = d.x_train[:256]
    x_test = torch.bernoulli(d.x_test[:128], generator=torch.Generator().manual_seed(0))
    return x_train, x_test


def small_model():
    return MLPVAE(latent_dim=4, hidden_dims=(32,), image_shape=(1, 8, 8))


def test_run_strategy_reports_the_true_elbo_not_the_free_bits_loss(digits):
    x_train, x_test = digits
    run = run_strategy(
        Strategy("one group, far above", free_bits=FreeBits(100.0, group_size=4)),
        small_model,
        x_train,
        x_test,
        epochs=2,
        batch_size=64,
        device="cpu",
    )
    h = run.history
    # every batch's loss is -rec + 100 (the floor binds), so loss + elbo = 100 - KL exactly
    for loss, elbo_, kl in zip(h["train_loss"], h["train_elbo"], h["train_kl"], strict=True):
        assert loss + elbo_ == pytest.approx(100.0 - kl, abs=1e-3)
    assert run.final_loss == h["train_loss"][-1]
    assert run.final_loss > 100  # the loss carries λ ...
    assert -run.elbo < 100  # ... the reported test bound does not
    assert len(h["test_elbo"]) == len(h["test_active"]) == len(h["test_mi"]) == 2
    assert h["test_elbo"][-1] == run.elbo
    assert run.active == active_units(run.model, x_test)[0] == h["test_active"][-1]
    assert run.mi == pytest.approx(mutual_information(run.model, x_test, seed=0, draws=10))
    assert h["test_dims_over_0_1"][-1] == run.dims_over_0_1
    assert h["test_mi"][-1] == pytest.approx(mutual_information(run.model, x_test, seed=0, draws=2))
    assert run.kl_per_dim.shape == (4,)
    assert run.dims_over_0_1 == int((kl_per_dimension(run.model, x_test) > 0.1).sum())
    assert run.bits_per_dim == pytest.approx(-run.iwae / (64 * math.log(2)))


def test_runs_are_seeded_and_every_strategy_starts_from_the_same_weights(digits):
    x_train, x_test = digits
    firsts = []

    def recording_model():
        m = small_model()
        firsts.append(next(m.parameters()).detach().clone())
        return m

    strategies = [Strategy("constant"), Strategy("warm-up", beta=Cyclical.from_cycles(8, 1))]
    runs = compare_strategies(
        strategies,
        recording_model,
        x_train,
        x_test,
        seeds=(0, 1),
        epochs=2,
        batch_size=64,
        device="cpu",
    )
    assert [(r.name, r.seed) for r in runs] == [
        ("constant", 0),
        ("constant", 1),
        ("warm-up", 0),
        ("warm-up", 1),
    ]
    assert torch.equal(firsts[0], firsts[2]) and not torch.equal(firsts[0], firsts[1])
    assert runs[0].elbo != runs[2].elbo  # the schedules differ, so the models differ
    again = run_strategy(
        strategies[0], small_model, x_train, x_test, seed=0, epochs=2, batch_size=64, device="cpu"
    )
    assert again.elbo == runs[0].elbo and again.iwae == runs[0].iwae


def test_strategy_inputs_are_checked(digits):
    x_train, x_test = digits
    with pytest.raises(ValueError, match="must be binary"):
        run_strategy(Strategy("c"), small_model, x_train, x_test * 0.5 + 0.25, epochs=1)
    with pytest.raises(ValueError, match="unique"):
        compare_strategies([Strategy("a"), Strategy("a")], small_model, x_train, x_test)
    with pytest.raises(ValueError, match="beta must be >= 0"):
        Strategy("bad", beta=-1.0)
    with pytest.raises(ValueError, match="free_bits must be >= 0"):
        Strategy("bad", free_bits=-0.5)


def test_strategy_table_means_and_spreads():
    def fake(name, seed, elbo_, active):
        return StrategyRun(
            Strategy(name),
            seed,
            None,
            {},
            elbo=elbo_,
            iwae=elbo_ + 5,
            kl=10.0,
            active=active,
            mi=6.0,
            final_loss=-elbo_,
        )

    runs = [
        fake("constant", 0, -120.0, 10),
        fake("constant", 1, -124.0, 13),
        fake("fb", 0, -130.0, 20),
    ]
    table = strategy_table(runs, keys=("elbo", "active"))
    lines = table.splitlines()
    assert lines[0].split() == ["strategy", "elbo", "active"]
    assert lines[1].split() == ["constant", "-122.0", "±2.0", "12", "±2"]  # (10+13)/2 = 11.5 -> 12
    assert lines[2].split() == ["fb", "-130.0", "20"]


# ----------------------------------------------------------------------------- plots
def test_plot_helpers_draw_their_data():
    import matplotlib

    matplotlib.use("Agg")
    from vae_course.plot import plot_kl_per_dim, plot_schedules, plot_strategy_curves

    ax = plot_schedules({"constant": 1.0, "cyclical": Cyclical(4, ratio=0.5)}, 8, steps_per_epoch=4)
    const, cyc = ax.lines
    assert list(const.get_ydata()) == [1.0] * 8
    assert list(cyc.get_ydata()) == [0.0, 0.5, 1.0, 1.0] * 2
    assert list(cyc.get_xdata()) == [t / 4 for t in range(8)]
    with pytest.raises(ValueError, match="total_steps"):
        plot_schedules({"c": 1.0}, 0)

    def fake(name, seed, elbos):
        h = {"test_elbo": elbos, "test_kl": [1, 2], "test_active": [3, 4], "test_mi": [5, 6]}
        h["test_dims_over_0_1"] = [1, 1]
        return StrategyRun(Strategy(name), seed, None, h)

    fig = plot_strategy_curves(
        [fake("a", 0, [-9, -8]), fake("a", 1, [-7, -6]), fake("b", 0, [-5, -4])]
    )
    first = fig.axes[0]
    assert [list(line.get_ydata()) for line in first.lines] == [[-9, -8], [-7, -6], [-5, -4]]
    assert first.lines[0].get_color() == first.lines[1].get_color() != first.lines[2].get_color()
    assert [t.get_text() for t in first.get_legend().get_texts()] == ["a", "b"]
    with pytest.raises(ValueError, match="no 'test_kl'"):
        plot_strategy_curves([StrategyRun(Strategy("c"), 0, None, {"test_elbo": [1]})])

    ax = plot_kl_per_dim({"r": torch.tensor([0.0, 2.0, 0.5])}, threshold=0.25)
    assert list(ax.lines[0].get_ydata()) == pytest.approx(
        [2.0, 0.5, 1e-4]
    )  # sorted, floored for log
    assert ax.lines[1].get_ydata()[0] == 0.25
    with pytest.raises(ValueError, match=r"shape \(D,\)"):
        plot_kl_per_dim({"r": torch.zeros(2, 2)})


def test_zero_epochs_measures_the_initial_model(digits):
    x_train, x_test = digits
    run = run_strategy(Strategy("none"), small_model, x_train, x_test, epochs=0, device="cpu")
    assert run.history["epoch"] == [] and math.isfinite(run.elbo) and run.elbo < 0
    assert math.isnan(run.final_loss)
