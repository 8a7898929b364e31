"""Figures of the course: image grids, loss curves, latent scatter. Each returns a Figure.

Inputs are CPU or GPU tensors or NumPy arrays; nothing here trains or encodes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = [
    "plot_comparison_curves",
    "plot_score_histograms",
    "make_grid",
    "show_images",
    "plot_loss_curves",
    "plot_latent_scatter",
    "latent_grid",
    "plot_latent_map",
    "plot_mi_matrix",
    "plot_rate_distortion",
    "plot_vae_architecture",
    "plot_reparameterization_graph",
    "plot_code_in_use",
    "plot_codebook_usage",
    "plot_schedules",
    "plot_strategy_curves",
    "plot_kl_per_dim",
]


def _np(a) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu().float().numpy()
    return np.asarray(a)


def make_grid(images, nrow: int = 10, pad: int = 1, pad_value: float = 1.0) -> np.ndarray:
    """Tile images (N, 1, H, W), (N, H, W) or (N, H*W) with square H=W into one 2-D array.

    Returns (rows·(H+pad)−pad, nrow·(W+pad)−pad) floats; empty cells are ``pad_value``.
    """
    a = _np(images)
    if a.ndim == 4:
        if a.shape[1] != 1:
            raise ValueError(f"make_grid expects one channel, got shape {a.shape}")
        a = a[:, 0]
    elif a.ndim == 2:
        side = int(round(np.sqrt(a.shape[1])))
        if side * side != a.shape[1]:
            raise ValueError(f"cannot reshape rows of {a.shape[1]} values into square images")
        a = a.reshape(-1, side, side)
    elif a.ndim != 3:
        raise ValueError(f"expected (N, 1, H, W), (N, H, W) or (N, H*W), got shape {a.shape}")
    n, h, w = a.shape
    if n == 0:
        raise ValueError("no images to show")
    ncol = min(nrow, n)
    rows = int(np.ceil(n / ncol))
    grid = np.full((rows * (h + pad) - pad, ncol * (w + pad) - pad), pad_value, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, ncol)
        grid[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = a[i]
    return grid


def show_images(images, nrow: int = 10, title: str | None = None, ax=None, scale: float = 0.6):
    """Show a grid of grey images in [0, 1] (dark ink on white, thin grey separators).

    Returns the Figure.
    """
    grid = make_grid(images, nrow=nrow, pad_value=0.25)
    if ax is None:
        h, w = grid.shape
        fig, ax = plt.subplots(figsize=(max(2.0, scale * w / 28), max(1.2, scale * h / 28)))
    else:
        fig = ax.figure
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def plot_loss_curves(history: dict, figsize=(11, 3.2)):
    """Three panels over epochs: loss (−ELBO), reconstruction term, KL term; train and val.

    ``history`` is what :func:`vae_course.train.fit` returns. The reconstruction panel
    shows −E_q[log p(x|z)] (nats, lower is better) so all three panels go down when
    training works, except the KL, which usually rises first and then settles.
    """
    epochs = history["epoch"]
    panels = [
        ("loss", "loss = −ELBO (β-weighted)", 1.0),
        ("reconstruction", "reconstruction  −E[log p(x|z)]", -1.0),
        ("kl", "KL(q(z|x) ‖ p(z))", 1.0),
    ]
    fig, axes = plt.subplots(1, 3, figsize=figsize)
    for ax, (key, title, sign) in zip(axes, panels, strict=True):
        for split, style in (("train", "-"), ("val", "--")):
            values = history.get(f"{split}_{key}")
            if values:
                ax.plot(epochs, [sign * v for v in values], style, marker=".", label=split)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per example")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_latent_scatter(z, labels=None, ax=None, figsize=(5, 4.5), title="encoded test set"):
    """Scatter 2-D latent codes (N, 2) coloured by integer labels; returns the Figure."""
    z = _np(z)
    if z.ndim != 2 or z.shape[1] != 2:
        raise ValueError(f"expected latent codes of shape (N, 2), got {z.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    if labels is None:
        ax.scatter(z[:, 0], z[:, 1], s=4, alpha=0.6)
    else:
        labels = _np(labels).astype(int)
        sc = ax.scatter(
            z[:, 0], z[:, 1], c=labels, cmap="tab10", s=5, alpha=0.8, vmin=-0.5, vmax=9.5
        )
        fig.colorbar(sc, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    return fig


def latent_grid(n: int = 15, span: float = 3.0) -> torch.Tensor:
    """Points of an n×n grid over [−span, span]² as a (n·n, 2) tensor, row-major from top-left.

    Rows go from +span (top) to −span (bottom) so a decoded grid shown as an image has
    the same orientation as a scatter plot of z.
    """
    lin = torch.linspace(-span, span, n)
    z2, z1 = torch.meshgrid(lin.flip(0), lin, indexing="ij")
    return torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1)


def plot_latent_map(model, x, labels=None, title="", n: int = 15, span: float = 3.0):
    """A 2-D latent space seen from both sides; returns (Figure, posterior means (N, 2)).

    Left: the posterior means of ``x`` (N, C, H, W) coloured by ``labels``, with the
    prior's 1σ and 2σ circles. Right: ``model.decode`` over an n×n grid on [−span, span]²
    (sigmoid of the logits), on the same axes, so a digit's place on the left shows what
    the decoder draws there. ``model`` needs ``encode`` → (mu, logvar) with d = 2 and
    ``decode`` → logits of square single-channel images; it runs on the model's device.
    """
    dev = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        mu = model.encode(x.to(dev))[0].cpu()
        if mu.shape[1] != 2:
            raise ValueError(f"plot_latent_map needs a 2-D latent space, got d = {mu.shape[1]}")
        images = torch.sigmoid(model.decode(latent_grid(n, span).to(dev))).cpu()
    frame = span + 0.2
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.8))
    plot_latent_scatter(mu, labels, ax=ax1, title=f"{title}: posterior means".lstrip(": "))
    for r in (1, 2):  # the prior's 1-sigma and 2-sigma circles
        ax1.add_patch(plt.Circle((0, 0), r, fill=False, ls="--", color="k", lw=0.8))
    ax1.set(xlim=(-frame, frame), ylim=(-frame, frame), aspect="equal")
    ax2.imshow(
        1 - make_grid(images, nrow=n, pad=0), cmap="gray", extent=(-frame, frame, -frame, frame)
    )
    ax2.set(
        xlabel="$z_1$",
        ylabel="$z_2$",
        title=f"{title}: decoded grid over $[-{span:g}, {span:g}]^2$".lstrip(": "),
    )
    return fig, mu


# ----------------------------------------------------------------------------- chapter 05
def plot_mi_matrix(mi, factor_names, ax=None, entropies=None, title="I(code; factor), nats"):
    """Heatmap of a (codes × factors) mutual-information matrix; returns the Figure.

    mi: (d, K) nats (e.g. :func:`vae_course.disentanglement.mutual_information_matrix`);
    factor_names: K names. With ``entropies`` (K,) each column's header shows H(factor),
    the most any code can share with it. Every cell is annotated with its value.
    """
    m = _np(mi).astype(float)
    if m.ndim != 2 or m.shape[1] != len(factor_names):
        raise ValueError(f"mi must be (codes, {len(factor_names)} factors), got {m.shape}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.0 + 0.9 * m.shape[1], 0.9 + 0.32 * m.shape[0]))
    else:
        fig = ax.figure
    vmax = max(float(m.max()), 1e-9) if entropies is None else float(np.max(_np(entropies)))
    im = ax.imshow(m, cmap="viridis", vmin=0, vmax=vmax, aspect="auto")
    for (i, j), v in np.ndenumerate(m):
        ax.text(
            j,
            i,
            f"{v:.2f}",
            ha="center",
            va="center",
            fontsize=7,
            color="white" if v < 0.6 * vmax else "black",
        )
    labels = list(factor_names)
    if entropies is not None:
        labels = [f"{n}\nH={h:.2f}" for n, h in zip(labels, _np(entropies), strict=True)]
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_yticks(range(m.shape[0]), [f"z{i}" for i in range(m.shape[0])], fontsize=8)
    ax.set_xlabel("true factor")
    ax.set_ylabel("latent code (posterior mean)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="nats", fraction=0.05)
    return fig


def plot_rate_distortion(points, ax=None, title="rate–distortion plane"):
    """Each run a point: rate R = KL (nats) on x, distortion D = −reconstruction (nats) on y.

    points: iterable of ``(label, rate, distortion)`` (e.g. one per β and seed); runs that
    share a label share a colour. Lines of constant ELBO = −(D + R) run at −45°; returns
    the Figure.
    """
    pts = list(points)
    if not pts:
        raise ValueError("no points to plot: give (label, rate, distortion) triples")
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4))
    else:
        fig = ax.figure
    labels = list(dict.fromkeys(p[0] for p in pts))
    colours = plt.get_cmap("viridis")(np.linspace(0.05, 0.9, len(labels)))
    for lab, col in zip(labels, colours, strict=True):
        r = [p[1] for p in pts if p[0] == lab]
        d = [p[2] for p in pts if p[0] == lab]
        ax.scatter(r, d, color=col, label=str(lab), s=40, edgecolor="black", linewidth=0.5)
    rs = np.array([p[1] for p in pts])
    ds = np.array([p[2] for p in pts])
    for elbo in np.linspace((rs + ds).min(), (rs + ds).max(), 3):
        xs = np.linspace(0, rs.max() * 1.1, 2)
        ax.plot(xs, elbo - xs, color="grey", lw=0.6, ls=":")
    ax.set_xlim(0, rs.max() * 1.15 + 0.5)
    ax.set_ylim(ds.min() * 0.9, ds.max() * 1.05)
    ax.set_xlabel("rate R = KL(q(z|x) ‖ p(z))  [nats]")
    ax.set_ylabel("distortion D = −E[log p(x|z)]  [nats]")
    ax.set_title(title + "  (dotted: equal ELBO)", fontsize=10)
    ax.legend(fontsize=8)
    return fig


# ----------------------------------------------------------------------------- diagrams
def plot_vae_architecture(encoder=(784, 512, 256), latent: int = 20, ax=None):
    """Draw an MLP VAE's architecture: encoder layers, (μ, log σ²), the sampled z, decoder.

    encoder: layer widths from the input to the last hidden layer (the decoder mirrors
    them); latent: d. Box heights grow with log(width). Returns the Figure.
    """
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    widths = [int(w) for w in encoder]
    if len(widths) < 1 or latent < 1:
        raise ValueError(f"need at least the input width and latent >= 1, got {encoder}, {latent}")
    if ax is None:
        fig, ax = plt.subplots(figsize=(11, 3.2))
    else:
        fig = ax.figure
    cols: list[tuple[str, list[tuple[str, int, str]]]] = []
    cols.append(("x", [(f"x\n{widths[0]}", widths[0], "#d9d9d9")]))
    for w in widths[1:]:
        cols.append(("enc", [(f"{w}\nReLU", w, "#9ecae1")]))
    cols.append(
        ("stats", [(f"μ\n{latent}", latent, "#fdae6b"), (f"log σ²\n{latent}", latent, "#fdae6b")])
    )
    cols.append(("z", [(f"z\n{latent}", latent, "#fd8d3c")]))
    for w in reversed(widths[1:]):
        cols.append(("dec", [(f"{w}\nReLU", w, "#a1d99b")]))
    cols.append(("logits", [(f"logits\n{widths[0]}", widths[0], "#d9d9d9")]))
    scale = 1.8 / np.log(max(widths[0], 2) + 1)
    centres = []
    for c, (_kind, boxes) in enumerate(cols):
        xs = c * 1.35
        ys = [0.0] if len(boxes) == 1 else [0.75, -0.75]
        here = []
        for (label, w, colour), y in zip(boxes, ys, strict=True):
            h = 0.5 + scale * np.log(w + 1)
            if len(boxes) == 2:
                h = min(h, 1.2)
            ax.add_patch(
                FancyBboxPatch(
                    (xs - 0.45, y - h / 2),
                    0.9,
                    h,
                    boxstyle="round,pad=0.02",
                    fc=colour,
                    ec="black",
                    lw=0.8,
                )
            )
            ax.text(xs, y, label, ha="center", va="center", fontsize=8)
            here.append((xs, y))
        centres.append(here)
    for left, right in zip(centres[:-1], centres[1:], strict=True):
        for a in left:
            for b in right:
                ax.add_patch(
                    FancyArrowPatch(
                        (a[0] + 0.47, a[1]),
                        (b[0] - 0.47, b[1]),
                        arrowstyle="-|>",
                        mutation_scale=8,
                        lw=0.8,
                    )
                )
    zx = centres[len(widths) + 1][0][0]
    ax.text(zx, -1.55, "z = μ + σ·ε,  ε ~ N(0, I)", ha="center", fontsize=8, style="italic")
    n_enc = len(widths) + 1
    ax.text(1.35 * (n_enc - 1) / 2, 2.05, "encoder q(z|x)", ha="center", fontsize=10)
    ax.text(
        1.35 * (n_enc + 1 + (len(cols) - 1)) / 2, 2.05, "decoder p(x|z)", ha="center", fontsize=10
    )
    ax.set_xlim(-0.7, 1.35 * (len(cols) - 1) + 0.7)
    ax.set_ylim(-1.9, 2.3)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig


def plot_reparameterization_graph(ax=None):
    """Two computation graphs side by side: z sampled directly (no gradient path to μ, σ)
    and z = μ + σ·ε (the randomness moved into ε, a gradient path to μ and σ). Returns the
    Figure; the nodes' labels are its texts (``ax``: two Axes to draw into, or None)."""
    if ax is None:
        fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    else:
        fig, axes = ax.flat[0].figure if hasattr(ax, "flat") else ax[0].figure, ax
    z_left, z_right = "z ~ N(μ, σ²)", "z = μ + σ·ε"
    right_of, left_of, above, below = (1, 0.5), (0, 0.5), (0.5, 1), (0.5, 0)
    graphs = [
        (
            "sampling node: z ~ N(μ, σ²)",
            {"φ": (0, 1), "μ": (1, 1.6), "σ": (1, 0.4), z_left: (2.3, 1), "f(z)": (3.5, 1)},
            # (from, to, anchor on from, anchor on to, does the gradient of f flow back?)
            [
                ("φ", "μ", right_of, left_of, False),
                ("φ", "σ", right_of, left_of, False),
                ("μ", z_left, right_of, above, False),
                ("σ", z_left, right_of, below, False),
                (z_left, "f(z)", right_of, left_of, True),
            ],
            {z_left: "#fb6a4a"},
        ),
        (
            "reparameterized: z = μ + σ·ε",
            {
                "φ": (0, 1),
                "μ": (1, 1.6),
                "σ": (1, 0.4),
                "ε ~ N(0, 1)": (2.3, -0.3),
                z_right: (2.3, 1),
                "f(z)": (3.5, 1),
            },
            [
                ("φ", "μ", right_of, left_of, True),
                ("φ", "σ", right_of, left_of, True),
                ("μ", z_right, right_of, above, True),
                ("σ", z_right, right_of, below, True),
                ("ε ~ N(0, 1)", z_right, above, below, False),
                (z_right, "f(z)", right_of, left_of, True),
            ],
            {"ε ~ N(0, 1)": "#fb6a4a", z_right: "#74c476"},
        ),
    ]
    for a, (title, nodes, edges, colours) in zip(np.atleast_1d(axes), graphs, strict=True):
        texts = {
            name: a.text(
                x,
                y,
                name,
                ha="center",
                va="center",
                fontsize=11,
                bbox={"boxstyle": "round", "fc": colours.get(name, "#deebf7"), "ec": "black"},
            )
            for name, (x, y) in nodes.items()
        }
        for u, v, start, end, grad in edges:
            a.annotate(
                "",
                xy=end,
                xycoords=texts[v],
                xytext=start,
                textcoords=texts[u],
                arrowprops={"arrowstyle": "-|>", "lw": 1.2, "shrinkA": 6, "shrinkB": 6},
            )
            if grad:  # the backward pass: the gradient of f travels the same edge in reverse
                a.annotate(
                    "",
                    xy=start,
                    xycoords=texts[u],
                    xytext=end,
                    textcoords=texts[v],
                    arrowprops={
                        "arrowstyle": "-|>",
                        "lw": 1.2,
                        "ls": "--",
                        "color": "#2171b5",
                        "shrinkA": 6,
                        "shrinkB": 6,
                        "connectionstyle": "arc3,rad=0.35",
                    },
                )
        a.set_title(title, fontsize=12)
        a.set_xlim(-0.4, 3.9)
        a.set_ylim(-0.9, 2.1)
        a.axis("off")
    left = np.atleast_1d(axes)[0]
    left.text(2.3, 0.25, "gradient stops here", color="#cb181d", ha="center", fontsize=10)
    left.text(
        1.7,
        -0.7,
        "black: forward pass    red: random node    blue dashed: gradient of f flowing back",
        fontsize=9,
        ha="center",
    )
    return fig


def plot_code_in_use(model, x, grids, code: int, digit: int = 0, cell=(3, 3), n_shown: int = 4):
    """One VQ-VAE code: where it is used, and what it does when put into one cell.

    x: images (N, 1, H, W) in [0, 1]; grids: their code indices (N, H', W') (from
    ``model.encode_indices``). Left: the first ``n_shown`` digits using ``code``, its cells
    tinted and framed. Right: digit ``digit``'s grid decoded before and after setting
    ``cell`` to ``code`` (the cell framed), and after − before (red: more ink).
    Returns the Figure.
    """
    from .widgets.codebook import cell_edit_images, code_locations, outline_cells

    digits, masks = code_locations(grids, code)
    row, col = (int(c) for c in cell)
    before, after, diff = cell_edit_images(model, grids[digit], row, col, code)
    frame = np.zeros(tuple(grids.shape[1:]), dtype=bool)
    frame[row, col] = True
    fig, axes = plt.subplots(1, n_shown + 3, figsize=(2.3 * (n_shown + 3), 2.9))
    for ax, d, mask in zip(axes[:n_shown], digits, masks, strict=False):  # fewer digits: blank
        ax.imshow(outline_cells(_np(x[d, 0]), mask, scale=4, width=2, tint=0.3))
        ax.set_title(f"test digit {d}")
    old = int(grids[digit][row, col])
    pictures = (
        (before, f"decoded\ncell {cell} = code {old}"),
        (after, f"decoded\nwith code {code} there"),
    )
    for ax, (img, title) in zip(axes[n_shown : n_shown + 2], pictures, strict=True):
        ax.imshow(outline_cells(img, frame, scale=4, width=2))
        ax.set_title(title)
    shown = axes[-1].imshow(diff, cmap="RdBu_r", vmin=-1, vmax=1)
    axes[-1].set_title("after − before")
    fig.colorbar(shown, ax=axes[-1], fraction=0.046, pad=0.04)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(
        f"code {code}: used in {int(masks.sum())} cells of {len(digits)} digits (left); "
        f"put into one cell of digit {digit} (right)"
    )
    return fig


def plot_codebook_usage(usages: dict, figsize=(11, 3.3)):
    """Codebook usage of several VQ-VAE runs, from :func:`vae_course.metrics.codebook_usage`.

    ``usages``: run name → list of usage dicts, one per epoch (index 0: before training).
    Left: perplexity per epoch. Right: the last epoch's counts per code, most used first,
    plus 1 on a log axis (so dead codes show at 1); the legend counts the dead codes.
    Returns the Figure.
    """
    fig, axes = plt.subplots(1, 2, figsize=figsize)
    for name, usage in usages.items():
        if not usage:
            raise ValueError(f"run {name!r} has no usage records")
        axes[0].plot(range(len(usage)), [u["perplexity"] for u in usage], marker="o", label=name)
        counts = torch.as_tensor(usage[-1]["counts"]).sort(descending=True).values
        label = f"{name}: {usage[-1]['dead']} dead"
        axes[1].step(range(1, len(counts) + 1), counts + 1, where="mid", label=label)
    axes[0].set(xlabel="epoch (0: before training)", ylabel="perplexity (codes)")
    axes[0].set_title("effective number of codes, test digits")
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    axes[1].set(
        yscale="log", xlabel="codes, most used first", ylabel="cells of the test digits + 1"
    )
    axes[1].set_title("usage after training (dead codes at 1)")
    for ax in axes:
        ax.legend()
    return fig


def plot_schedules(schedules: dict, total_steps: int, steps_per_epoch: int | None = None, ax=None):
    """The KL weight β of each schedule over ``total_steps`` optimisation steps.

    ``schedules``: name → a float or a callable ``step -> beta`` (``vae_course.schedules``).
    With ``steps_per_epoch`` the x axis is in epochs. Returns the Axes.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 2.6))
    steps = np.arange(total_steps)
    x = steps / steps_per_epoch if steps_per_epoch else steps
    for name, schedule in schedules.items():
        beta = np.array(
            [schedule(int(t)) if callable(schedule) else float(schedule) for t in steps]
        )
        ax.plot(x, beta, label=name, ls="--" if np.ptp(beta) == 0 else "-")  # constants dashed
    ax.set(xlabel="epoch" if steps_per_epoch else "step", ylabel="β (KL weight)")
    ax.set_title("KL weight over training")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


STRATEGY_CURVES = (
    ("test_elbo", "test ELBO (nats)"),
    ("test_kl", "test KL (nats)"),
    ("test_active", "active units (Var μ > 0.01)"),
    ("test_dims_over_0_1", "dimensions > 0.1 nats"),
    ("test_mi", "I_q(x; z) (nats)"),
)


def plot_strategy_curves(runs, keys=STRATEGY_CURVES, figsize=(14, 3.0)):
    """Per-epoch test curves of strategy runs (:class:`vae_course.strategies.StrategyRun`).

    One panel per (history key, label); one line per run, coloured by strategy (seeds of a
    strategy share its colour). Returns the Figure.
    """
    runs = list(runs)
    if not runs:
        raise ValueError("no runs to plot")
    fig, axes = plt.subplots(1, len(keys), figsize=figsize)
    colours: dict[str, str] = {}
    for run in runs:
        colour = colours.setdefault(run.name, f"C{len(colours)}")
        for ax, (key, _) in zip(axes, keys, strict=True):
            if key not in run.history:
                raise ValueError(f"run {run.name!r} has no {key!r} in its history")
            values = run.history[key]
            label = (
                run.name if run.seed == min(r.seed for r in runs if r.name == run.name) else None
            )
            ax.plot(range(1, len(values) + 1), values, color=colour, label=label)
    for ax, (_, label) in zip(axes, keys, strict=True):
        ax.set(xlabel="epoch", title=label)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_kl_per_dim(kl_per_dim: dict, ax=None, threshold: float | None = None):
    """Each run's KL per latent dimension, sorted from largest, on a log axis.

    ``kl_per_dim``: name → (D,) nats. ``threshold`` draws a dashed line (e.g. a free-bits λ).
    Returns the Axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3))
    for name, kl in kl_per_dim.items():
        kl = torch.as_tensor(kl).detach().cpu()
        if kl.dim() != 1:
            raise ValueError(
                f"{name!r}: expected KL per dimension of shape (D,), got {tuple(kl.shape)}"
            )
        values = kl.sort(descending=True).values.clamp(min=1e-4).numpy()
        ax.step(np.arange(1, len(values) + 1), values, where="mid", label=name)
    if threshold is not None:
        ax.axhline(threshold, color="k", ls="--", lw=0.8, label=f"{threshold:g} nats")
    ax.set(yscale="log", xlabel="latent dimensions, largest KL first", ylabel="KL (nats)")
    ax.set_title("KL per dimension on the test digits")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_score_histograms(panels: dict, bins: int = 40, figsize=(11, 3.3)):
    """Side-by-side histograms of scores, one panel per score, one outline per group.

    panels: ``{xlabel: {group: scores (N,)}}``; every panel should hold the same groups (the
    same colour in each). Each panel's range covers all its scores. Densities, so groups of
    different sizes compare. Returns the Figure.
    """
    if not panels:
        raise ValueError("no panels to plot")
    fig, axes = plt.subplots(1, len(panels), figsize=figsize, squeeze=False)
    for ax, (xlabel, groups) in zip(axes[0], panels.items(), strict=True):
        if not groups:
            raise ValueError(f"panel {xlabel!r} has no groups")
        values = {name: _np(s).ravel() for name, s in groups.items()}
        lo = min(float(v.min()) for v in values.values())
        hi = max(float(v.max()) for v in values.values())
        for i, (name, v) in enumerate(values.items()):
            ax.hist(
                v,
                bins=bins,
                range=(lo, hi),
                histtype="step",
                density=True,
                lw=1.5,
                color=f"C{i}",
                label=name,
            )
        ax.set(xlabel=xlabel, ylabel="density")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_comparison_curves(runs: dict, figsize=(12, 3)):
    """Training curves of chapter 12's three models (:func:`vae_course.comparison.train_three`).

    Panels: the autoencoder's −log p(x|z) and the VAE's −ELBO (nats per digit); the GAN's
    discriminator and generator losses (nats); the discriminator's mean D(x) on real digits and
    D(G(z)) on generated ones. x axis: epochs from 1. Returns the Figure.
    """
    missing = {"autoencoder", "VAE", "GAN"} - set(runs)
    if missing:
        raise ValueError(f"runs needs the models {sorted(missing)} (from train_three)")
    h_ae, h_vae, h_gan = (runs[n]["history"] for n in ("autoencoder", "VAE", "GAN"))
    fig, axes = plt.subplots(1, 3, figsize=figsize)
    panels = [
        (
            "nats per digit",
            "AE and VAE losses",
            [(h_ae["train_loss"], "autoencoder: −log p(x|z)"), (h_vae["train_loss"], "VAE: −ELBO")],
        ),
        (
            "nats",
            "GAN losses",
            [(h_gan["d_loss"], "discriminator"), (h_gan["g_loss"], "generator")],
        ),
        (
            "probability 'real'",
            "the discriminator's verdicts",
            [(h_gan["d_real"], "D(x), real digits"), (h_gan["d_fake"], "D(G(z)), generated")],
        ),
    ]
    for ax, (ylabel, title, lines) in zip(axes, panels, strict=True):
        for values, label in lines:
            ax.plot(range(1, len(values) + 1), values, label=label)
        ax.set(xlabel="epoch", ylabel=ylabel, title=title)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
