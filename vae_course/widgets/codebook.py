"""``CodebookBrowser``: what a VQ-VAE's codes stand for, and what one code changes (chapter 08).

A VQ-VAE turns a 28×28 digit into a 7×7 grid of code indices, each cell over a 4×4 pixel
patch (stride 4). Pick a code k: how many cells use it (a dead code: "used 0 times"), digits
with the cells that chose k outlined, and a grid of k everywhere, decoded. Click a cell of a
test digit's grid, give it another code: the decoded grid before and after, and after −
before. The decoder's receptive field is wider than one cell, so pixels outside the patch
can change too. The logic is plain functions, tested without a browser.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import numpy as np
import torch

from ..inference import eval_mode, model_device
from ..plot import make_grid
from .base import Explorer, as_index_source
from .render import MARK, png_bytes, to_uint8, upscale

__all__ = [
    "CodebookBrowser",
    "encode_grids",
    "decode_grids",
    "code_usage",
    "code_locations",
    "edit_grid",
    "cell_edit_images",
    "outline_cells",
    "diff_rgb",
]

RED, BLUE = np.array([214, 39, 40], np.float32), np.array([31, 119, 180], np.float32)


def _check_vq(model) -> int:
    """The codebook size K of a VQ-VAE; a clear error for any other model."""
    k = getattr(getattr(model, "quantizer", None), "num_codes", None)
    if not isinstance(k, int) or not hasattr(model, "decode_indices"):
        raise ValueError(
            "CodebookBrowser needs a VQ-VAE with a codebook, encode_indices and decode_indices, "
            f"e.g. vae_course.models.VQVAE; got {type(model).__name__}"
        )
    return k


def _grids(indices) -> np.ndarray:
    a = np.asarray(indices.detach().cpu() if isinstance(indices, torch.Tensor) else indices)
    if a.ndim != 3 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"expected integer code grids (N, H', W'), got {a.shape} {a.dtype}")
    return a.astype(np.int64)


@torch.no_grad()
def encode_grids(model, x: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Code indices of images x (N, C, H, W) in [0, 1]: (N, H/4, W/4) int64 on the CPU."""
    _check_vq(model)
    device, out = model_device(model), []
    with eval_mode(model):
        for start in range(0, x.shape[0], batch_size):
            out.append(model.encode_indices(x[start : start + batch_size].to(device)).cpu())
    return torch.cat(out)


@torch.no_grad()
def decode_grids(model, grids) -> np.ndarray:
    """Decode code grids (B, H', W') (int64 in [0, K)): probabilities float32 (B, H, W)."""
    _check_vq(model)
    g = torch.as_tensor(_grids(grids)).to(model_device(model))
    with eval_mode(model):
        probs = model.decode_indices(g).float().cpu()
    return probs.reshape(g.shape[0], *probs.shape[-2:]).numpy()


def code_usage(indices, num_codes: int) -> np.ndarray:
    """How many grid cells of ``indices`` (N, H', W') use each code: int64 (num_codes,)."""
    a = _grids(indices)
    if a.size and (a.min() < 0 or a.max() >= num_codes):
        raise ValueError(f"codes must be in [0, {num_codes}), got {a.min()}..{a.max()}")
    return np.bincount(a.ravel(), minlength=num_codes)


def code_locations(indices, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Where code k is used in grids (N, H', W'): ``(digits, masks)``.

    digits: int64 (M,) the (increasing) numbers of the grids using k in at least one cell;
    masks: bool (M, H', W'), True at the cells of those grids that chose k.
    """
    a = _grids(indices)
    if int(k) < 0:
        raise ValueError(f"code k must be >= 0, got {k}")
    hit = a == int(k)
    digits = np.flatnonzero(hit.any(axis=(1, 2)))
    return digits, hit[digits]


def edit_grid(grid, row: int, col: int, code: int, num_codes: int | None = None) -> torch.Tensor:
    """A copy of one code grid (H', W') with cell (row, col) set to ``code`` (int64).

    The input is left unchanged. row, col must lie in the grid; code in [0, num_codes)
    (only code >= 0 is checked when num_codes is None).
    """
    g = torch.as_tensor(grid)
    if g.dim() != 2 or g.is_floating_point():
        raise ValueError(f"expected one grid of integer codes (H', W'), got {tuple(g.shape)}")
    (h, w), row, col, code = g.shape, int(row), int(col), int(code)
    if not (0 <= row < h and 0 <= col < w):
        raise ValueError(f"cell (row, col) must be in [0, {h}) × [0, {w}), got ({row}, {col})")
    if code < 0 or (num_codes is not None and code >= num_codes):
        raise ValueError(f"code must be in [0, {num_codes if num_codes else 'K'}), got {code}")
    out = g.detach().cpu().clone().long()
    out[row, col] = code
    return out


def cell_edit_images(model, grid, row: int, col: int, code: int):
    """Decode one grid (H', W') before and after setting cell (row, col) to ``code``.

    Returns ``(before, after, diff)``, float32 (H, W): probabilities of the grid and of
    :func:`edit_grid`'s copy, and ``diff = after − before`` in [−1, 1].
    """
    edited = edit_grid(grid, row, col, code, _check_vq(model))
    before, after = decode_grids(model, torch.stack([torch.as_tensor(grid).long().cpu(), edited]))
    return before, after, after - before


def outline_cells(image, mask, scale: int = 1, width: int = 1, colour=MARK, tint: float = 0.0):
    """Frame the image patches under the True cells of ``mask``: RGB uint8 (H·scale, W·scale, 3).

    image: (H, W) grey in [0, 1] (drawn ink-dark, as ``digit_png``) or (H, W, 3) uint8 RGB;
    mask: bool (H', W') with H, W multiples of H', W' (a cell covers an (H/H')×(W/W')
    patch). Each masked patch is blended with ``colour`` by ``tint`` (0: untouched), then
    its outermost ``width`` pixels (after upscaling by ``scale``) are set to ``colour``.
    """
    img, mask = np.asarray(image), np.asarray(mask, dtype=bool)
    if img.ndim == 2:
        rgb = np.repeat(to_uint8(img)[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8:
        rgb = img
    else:
        raise ValueError(f"expected a grey (H, W) or uint8 RGB (H, W, 3) image, got {img.shape}")
    if mask.ndim != 2 or rgb.shape[0] % mask.shape[0] or rgb.shape[1] % mask.shape[1]:
        raise ValueError(f"mask {mask.shape} must tile the image {rgb.shape[:2]} in whole patches")
    ph, pw = (rgb.shape[0] // mask.shape[0]) * scale, (rgb.shape[1] // mask.shape[1]) * scale
    out, colour = upscale(rgb, scale).copy(), np.asarray(colour, np.float32)
    for r, c in zip(*np.nonzero(mask), strict=True):
        patch = out[r * ph : (r + 1) * ph, c * pw : (c + 1) * pw]  # a view into out
        if tint:
            patch[:] = np.round(patch * (1 - tint) + colour * tint).astype(np.uint8)
        patch[:width], patch[-width:] = colour, colour
        patch[:, :width], patch[:, -width:] = colour, colour
    return out


def diff_rgb(diff) -> np.ndarray:
    """A difference (H, W) in [−1, 1] as RGB uint8: white at 0, red for +1, blue for −1."""
    d = np.clip(np.asarray(diff, np.float32), -1, 1)[:, :, None]
    rgb = 255 + np.clip(d, 0, 1) * (RED - 255) + np.clip(-d, 0, 1) * (BLUE - 255)
    return np.round(rgb).astype(np.uint8)


def _tile(images: list[np.ndarray], ncol: int, pad: int = 3) -> np.ndarray:
    """RGB images (H, W, 3) tiled ``ncol`` to a row with white gaps, as ``plot.make_grid``."""
    chans = [make_grid(np.stack(images)[..., ch], ncol, pad, 255.0) for ch in range(3)]
    return np.stack(chans, axis=2).astype(np.uint8)


def _image(css: str, caption: str) -> tuple[widgets.Image, widgets.VBox]:
    """An image (with a class to find it by, thin frame, natural size) above its caption."""
    img = widgets.Image(format="png", layout={"border": "1px solid #ccc"})
    img.add_class(css)
    text = widgets.HTML(f"<small>{caption}</small>")
    return img, widgets.VBox([img, text], layout={"align_items": "flex-start", "margin": "0 6px"})


class CodebookBrowser(Explorer):
    """Pick a code: where it is used. Change one grid cell's code: the decoded change.

    model: a trained :class:`~vae_course.models.VQVAE` (any device); x: images (N, 1, H, W)
    in [0, 1] (the first ``max_n`` are encoded once); labels: their classes (N,) or None
    (checked and kept as ``labels``, as in the other explorers; not drawn);
    index: the test digit to edit; code: the code picked first (None: the most used);
    gallery: how many digits using the code to show; scale: on-screen pixels per pixel.

    State: ``indices`` (N, H', W') the codes of x, ``usage`` (K,) cells per code, ``code``
    the picked k with ``digits``/``masks`` from :func:`code_locations`; ``grid`` the test
    digit's codes, ``cell`` (row, col) the cell being edited, ``new_code`` its new code
    (kept when another cell is clicked), ``before``/``after``/``diff`` from
    :func:`cell_edit_images`. One cell is edited at a time; ``reset`` undoes it.
    """

    css_class = "latent-codebook"

    def __init__(
        self,
        model,
        x: torch.Tensor,
        labels=None,
        index: int = 0,
        code: int | None = None,
        gallery: int = 8,
        scale: int = 4,
        max_n: int | None = 2000,
    ):
        super().__init__(model)
        self.num_codes = k_max = _check_vq(model)
        if code is not None and not 0 <= int(code) < k_max:
            raise ValueError(f"code must be in [0, {k_max}), got {code}")
        self.x, self.labels = as_index_source(x, labels, max_n)
        self.gallery, self.scale = int(gallery), int(scale)
        self.indices = encode_grids(model, self.x)
        self.usage = code_usage(self.indices, k_max)
        gh, gw = self.indices.shape[1:]
        patch = f"{self.x.shape[-2] // gh}×{self.x.shape[-1] // gw}"
        self.cell, self.new_code = (gh // 2, gw // 2), 0

        order = sorted(range(k_max), key=lambda k: (-self.usage[k], k))
        names = [(f"{k}: used {self.usage[k]} times", k) for k in order]
        first = order[0] if code is None else int(code)
        self.picker = widgets.Dropdown(options=names, value=first, description="code k")
        self.picker.observe(self.callback(lambda _: self.draw_code()), names="value")
        summary = widgets.HTML(
            f"<small>{k_max} codes, {int((self.usage == 0).sum())} of them dead (used 0 "
            f"times) in the {gh}×{gw} grids of {len(self.x)} digits; sorted by use</small>"
        )
        self.alone, alone_box = _image("latent-code-alone", "every cell = k, decoded")
        self.gallery_image, gallery_box = _image(
            "latent-code-gallery", f"digits using k: the {patch} patches under k outlined"
        )

        self.index = widgets.BoundedIntText(value=int(index), min=0, max=len(self.x) - 1)
        self.code_box = widgets.BoundedIntText(value=0, min=0, max=k_max - 1)
        self.index.description, self.code_box.description = "test digit #", "new code"
        self.index.layout.width = self.code_box.layout.width = "210px"
        self.index.add_class("latent-index")
        self.code_box.add_class("latent-new-code")
        self.index.observe(self.callback(lambda _: self.load_digit()), names="value")
        self.code_box.observe(self.callback(lambda c: self.set_code(c["new"])), names="value")
        self.use = widgets.Button(description="put code k here", icon="pencil")
        self.use.on_click(self.callback(lambda _: self.set_code(self.code)))
        self.reset_button = widgets.Button(description="reset", icon="undo")
        self.reset_button.on_click(self.callback(lambda _: self.reset()))
        self.use.layout.width = self.reset_button.layout.width = "auto"
        self.buttons = []
        for r, c in np.ndindex(gh, gw):
            b = widgets.Button(layout=widgets.Layout(width="36px", height="28px", padding="0"))
            b.add_class("latent-cell")
            b.on_click(self.callback(lambda _, r=r, c=c: self.select_cell(r, c)))
            self.buttons.append(b)
        cells = widgets.GridBox(
            self.buttons, layout={"grid_template_columns": f"repeat({gw}, 36px)"}
        )
        hint = widgets.HTML(f"<small>its {gh}×{gw} codes: click a cell</small>")
        captions = ["test digit", "decoded codes", "decoded after the edit", "after − before"]
        pairs = [_image(f"latent-edit-{i}", t) for i, t in enumerate(captions)]
        self.images = [im for im, _ in pairs]
        self.info = widgets.HTML()
        self.info.add_class("latent-info")
        note = (
            f"<small>The edited cell sits over the outlined {patch} patch, but the decoder sees "
            "neighbouring cells too: pixels outside it can change. Red: more ink, blue: less."
            "</small>"
        )
        self.finish(
            [
                widgets.HTML("<b>1. Pick a code k: where is it used?</b>"),
                widgets.HBox([self.picker, summary]),
                widgets.HBox([alone_box, gallery_box]),
                widgets.HTML("<b>2. Edit one cell of a test digit</b>"),
                widgets.HBox([self.index, self.code_box, self.use, self.reset_button]),
                widgets.HBox([widgets.VBox([cells, hint]), *(box for _, box in pairs)]),
                widgets.HTML(note),
                self.info,
            ]
        )

    # ----------------------------------------------------------------- state changes
    def redraw(self) -> None:
        """Draw both parts: the picked code, then the test digit with no edit."""
        self.draw_code(edit=False)
        self.load_digit()

    def draw_code(self, edit: bool = True) -> None:
        """Show where the picked code is used and what it draws alone."""
        self.code, s = int(self.picker.value), self.scale
        self.digits, self.masks = code_locations(self.indices, self.code)
        alone = decode_grids(self.model, torch.full((1, *self.indices.shape[1:]), self.code))[0]
        self.alone.value = png_bytes(upscale(to_uint8(alone), s))
        n = self.gallery
        shown = [
            outline_cells(self.x[i, 0].detach().float().cpu().numpy(), m, s, 1, tint=0.3)
            for i, m in zip(self.digits[:n], self.masks[:n], strict=True)
        ] or [np.full((alone.shape[0] * s, alone.shape[1] * s, 3), 235, np.uint8)]
        self.gallery_image.value = png_bytes(_tile(shown, ncol=max(1, -(-n // 2))))
        self.use.description = f"put code {self.code} here"
        if edit:  # the info line names the code
            self._draw_edit()

    def load_digit(self) -> None:
        """Take the chosen test digit's codes (encoded once) and show them unedited."""
        self.grid = self.indices[int(self.index.value)]
        for b, k in zip(self.buttons, self.grid.reshape(-1).tolist(), strict=True):
            b.description = str(k)
        self.reset()

    def select_cell(self, row: int, col: int) -> None:
        """Edit cell (row, col) instead, with the same new code."""
        edit_grid(self.grid, row, col, self.new_code, self.num_codes)  # validates
        self.cell = (int(row), int(col))
        self._draw_edit()

    def set_code(self, code: int) -> None:
        """Give the selected cell the code ``code`` and redraw the edit."""
        edit_grid(self.grid, *self.cell, code, self.num_codes)  # validates
        self.new_code = int(code)
        with self.quietly():
            self.code_box.value = self.new_code
        self._draw_edit()

    def reset(self) -> None:
        """Undo the edit: the selected cell gets its own code back."""
        self.set_code(int(self.grid[self.cell]))

    def _draw_edit(self) -> None:
        (r, c), gw = self.cell, self.grid.shape[1]
        edit = cell_edit_images(self.model, self.grid, r, c, self.new_code)
        self.before, self.after, self.diff = edit
        mask = np.arange(self.grid.numel()).reshape(self.grid.shape) == r * gw + c
        x = self.x[int(self.index.value), 0].detach().float().cpu().numpy()
        pics = [x, self.before, self.after, diff_rgb(self.diff)]
        for im, pic, colour in zip(self.images, pics, [MARK] * 3 + [(40, 40, 40)], strict=True):
            im.value = png_bytes(outline_cells(pic, mask, self.scale, 2, colour))
        for i, b in enumerate(self.buttons):
            b.button_style = "danger" if i == r * gw + c else ""
        old, changed = int(self.grid[r, c]), int((np.abs(self.diff) > 0.1).sum())
        self.info.value = html.escape(
            f"code {self.code}: used in {self.usage[self.code]} cells of {len(self.digits)} "
            f"digits; cell ({r}, {c}): code {old} → {self.new_code}; "
            f"pixels changed by more than 0.1: {changed}"
        )
