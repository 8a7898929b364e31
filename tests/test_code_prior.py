"""CodePrior (the learned prior over VQ-VAE index grids) and the codebook-usage metrics:
the autoregressive property, normalisation over every grid, sampling frequencies against
the model's own probabilities (5 standard errors), learning a known distribution, errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from vae_course.metrics import codebook_usage, perplexity_of_counts
from vae_course.models import VQVAE, CodePrior, build_model, code_bits, train_code_prior
from vae_course.train import load_checkpoint, save_checkpoint


def _prior(k=3, grid=(2, 3), **kw):
    torch.manual_seed(0)
    return CodePrior(num_codes=k, grid_shape=grid, dim=16, layers=2, heads=2, **kw).eval()


def _all_grids(k, grid):
    cells = grid[0] * grid[1]
    rows = list(itertools.product(range(k), repeat=cells))
    return torch.tensor(rows, dtype=torch.long).reshape(-1, *grid)


def test_cell_i_sees_only_earlier_cells():
    prior = _prior(k=5, grid=(3, 3))
    g = torch.Generator().manual_seed(1)
    base = torch.randint(0, 5, (4, 3, 3), generator=g)
    ref = prior.logits(base)
    for j in range(9):
        changed = base.clone().reshape(4, 9)
        changed[:, j] = (changed[:, j] + 1) % 5
        out = prior.logits(changed.reshape(4, 3, 3))
        # rows 0..j (the conditionals of cells up to and including j) cannot move
        torch.testing.assert_close(out[:, : j + 1], ref[:, : j + 1])
        if j < 8:
            assert (out[:, j + 1 :] - ref[:, j + 1 :]).abs().max() > 1e-4


def test_probabilities_of_all_grids_sum_to_one():
    prior = _prior(k=3, grid=(2, 3))  # 3^6 = 729 grids
    grids = _all_grids(3, (2, 3))
    with torch.no_grad():
        total = torch.logsumexp(prior.log_prob(grids).double(), 0)
    assert abs(float(total)) < 1e-4


def test_log_prob_is_the_sum_of_step_by_step_conditionals():
    prior = _prior(k=4, grid=(2, 2))
    grids = torch.randint(0, 4, (6, 2, 2), generator=torch.Generator().manual_seed(3))
    flat = grids.reshape(6, 4)
    want = torch.zeros(6)
    for i in range(4):  # the prefix alone, as sampling sees it
        seq = torch.cat([torch.full((6, 1), 4), flat[:, :i]], dim=1)
        logp = torch.log_softmax(prior._step_logits(seq)[:, -1], -1)
        want += logp.gather(1, flat[:, i : i + 1]).squeeze(1)
    torch.testing.assert_close(prior.log_prob(grids), want, atol=1e-5, rtol=1e-5)


def test_sample_frequencies_match_the_model_within_five_standard_errors():
    prior = _prior(k=2, grid=(1, 3))  # 8 grids
    grids = _all_grids(2, (1, 3))
    p = prior.log_prob(grids).exp()
    n = 8000
    draws = prior.sample(n, generator=torch.Generator().manual_seed(0)).reshape(n, 3)
    code = draws[:, 0] * 4 + draws[:, 1] * 2 + draws[:, 2]
    freq = torch.bincount(code, minlength=8).float() / n
    se = (p * (1 - p) / n).sqrt()
    assert ((freq - p).abs() <= 5 * se).all(), (freq, p)


def test_same_generator_same_samples_different_generator_different():
    prior = _prior(k=6, grid=(3, 3))
    a = prior.sample(5, generator=torch.Generator().manual_seed(7))
    b = prior.sample(5, generator=torch.Generator().manual_seed(7))
    c = prior.sample(5, generator=torch.Generator().manual_seed(8))
    assert a.shape == (5, 3, 3) and a.dtype == torch.long
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_learns_constant_grids_to_their_entropy():
    # every grid repeats one of 4 codes: the entropy is log2(4) = 2 bits per grid
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 4, (512,), generator=g)
    data = codes[:, None, None].expand(512, 2, 2).contiguous()
    prior = _prior(k=4, grid=(2, 2)).train()
    uniform_bits = 4 * math.log2(4)
    assert code_bits(prior, data) > 5  # untrained: about the uniform 8 bits
    hist = train_code_prior(prior, data, data[:128], epochs=60, lr=3e-3, progress=False)
    assert hist["train_bits"][-1] < hist["train_bits"][0]
    assert abs(hist["val_bits"][-1] - 2.0) < 0.3, hist["val_bits"][-1]
    assert hist["val_bits"][-1] < uniform_bits / 3
    s = prior.sample(200, generator=torch.Generator().manual_seed(1)).reshape(200, 4)
    constant = (s == s[:, :1]).all(1).float().mean()
    assert constant > 0.9


def test_bad_grids_are_refused_with_what_was_expected():
    prior = _prior(k=4, grid=(2, 2))
    with pytest.raises(ValueError, match=r"int64 index grids \(B, 2, 2\)"):
        prior.log_prob(torch.zeros(3, 2, 2))
    with pytest.raises(ValueError, match=r"index grids \(B, 2, 2\), got \(3, 4\)"):
        prior.log_prob(torch.zeros(3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"in \[0, 4\)"):
        prior.log_prob(torch.full((1, 2, 2), 4, dtype=torch.long))
    with pytest.raises(ValueError, match="n >= 1"):
        prior.sample(0)
    with pytest.raises(ValueError, match="epochs >= 0"):
        train_code_prior(prior, torch.zeros(2, 2, 2, dtype=torch.long), epochs=-1)


def test_checkpoint_round_trip(tmp_path):
    prior = _prior(k=4, grid=(2, 2))
    grids = torch.randint(0, 4, (5, 2, 2))
    save_checkpoint(tmp_path / "prior.pt", prior)
    ck = load_checkpoint(tmp_path / "prior.pt")
    again = build_model(ck["model_name"], **ck["config"]).eval()
    again.load_state_dict(ck["state_dict"])
    torch.testing.assert_close(again.log_prob(grids), prior.log_prob(grids))


# ----------------------------------------------------------------------- codebook usage
def test_perplexity_of_counts_known_answers():
    assert perplexity_of_counts(torch.tensor([5, 5, 5, 5])) == pytest.approx(4.0)
    assert perplexity_of_counts(torch.tensor([0, 9, 0])) == pytest.approx(1.0)
    p = torch.tensor([0.5, 0.25, 0.25])
    assert perplexity_of_counts(p * 8) == pytest.approx(math.exp(-(p * p.log()).sum()))
    with pytest.raises(ValueError, match="non-negative counts"):
        perplexity_of_counts(torch.tensor([0, 0]))


def test_codebook_usage_counts_every_cell_against_the_model_indices():
    torch.manual_seed(0)
    model = VQVAE(num_codes=8, code_dim=4, channels=(4, 8)).eval()
    x = torch.rand(30, 1, 28, 28)
    u = codebook_usage(model, x, batch_size=7)
    idx = model.encode_indices(x)
    assert int(u["counts"].sum()) == 30 * 49
    assert torch.equal(u["counts"], torch.bincount(idx.reshape(-1), minlength=8))
    assert u["used"] == int((u["counts"] > 0).sum()) and u["dead"] == 8 - u["used"]
    assert u["used_fraction"] == u["used"] / 8
    assert 1 <= u["perplexity"] <= u["used"] + 1e-9
    with pytest.raises(ValueError, match="no codebook"):
        codebook_usage(torch.nn.Linear(2, 2), x)


def test_plot_code_in_use_draws_where_a_code_is_used_and_one_edit():
    import matplotlib

    matplotlib.use("Agg")
    from vae_course.plot import plot_code_in_use
    from vae_course.widgets.codebook import cell_edit_images, code_locations

    torch.manual_seed(0)
    model = VQVAE(num_codes=8, code_dim=4, channels=(4, 8)).eval()
    x = torch.rand(20, 1, 28, 28)
    grids = model.encode_indices(x)
    code = int(grids[0, 0, 0])
    fig = plot_code_in_use(model, x, grids, code, digit=1, cell=(2, 5), n_shown=3)
    digits, masks = code_locations(grids, code)
    assert len(fig.axes) == 7  # 6 panels and the colorbar
    assert f"used in {int(masks.sum())} cells of {len(digits)} digits" in fig._suptitle.get_text()
    assert fig.axes[0].get_title() == f"test digit {digits[0]}"
    _, _, diff = cell_edit_images(model, grids[1], 2, 5, code)
    assert (fig.axes[5].images[0].get_array() == diff).all()
    assert fig.axes[3].images[0].get_array().shape == (112, 112, 3)


def test_plot_codebook_usage_draws_perplexity_per_epoch_and_sorted_counts():
    import matplotlib

    matplotlib.use("Agg")
    from vae_course.plot import plot_codebook_usage

    def usage(counts):
        counts = torch.tensor(counts)
        used = int((counts > 0).sum())
        return {"counts": counts, "perplexity": perplexity_of_counts(counts), "dead": 4 - used}

    runs = {"a": [usage([1, 1, 1, 1]), usage([5, 0, 3, 0])], "b": [usage([2, 2, 0, 0])]}
    fig = plot_codebook_usage(runs)
    left, right = fig.axes[:2]
    assert list(left.lines[0].get_ydata()) == pytest.approx([4.0, runs["a"][1]["perplexity"]])
    assert list(right.lines[0].get_ydata()) == [6, 4, 1, 1]  # sorted counts + 1
    assert [t.get_text() for t in right.get_legend().get_texts()] == ["a: 2 dead", "b: 2 dead"]
    with pytest.raises(ValueError, match="no usage records"):
        plot_codebook_usage({"c": []})
