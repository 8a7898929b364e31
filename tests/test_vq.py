"""VectorQuantizer: nearest-code lookup, straight-through gradient, its two losses, the EMA
codebook update against its closed form, perplexity, dead-code restarts, shapes and errors."""

from __future__ import annotations

import math

import pytest
import torch

from vae_course.models.vq import VectorQuantizer


def _vq(**kw):
    torch.manual_seed(0)
    return VectorQuantizer(num_codes=5, code_dim=3, **kw)


def test_outputs_are_the_nearest_codebook_rows():
    vq = _vq()
    z = torch.randn(40, 3, generator=torch.Generator().manual_seed(1)) * 0.3
    out = vq(z)
    want = torch.cdist(z, vq.codebook.detach()).argmin(1)  # brute force, Euclidean
    assert torch.equal(out["indices"], want)
    torch.testing.assert_close(out["z_q"], vq.codebook.detach()[want])


def test_feature_maps_keep_their_shape():
    vq = _vq()
    z = torch.randn(2, 3, 4, 5)  # (B, D, H, W)
    out = vq(z)
    assert out["z_q"].shape == (2, 3, 4, 5) and out["indices"].shape == (2, 4, 5)
    flat = z.permute(0, 2, 3, 1).reshape(-1, 3)
    assert torch.equal(out["indices"].reshape(-1), vq(flat)["indices"])
    torch.testing.assert_close(
        out["z_q"][1, :, 2, 3], vq.codebook.detach()[out["indices"][1, 2, 3]]
    )


def test_straight_through_gradient_equals_the_upstream_gradient():
    vq = _vq()
    z = torch.randn(10, 3, requires_grad=True)
    upstream = torch.randn(10, 3)
    (vq(z)["z_q"] * upstream).sum().backward()
    torch.testing.assert_close(z.grad, upstream)


def test_codebook_loss_moves_codes_and_commitment_moves_the_encoder():
    vq = _vq()
    z = torch.randn(12, 3, requires_grad=True)
    out = vq(z)
    e = vq.codebook.detach()[out["indices"]]
    mse = ((z.detach() - e) ** 2).mean()
    torch.testing.assert_close(out["codebook_loss"], mse)
    torch.testing.assert_close(out["commitment_loss"], 0.25 * mse)
    g_code = torch.autograd.grad(out["codebook_loss"], [z, vq.codebook], allow_unused=True)
    assert g_code[0] is None and g_code[1].abs().sum() > 0
    g_commit = torch.autograd.grad(out["commitment_loss"], [z, vq.codebook], allow_unused=True)
    assert g_commit[1] is None or g_commit[1].abs().sum() == 0
    torch.testing.assert_close(g_commit[0], 0.25 * 2 * (z.detach() - e) / z.numel())


def test_ema_update_equals_its_closed_form():
    vq = VectorQuantizer(num_codes=3, code_dim=2, ema=True, decay=0.9, eps=1e-5)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]))
        vq.ema_sum.copy_(vq.codebook)
    z = torch.tensor([[0.1, 0.0], [0.0, -0.1], [0.9, 1.2]])  # codes 0, 0, 1; code 2 unused
    out = vq(z)
    assert out["indices"].tolist() == [0, 0, 1]
    count = 0.9 * torch.ones(3) + 0.1 * torch.tensor([2.0, 1.0, 0.0])
    sums = 0.9 * torch.tensor([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]]) + 0.1 * torch.tensor(
        [[0.1, -0.1], [0.9, 1.2], [0.0, 0.0]]
    )
    n = count.sum()
    smoothed = (count + 1e-5) / (n + 3 * 1e-5) * n
    torch.testing.assert_close(vq.ema_count, count)
    torch.testing.assert_close(vq.ema_sum, sums)
    torch.testing.assert_close(vq.codebook.detach(), sums / smoothed[:, None])
    assert float(out["codebook_loss"]) == 0.0 and not vq.codebook.requires_grad
    vq.eval()
    before = vq.codebook.detach().clone()
    vq(z)
    assert torch.equal(before, vq.codebook.detach())  # no update outside training


def test_ema_codes_converge_to_the_means_of_their_clusters():
    # two well separated clusters; repeated EMA steps must put each code at its cluster's
    # mean, the minimiser of the squared distance that the codebook loss pulls towards
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[-3.0, 1.0], [4.0, -2.0]])
    vq = VectorQuantizer(num_codes=2, code_dim=2, ema=True, decay=0.9)
    with torch.no_grad():
        vq.codebook.copy_(torch.tensor([[-1.0, 0.0], [1.0, 0.0]]))
        vq.ema_sum.copy_(vq.codebook)
    batches = [
        torch.cat([c + 0.5 * torch.randn(50, 2, generator=g) for c in centres]) for _ in range(300)
    ]
    for z in batches:
        vq(z)
    # each batch holds 50 points of cluster 0, then 50 of cluster 1
    recent = torch.stack(batches[-100:]).view(100, 2, 50, 2)
    means = recent.transpose(0, 1).reshape(2, -1, 2).mean(1)
    # EMA with decay 0.9 averages about 19 batches (950 points, SE 0.5/sqrt(950) = 0.016)
    torch.testing.assert_close(vq.codebook.detach(), means, atol=0.06, rtol=0)
    assert (vq.codebook.detach() - torch.tensor([[-1.0, 0.0], [1.0, 0.0]])).abs().max() > 2


def test_perplexity_is_k_for_uniform_usage_and_1_for_one_code():
    vq = _vq()
    codes = vq.codebook.detach()
    out = vq(codes.repeat(4, 1))  # every code used equally
    assert float(out["perplexity"]) == pytest.approx(5.0, rel=1e-5)
    assert float(out["used_fraction"]) == 1.0
    out = vq(codes[2:3].repeat(7, 1))
    assert float(out["perplexity"]) == pytest.approx(1.0, abs=1e-6)
    assert float(out["used_fraction"]) == pytest.approx(0.2)
    two = vq(torch.cat([codes[0:1].repeat(3, 1), codes[1:2].repeat(1, 1)]))
    p = torch.tensor([0.75, 0.25])
    assert float(two["perplexity"]) == pytest.approx(math.exp(float(-(p * p.log()).sum())))


def test_a_restart_revives_a_dead_code():
    vq = _vq(restart_threshold=0.05)
    with torch.no_grad():
        vq.codebook[4] = torch.tensor([50.0, 50.0, 50.0])  # far away: never chosen
        vq.usage[:4] = 0.5  # the other codes are well used
        vq.usage[4] = 0.01  # its usage has fallen below the threshold
    z = torch.randn(16, 3) * 0.2
    alive = vq.codebook.detach()[:4].clone()
    vq.eval()
    vq(z)  # no restarts outside training
    assert torch.equal(vq.codebook.detach()[:4], alive)
    assert float(vq.usage[4]) == pytest.approx(0.01)
    vq.train()
    torch.manual_seed(3)
    out = vq(z)
    assert int(out["restarted"]) == 1  # exactly the code below the threshold
    torch.testing.assert_close(vq.codebook.detach()[:4], alive)  # used codes unchanged
    revived = vq.codebook.detach()[4]
    assert any(torch.equal(revived, row) for row in z)  # now one of the batch's outputs
    assert float(vq.usage[4]) == pytest.approx(0.05)  # back at the threshold
    vq.eval()
    assert vq(revived[None])["indices"].item() == 4  # and it is the nearest code to that output


def test_bad_input_gets_a_clear_error():
    vq = _vq()
    with pytest.raises(ValueError, match=r"expected encoder outputs \(N, 3\) or \(B, 3, H, W\)"):
        vq(torch.zeros(4, 5))
    with pytest.raises(ValueError, match="decay must be in"):
        VectorQuantizer(decay=1.0)


# ------------------------------------------------------------------------- the VQ-VAE
def _vqvae(**kw):
    from vae_course.models import VQVAE

    torch.manual_seed(0)
    return VQVAE(num_codes=8, code_dim=4, channels=(8, 16), **kw)


def _digits(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) < 0.3).float()


def test_vqvae_shapes_terms_and_rate():
    model = _vqvae()
    x = _digits(6)
    out = model(x)
    assert out["z_e"].shape == (6, 4, 7, 7) and out["indices"].shape == (6, 7, 7)
    assert out["x_logits"].shape == (6, 1, 28, 28)
    terms = model.loss(x)
    assert terms["reconstruction"].shape == (6,) and terms["loss"].dim() == 0
    want = -terms["reconstruction"].mean() + terms["codebook_loss"] + terms["commitment_loss"]
    torch.testing.assert_close(terms["loss"], want)
    # per image: squared distances summed over the 7x7 grid and the code, averaged over images
    z_e = model.encode(x).detach()
    e = model.quantizer.codebook.detach()[out["indices"]].permute(0, 3, 1, 2)
    per_image = ((z_e - e) ** 2).sum(dim=(1, 2, 3)).mean()
    torch.testing.assert_close(terms["codebook_loss"], per_image)
    torch.testing.assert_close(terms["commitment_loss"], 0.25 * per_image)
    assert model.bits_per_image == pytest.approx(49 * 3)  # 7·7 cells, log2 8 = 3 bits


def test_indices_round_trip_is_the_reconstruction():
    model = _vqvae().eval()
    x = _digits(5, seed=1)
    idx = model.encode_indices(x)
    assert idx.dtype == torch.long and idx.shape == (5, 7, 7)
    assert torch.equal(idx, model(x)["indices"])
    rec = model.decode_indices(idx)
    torch.testing.assert_close(rec, torch.sigmoid(model(x)["x_logits"]))
    torch.testing.assert_close(model.reconstruct(x), rec)
    with pytest.raises(ValueError, match=r"expected index grids \(B, 7, 7\)"):
        model.decode_indices(idx[:, :3])
    with pytest.raises(ValueError, match=r"int64 codes in \[0, 8\)"):
        model.decode_indices(idx + 8)


def test_fit_trains_a_vqvae_and_the_checkpoint_round_trips(tmp_path):
    from vae_course.models import build_model
    from vae_course.train import fit, load_checkpoint, save_checkpoint

    model = _vqvae(ema=True, restart_threshold=0.01)
    x = _digits(128, seed=2)
    hist = fit(model, x, epochs=3, batch_size=32, progress=False, device="cpu")
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    path = tmp_path / "vq.pt"
    save_checkpoint(path, model)
    ck = load_checkpoint(path)
    again = build_model(ck["model_name"], **ck["config"])
    load_checkpoint(path, again)
    model.eval(), again.eval()
    torch.testing.assert_close(again.reconstruct(x[:4]), model.reconstruct(x[:4]))


def test_vqvae_rejects_bad_images():
    from vae_course.models import VQVAE

    with pytest.raises(ValueError, match="divisible by 4"):
        VQVAE(image_shape=(1, 30, 30))
    with pytest.raises(ValueError, match=r"expected images \(B, 1, 28, 28\)"):
        _vqvae()(torch.zeros(2, 1, 32, 32))
