"""Chapter 10's image diagnostics against hand-computed answers and independent references."""

import math

import numpy as np
import pytest
import torch

from vae_course.diagnostics import high_frequency_ratio, path_jumps, sharpness


def test_sharpness_by_hand_and_against_numpy():
    step = torch.zeros(1, 1, 3, 3)
    step[..., 2] = 1.0  # a vertical 0/1 edge: dx = [0, 1] per row, dy = 0
    assert float(sharpness(step)[0]) == pytest.approx(0.5)  # mean of [0, 1, 0, 1]
    assert float(sharpness(torch.full((1, 5, 5), 0.7))[0]) == 0.0
    g = np.random.default_rng(0).random((4, 9, 7))
    dx = g[:, :-1, 1:] - g[:, :-1, :-1]
    dy = g[:, 1:, :-1] - g[:, :-1, :-1]
    ref = np.sqrt(dx**2 + dy**2).mean(axis=(1, 2))
    np.testing.assert_allclose(sharpness(torch.tensor(g)).numpy(), ref, rtol=1e-6)


def test_blur_lowers_sharpness_and_high_frequencies():
    torch.manual_seed(0)
    x = torch.bernoulli(torch.full((8, 1, 28, 28), 0.3))
    kernel = torch.ones(1, 1, 3, 3) / 9
    blurred = torch.nn.functional.conv2d(x, kernel, padding=1)
    assert bool((sharpness(blurred) < sharpness(x)).all())
    assert bool((high_frequency_ratio(blurred) < high_frequency_ratio(x)).all())


def test_high_frequency_ratio_known_answers():
    assert float(high_frequency_ratio(torch.full((1, 8, 8), 0.3))[0]) == 0.0
    i, j = torch.meshgrid(torch.arange(8), torch.arange(8), indexing="ij")
    checker = ((i + j) % 2).double().unsqueeze(0)  # all energy at (0.5, 0.5): radius 0.707
    assert float(high_frequency_ratio(checker)[0]) == pytest.approx(1.0)
    slow = torch.cos(2 * math.pi * j / 8).double().unsqueeze(0)  # 0.125 cycles per pixel
    assert float(high_frequency_ratio(slow, cutoff=0.2)[0]) == pytest.approx(0.0, abs=1e-12)
    assert float(high_frequency_ratio(slow, cutoff=0.1)[0]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="cutoff"):
        high_frequency_ratio(slow, cutoff=0.9)


def test_path_jumps_by_hand():
    a, b = torch.zeros(1, 2, 2), torch.ones(1, 2, 2)
    even = torch.stack([a, 0.5 * b, b])  # two steps of 0.5
    jump = torch.stack([a, a, b])  # one step of 1
    out = path_jumps(torch.stack([even, jump]))
    torch.testing.assert_close(out["steps"], torch.tensor([[0.5, 0.5], [0.0, 1.0]]))
    torch.testing.assert_close(out["largest"], torch.tensor([0.5, 1.0]))
    torch.testing.assert_close(out["length"], torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(out["jump_ratio"], torch.tensor([1.0, 2.0]))
    assert path_jumps(even)["steps"].shape == (1, 2)
    assert float(path_jumps(torch.stack([a, a]))["jump_ratio"][0]) == 1.0  # no movement


def test_bad_images_are_refused():
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\) or \(N, H, W\)"):
        sharpness(torch.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="float tensor"):
        sharpness(torch.zeros(2, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="at least 2 steps"):
        path_jumps(torch.zeros(1, 1, 1, 2, 2))


def test_sharpness_is_a_mean_total_variation_so_edges_tie_ramps_and_blur_lowers_strokes():
    """What the docstring states: an edge and a ramp of the same rise tie; a blurred stroke scores less."""
    w = 8
    edge = torch.zeros(1, w, w)
    edge[..., w // 2 :] = 1.0
    ramp = torch.linspace(0, 1, w).repeat(w, 1)[None]
    assert torch.allclose(sharpness(edge), sharpness(ramp), atol=1e-6)
    stroke = torch.zeros(1, w, w)
    stroke[..., 3] = 1.0  # a one-pixel vertical stroke
    blurred = torch.zeros(1, w, w)
    blurred[..., 2], blurred[..., 3], blurred[..., 4] = 0.25, 0.5, 0.25  # the same ink, spread
    assert float(sharpness(blurred)) < float(sharpness(stroke))
