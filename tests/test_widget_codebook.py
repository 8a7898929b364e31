"""CodebookBrowser (chapter 08's explorer): its logic against brute force and the model, and
its widget state driven without a browser."""

import io

import numpy as np
import pytest
import torch
from PIL import Image

from vae_course.models import MLPVAE, VQVAE
from vae_course.widgets.codebook import (
    BLUE,
    RED,
    CodebookBrowser,
    cell_edit_images,
    code_locations,
    code_usage,
    decode_grids,
    diff_rgb,
    edit_grid,
    encode_grids,
    outline_cells,
)
from vae_course.widgets.render import MARK, to_uint8


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = VQVAE(num_codes=16, code_dim=4, channels=(8, 16)).eval()
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(12, 1, 28, 28, generator=g) > 0.7).float()
    return model, x, torch.arange(12) % 10


def _png(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _random_grids(n=6, k=5, seed=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, k, (n, 7, 7), generator=g)


# ----------------------------------------------------------------------- the logic
def test_code_usage_and_locations_agree_with_a_loop():
    idx = _random_grids()
    usage = code_usage(idx, num_codes=7)
    assert usage.shape == (7,) and usage.sum() == 6 * 49
    for k in range(7):  # 5 and 6 are never used
        digits, masks = code_locations(idx, k)
        want_digits, want_masks, count = [], [], 0
        for n in range(6):
            m = np.zeros((7, 7), bool)
            for r in range(7):
                for c in range(7):
                    m[r, c] = int(idx[n, r, c]) == k
            count += int(m.sum())
            if m.any():
                want_digits.append(n)
                want_masks.append(m)
        assert usage[k] == count
        assert digits.tolist() == want_digits and masks.shape == (len(want_digits), 7, 7)
        if want_masks:
            np.testing.assert_array_equal(masks, np.stack(want_masks))
    assert usage[5] == usage[6] == 0 and code_locations(idx, 6)[0].size == 0


def test_edit_grid_changes_exactly_one_cell_and_leaves_the_input_alone():
    grid = _random_grids()[0]
    keep = grid.clone()
    new = (int(grid[2, 5]) + 1) % 5
    out = edit_grid(grid, 2, 5, new, num_codes=5)
    assert out.dtype == torch.long and out.shape == (7, 7)
    assert int(out[2, 5]) == new and int((out != grid).sum()) == 1
    assert torch.equal(grid, keep) and out.data_ptr() != grid.data_ptr()
    out[0, 0] = 4  # the copy is independent of the input
    assert torch.equal(grid, keep)
    arr = keep.numpy().copy()  # a NumPy grid works too and stays unchanged
    assert int(edit_grid(arr, 0, 0, 3)[0, 0]) == 3 and np.array_equal(arr, keep.numpy())


@pytest.mark.parametrize(
    "args, match",
    [
        ((7, 0, 1), r"cell \(row, col\) must be in \[0, 7\) × \[0, 7\), got \(7, 0\)"),
        ((-1, 0, 1), r"got \(-1, 0\)"),
        ((0, 7, 1), r"got \(0, 7\)"),
        ((0, 0, 16), r"code must be in \[0, 16\), got 16"),
        ((0, 0, -1), r"code must be in \[0, 16\), got -1"),
    ],
)
def test_edit_grid_rejects_cells_and_codes_out_of_range(args, match):
    with pytest.raises(ValueError, match=match):
        edit_grid(torch.zeros(7, 7, dtype=torch.long), *args, num_codes=16)


def test_bad_grids_are_refused_with_the_expected_shape():
    with pytest.raises(ValueError, match=r"one grid of integer codes \(H', W'\), got \(2, 7, 7\)"):
        edit_grid(torch.zeros(2, 7, 7, dtype=torch.long), 0, 0, 1)
    with pytest.raises(ValueError, match="one grid of integer codes"):
        edit_grid(torch.zeros(7, 7), 0, 0, 1)
    with pytest.raises(ValueError, match=r"integer code grids \(N, H', W'\), got \(7, 7\)"):
        code_locations(torch.zeros(7, 7, dtype=torch.long), 1)
    with pytest.raises(ValueError, match="integer code grids"):
        code_usage(np.zeros((2, 7, 7), np.float32), 4)
    with pytest.raises(ValueError, match=r"codes must be in \[0, 4\), got 0..4"):
        code_usage(_random_grids(), 4)
    with pytest.raises(ValueError, match="code k must be >= 0"):
        code_locations(_random_grids(), -1)


def test_encode_and_decode_grids_are_the_models_and_keep_its_mode(setup):
    model, x, _ = setup
    model.train()
    try:
        idx = encode_grids(model, x, batch_size=5)  # three batches
        assert model.training
        assert idx.dtype == torch.long and idx.shape == (12, 7, 7)
        assert torch.equal(idx, model.encode_indices(x))
        images = decode_grids(model, idx[:3])
        assert images.shape == (3, 28, 28) and images.dtype == np.float32
        np.testing.assert_allclose(images, model.decode_indices(idx[:3])[:, 0].numpy(), atol=1e-6)
    finally:
        model.eval()


def test_cell_edit_images_are_the_decoded_grids_and_their_difference(setup):
    model, x, _ = setup
    grid = model.encode_indices(x[:1])[0]
    keep = grid.clone()
    new = (int(grid[3, 4]) + 5) % 16
    before, after, diff = cell_edit_images(model, grid, 3, 4, new)
    edited = keep.clone()
    edited[3, 4] = new
    np.testing.assert_allclose(before, model.decode_indices(keep[None])[0, 0].numpy(), atol=1e-6)
    np.testing.assert_allclose(after, model.decode_indices(edited[None])[0, 0].numpy(), atol=1e-6)
    np.testing.assert_array_equal(diff, after - before)
    assert np.abs(diff).max() > 0 and torch.equal(grid, keep)
    # setting a cell to its own code changes nothing
    assert not cell_edit_images(model, grid, 3, 4, int(grid[3, 4]))[2].any()
    with pytest.raises(ValueError, match=r"code must be in \[0, 16\)"):
        cell_edit_images(model, grid, 3, 4, 16)


def _is(rgb: np.ndarray, colour) -> np.ndarray:
    return (rgb == np.asarray(colour, np.uint8)).all(axis=2)


def test_outlines_touch_exactly_the_borders_of_the_masked_patches():
    mask = np.zeros((7, 7), bool)
    mask[0, 0] = mask[2, 3] = mask[2, 4] = mask[6, 6] = True
    blank = np.zeros((28, 28), np.float32)  # white paper
    out = outline_cells(blank, mask)
    assert out.shape == (28, 28, 3) and out.dtype == np.uint8
    want = np.zeros((28, 28), bool)
    for r, c in zip(*np.nonzero(mask), strict=True):
        for i in range(4):
            for j in range(4):
                want[4 * r + i, 4 * c + j] = i in (0, 3) or j in (0, 3)
    np.testing.assert_array_equal(_is(out, MARK), want)
    assert (out[~want] == 255).all()
    # upscaled by 3 with 2 px frames: the frame is the outer 2 px of each 12 px patch
    big = outline_cells(blank, mask, scale=3, width=2, colour=(0, 0, 0))
    ys, xs = np.mgrid[0:84, 0:84]
    inner = np.minimum(ys % 12, xs % 12) >= 2
    inner &= np.maximum(ys % 12, xs % 12) < 10
    want_big = mask[ys // 12, xs // 12] & ~inner
    np.testing.assert_array_equal(_is(big, (0, 0, 0)), want_big)
    # a tint colours the inside of masked patches only
    tinted = outline_cells(blank, mask, tint=0.5)
    inside = np.repeat(np.repeat(mask, 4, 0), 4, 1) & ~want
    np.testing.assert_array_equal(tinted[inside][0], np.round(127.5 + MARK / 2).astype(np.uint8))
    assert (tinted[~np.repeat(np.repeat(mask, 4, 0), 4, 1)] == 255).all()
    # an RGB image keeps its colours outside the frames
    rgb = np.full((28, 28, 3), 7, np.uint8)
    np.testing.assert_array_equal(outline_cells(rgb, mask)[~want], rgb[~want])


def test_outline_cells_rejects_masks_that_do_not_tile_the_image():
    with pytest.raises(ValueError, match=r"mask \(5, 5\) must tile the image \(28, 28\)"):
        outline_cells(np.zeros((28, 28)), np.zeros((5, 5), bool))
    with pytest.raises(ValueError, match=r"grey \(H, W\) or uint8 RGB \(H, W, 3\)"):
        outline_cells(np.zeros((28, 28, 4)), np.zeros((7, 7), bool))


def test_diff_rgb_is_white_at_zero_red_for_more_ink_blue_for_less():
    out = diff_rgb(np.array([[0.0, 1.0, -1.0, 0.5, 3.0]]))
    assert out.shape == (1, 5, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(out[0, 1], RED)
    np.testing.assert_array_equal(out[0, 2], BLUE)
    np.testing.assert_array_equal(out[0, 3], np.round((255 + RED) / 2))
    np.testing.assert_array_equal(out[0, 4], RED)  # clipped to [-1, 1]


def test_a_model_without_a_codebook_is_refused_naming_vqvae(setup):
    _, x, labels = setup
    other = MLPVAE(latent_dim=2, hidden_dims=(16,))
    with pytest.raises(ValueError, match=r"needs a VQ-VAE .*vae_course.models.VQVAE; got MLPVAE"):
        CodebookBrowser(other, x, labels)
    with pytest.raises(ValueError, match="VQVAE"):
        cell_edit_images(other, torch.zeros(7, 7, dtype=torch.long), 0, 0, 1)
    with pytest.raises(ValueError, match="VQVAE"):
        encode_grids(other, x)


# ----------------------------------------------------------------------- the widget
def test_widget_follows_its_controls(setup):
    model, x, labels = setup
    w = CodebookBrowser(model, x, labels, index=2, gallery=4)
    assert w.last_error is None and w.error.value == ""
    idx = model.encode_indices(x)
    assert torch.equal(w.indices, idx)
    counts = np.bincount(idx.reshape(-1).numpy(), minlength=16)
    np.testing.assert_array_equal(w.usage, counts)
    # the picker lists every code by use, most used first; dead codes say "used 0 times"
    values = [v for _, v in w.picker.options]
    assert sorted(values) == list(range(16)) and list(counts[values]) == sorted(counts)[::-1]
    dead = [t for t, v in w.picker.options if counts[v] == 0]
    assert dead and all(t.endswith("used 0 times") for t in dead)
    assert w.code == values[0]

    def expect_info(k, cell, old, new):
        m = int((idx == k).any(dim=(1, 2)).sum())
        changed = int((np.abs(w.diff) > 0.1).sum())
        assert w.info.value == (
            f"code {k}: used in {counts[k]} cells of {m} digits; cell {cell}: "
            f"code {old} → {new}; pixels changed by more than 0.1: {changed}"
        )

    grid = idx[2]
    assert torch.equal(w.grid, grid) and w.cell == (3, 3) and not w.diff.any()
    assert [b.description for b in w.buttons] == [str(v) for v in grid.reshape(-1).tolist()]
    expect_info(values[0], "(3, 3)", int(grid[3, 3]), int(grid[3, 3]))
    for name in ("alone", "gallery_image"):
        assert getattr(w, name).value[:4] == b"\x89PNG"
    # the gallery: at most 4 digits in two columns of 4·28 px, with red outlines
    gallery = _png(w.gallery_image.value)
    assert gallery.shape[1] == 2 * 112 + 3 and _is(gallery, MARK).any()

    # 1. another code: the gallery, the code-alone image and the info line follow
    k = values[1]
    old_gallery = w.gallery_image.value
    w.picker.value = k
    assert w.code == k and w.gallery_image.value != old_gallery
    np.testing.assert_array_equal(w.digits, np.flatnonzero((idx == k).any(dim=(1, 2))))
    alone = model.decode_indices(torch.full((1, 7, 7), k))[0, 0].numpy()
    shown = _png(w.alone.value)  # the grid of k everywhere, decoded, at scale 4
    assert shown.shape == (112, 112, 3)
    np.testing.assert_array_equal(shown[::4, ::4, 0], to_uint8(alone))
    expect_info(k, "(3, 3)", int(grid[3, 3]), int(grid[3, 3]))

    # 2. click cell (1, 2), then "put code k here": after = decode of the edited grid
    w.buttons[1 * 7 + 2].click()
    assert w.cell == (1, 2)
    assert [b.button_style for b in w.buttons].count("danger") == 1
    assert w.buttons[9].button_style == "danger"
    w.use.click()
    edited = grid.clone()
    edited[1, 2] = k
    want = model.decode_indices(edited[None])[0, 0].numpy()
    assert w.new_code == k and w.code_box.value == k
    np.testing.assert_allclose(w.after, want, atol=1e-6)
    np.testing.assert_array_equal(w.diff, w.after - w.before)
    expect_info(k, "(1, 2)", int(grid[1, 2]), k)
    assert w.diff.any() == (int(grid[1, 2]) != k)
    # the edited cell is outlined in red on the decoded images (4·4 px cells at scale 4)
    before = _png(w.images[1].value)
    assert _is(before, MARK)[16:32, 32:48].sum() == 16 * 16 - 12 * 12
    assert not _is(before, MARK)[:16].any()

    # 3. any code typed into "new code"
    other = (k + 3) % 16
    w.code_box.value = other
    assert w.new_code == other
    expect_info(k, "(1, 2)", int(grid[1, 2]), other)

    # 4. reset: the cell gets its own code back and nothing changes
    w.reset_button.click()
    assert w.new_code == int(grid[1, 2]) and not w.diff.any()
    expect_info(k, "(1, 2)", int(grid[1, 2]), int(grid[1, 2]))

    # 5. another test digit: its grid and its buttons
    w.index.value = 5
    assert torch.equal(w.grid, idx[5]) and not w.diff.any()
    assert [b.description for b in w.buttons] == [str(v) for v in idx[5].reshape(-1).tolist()]
    np.testing.assert_allclose(w.before, model.decode_indices(idx[5:6])[0, 0].numpy(), atol=1e-6)
    assert w.last_error is None and w.error.value == ""


def test_a_failing_update_is_shown_in_the_widget_not_lost(setup):
    model, x, labels = setup
    w = CodebookBrowser(model, x, labels)
    assert not w.guard(w.select_cell, 9, 0)
    assert "must be in [0, 7)" in w.error.value and w.last_error is not None
    assert w.cell == (3, 3)  # the failed update left the state alone
    w.buttons[0].click()  # the next good update clears it
    assert w.last_error is None and w.error.value == "" and w.cell == (0, 0)
    with pytest.raises(ValueError, match=r"code must be in \[0, 16\), got 16"):
        CodebookBrowser(model, x, labels, code=16)
