"""Run notebook 04's FULL_RUN configuration and store its evidence under docs/full_run/.

    nice -n 15 .venv/bin/python scripts/full_run_04.py            # the FULL_RUN config
    .venv/bin/python scripts/full_run_04.py --epochs 3 --out /tmp/x  # a quick smoke run

The configuration is notebook 04's with ``FULL_RUN = True``: the guide's MLPVAE 784-512-256-20,
trained with Adam (lr 1e-3, batch 128, seed 0) on the 4,000 bundled training digits, dynamically
binarized (``transform=dynamic_binarize``), and evaluated on the course's fixed, seeded
binarization of the 1,000 test digits (``load_mnist(binarize="static")``). Every
``--every`` epochs it records the test-set KL per latent dimension and the active-unit count
(Burda et al.'s Var_x E_q[z_u|x] > 0.01), and at the end the IWAE_k bounds (nats and bits/dim)
on the test set and the ELBO on a fixed binarization of the *training* set (the gap between the
two is the over-fitting evidence). Writes ``04_full_run.json``, ``04_curves.png``,
``04_units.png`` into ``--out`` and the page ``docs/full_run_04.md`` (only with the default out).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from vae_course.data import dynamic_binarize, load_mnist  # noqa: E402
from vae_course.device import seed_everything  # noqa: E402
from vae_course.metrics import (  # noqa: E402
    active_units,
    elbo_estimate,
    iwae_log_likelihood,
    kl_per_dimension,
    nats_to_bits_per_dim,
)
from vae_course.models import MLPVAE  # noqa: E402
from vae_course.plot import plot_loss_curves  # noqa: E402
from vae_course.train import fit  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "full_run"


def run(epochs: int, every: int, ks: tuple[int, ...], seed: int = 0) -> tuple[dict, MLPVAE]:
    """Train the FULL_RUN model and return (results dict, trained model). CPU only."""
    grey = load_mnist()
    fixed = load_mnist(binarize="static")
    x_train, x_test = grey.x_train, fixed.x_test
    gen = torch.Generator().manual_seed(seed + 1)
    x_train_fixed = torch.bernoulli(x_train, generator=gen)  # one fixed binarization of train

    seed_everything(seed)
    model = MLPVAE(latent_dim=20, hidden_dims=(512, 256))
    checkpoints: list[dict] = []

    def record(epoch: int, history: dict) -> None:
        if epoch % every and epoch not in (1, epochs):  # fit counts epochs from 1
            return
        kl = kl_per_dimension(model, x_test)
        n_active, _ = active_units(model, x_test)
        checkpoints.append(
            {
                "epoch": epoch,
                "active_units": n_active,
                "units_above_0.5_nats": int((kl > 0.5).sum()),
                "units_below_0.01_nats": int((kl < 0.01).sum()),
                "kl_per_dim_sorted": [round(float(v), 4) for v in kl.sort(descending=True).values],
            }
        )
        model.train()

    start = time.perf_counter()
    history = fit(
        model,
        x_train,
        x_test,
        epochs=epochs,
        transform=dynamic_binarize,
        device="cpu",
        seed=seed,
        progress=False,
        callback=record,
    )
    train_seconds = time.perf_counter() - start

    seed_everything(seed + 2)
    test = elbo_estimate(model, x_test)
    train = elbo_estimate(model, x_train_fixed)
    iwae = {k: iwae_log_likelihood(model, x_test, k=k) for k in ks}
    val = history["val_loss"]
    best = min(range(len(val)), key=val.__getitem__)
    results = {
        "config": {
            "model": "MLPVAE(latent_dim=20, hidden_dims=(512, 256))",
            "parameters": sum(p.numel() for p in model.parameters()),
            "data": "bundled MNIST, 4,000 train (dynamically binarized) / 1,000 test (fixed binarization)",
            "epochs": epochs,
            "batch_size": 128,
            "lr": 1e-3,
            "seed": seed,
            "device": "cpu",
            "torch": torch.__version__,
            "machine": platform.machine(),
            "threads": torch.get_num_threads(),
        },
        "train_seconds": round(train_seconds, 1),
        "history": {key: [round(float(v), 3) for v in vals] for key, vals in history.items()},
        "test_elbo": round(test["elbo"], 2),
        "test_kl": round(test["kl"], 2),
        "train_elbo_fixed_binarization": round(train["elbo"], 2),
        "generalisation_gap_nats": round(train["elbo"] - test["elbo"], 2),
        "best_val_epoch": best + 1,
        "best_val_loss": round(val[best], 2),
        "last_val_loss": round(val[-1], 2),
        "iwae_nats": {str(k): round(v, 2) for k, v in iwae.items()},
        "iwae_bits_per_dim": {str(k): round(nats_to_bits_per_dim(-v), 4) for k, v in iwae.items()},
        "checkpoints": checkpoints,
    }
    return results, model


def figures(results: dict, out: Path) -> None:
    """Loss curves and the per-dimension KL / active units over training, as PNGs in ``out``."""
    fig = plot_loss_curves(results["history"])
    fig = fig if fig is not None else plt.gcf()
    fig.suptitle(f"FULL_RUN of notebook 04: {results['config']['epochs']} epochs", y=1.02)
    fig.savefig(out / "04_curves.png", dpi=100, bbox_inches="tight")
    plt.close(fig)

    cps = results["checkpoints"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.4))
    epochs = [c["epoch"] for c in cps]
    ax1.plot(epochs, [c["active_units"] for c in cps], "o-", label="active (Var E[z|x] > 0.01)")
    ax1.plot(epochs, [c["units_above_0.5_nats"] for c in cps], "s-", label="KL > 0.5 nats")
    ax1.plot(epochs, [c["units_below_0.01_nats"] for c in cps], "^-", label="KL < 0.01 nats")
    ax1.set(xlabel="epoch", ylabel="number of latent units (of 20)", ylim=(-0.5, 20.5))
    ax1.yaxis.get_major_locator().set_params(integer=True)
    ax1.legend(fontsize=8)
    ax1.set_title("latent units over training (test set)")
    for c in (cps[0], cps[len(cps) // 2], cps[-1]):
        kl = c["kl_per_dim_sorted"]
        ax2.plot(range(1, len(kl) + 1), kl, "o-", ms=3, label=f"epoch {c['epoch']}")
    ax2.set_yscale("log")
    ax2.set(xlabel="rank of the dimension by KL", ylabel="KL per dimension (nats)")
    ax2.set_xticks(range(1, 21, 2))
    ax2.legend(fontsize=8)
    ax2.set_title("KL per latent dimension, sorted")
    fig.tight_layout()
    fig.savefig(out / "04_units.png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def page(results: dict) -> str:
    """The Markdown page docs/full_run_04.md, written from ``results``."""
    r, cps = results, results["checkpoints"]
    first, last = cps[0], cps[-1]
    h, n = r["history"], min(20, len(r["history"]["val_loss"]) - 1)
    d_val = h["val_loss"][-1] - h["val_loss"][-1 - n]
    d_train = h["train_loss"][-1] - h["train_loss"][-1 - n]
    verdict = (
        "the test loss rose: the model over-fits"
        if d_val > 0.5
        else "the training loss falls faster than the test loss, so over-fitting shows as a "
        "widening train/test gap, not (yet) as a rising test loss"
    )
    iwae = "\n".join(
        f"| IWAE_{k} | {v:.2f} | {r['iwae_bits_per_dim'][k]:.4f} |"
        for k, v in r["iwae_nats"].items()
    )
    units = "\n".join(
        f"| {c['epoch']} | {c['active_units']} | {c['units_above_0.5_nats']} | "
        f"{c['units_below_0.01_nats']} |"
        for c in cps
    )
    return f"""# Notebook 04 with `FULL_RUN`: stored evidence

Produced by `scripts/full_run_04.py` (rerun it with
`nice -n 15 .venv/bin/python scripts/full_run_04.py`; it took {r["train_seconds"]:.0f} s of
training on this machine's CPU, {r["config"]["threads"]} threads). Configuration:
{r["config"]["model"]} ({r["config"]["parameters"]:,} parameters), {r["config"]["data"]},
{r["config"]["epochs"]} epochs, batch 128, Adam lr 1e-3, seed 0. Numbers: `full_run/04_full_run.json`.

## Likelihood bounds on the fixed binarized test set

| bound | nats per digit | bits/dim |
|---|---|---|
{iwae}

Test ELBO {r["test_elbo"]:.2f} nats (KL {r["test_kl"]:.2f} nats). These are lower bounds on
log p(x) of real binary data, but on 4,000 training digits: Burda et al. (2016) report
≈ −86.8 nats for a one-layer VAE trained for thousands of epochs on 60,000 digits and
evaluated with k = 5,000; `load_mnist(folder)` with the standard files is the way to that setting.

## Over-fitting

ELBO on a fixed binarization of the *training* digits: {r["train_elbo_fixed_binarization"]:.2f}
nats; on the test digits: {r["test_elbo"]:.2f} nats; gap {r["generalisation_gap_nats"]:.2f} nats.
The test loss was lowest at epoch {r["best_val_epoch"]} ({r["best_val_loss"]:.2f} nats) and
ends at {r["last_val_loss"]:.2f} nats. Over the last {n} epochs the training loss changed by
{d_train:+.2f} nats and the test loss by {d_val:+.2f} nats: {verdict}.

![loss curves](full_run/04_curves.png)

## Latent units over training

| epoch | active (Var E[z\\|x] > 0.01) | KL > 0.5 nats | KL < 0.01 nats |
|---|---|---|---|
{units}

From epoch {first["epoch"]} to epoch {last["epoch"]} the number of units carrying more than
0.5 nats goes from {first["units_above_0.5_nats"]} to {last["units_above_0.5_nats"]}, and the
active-unit count from {first["active_units"]} to {last["active_units"]}.

![units](full_run/04_units.png)
"""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100, help="FULL_RUN trains 100 epochs")
    parser.add_argument("--every", type=int, default=10, help="record units every N epochs")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 10, 100], help="IWAE k values")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for JSON and PNGs")
    parser.add_argument(
        "--page-only", action="store_true", help="rewrite docs/full_run_04.md from the stored JSON"
    )
    args = parser.parse_args(argv)
    if args.page_only:
        results = json.loads((DEFAULT_OUT / "04_full_run.json").read_text())
        (ROOT / "docs" / "full_run_04.md").write_text(page(results))
        return
    if args.epochs < 1 or args.every < 1 or min(args.k) < 1:
        parser.error("--epochs, --every and every --k must be positive integers")
    args.out.mkdir(parents=True, exist_ok=True)
    results, _ = run(args.epochs, args.every, tuple(args.k))
    (args.out / "04_full_run.json").write_text(json.dumps(results, indent=1) + "\n")
    figures(results, args.out)
    if args.out.resolve() == DEFAULT_OUT.resolve():
        (ROOT / "docs" / "full_run_04.md").write_text(page(results))
    print(json.dumps({k: results[k] for k in ("train_seconds", "iwae_nats", "iwae_bits_per_dim")}))


if __name__ == "__main__":
    main()
