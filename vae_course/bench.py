"""Benchmark: ``vae_course.train.fit`` against a minimal hand-written loop, same run.

    python -m vae_course.bench [--epochs 10] [--repeats 1] [--json FILE]

Both train the classic 784-400-20 MLP VAE (Bernoulli/BCE-sum + KL, Adam lr 1e-3,
batch 128) on the bundled 4,000 training digits from the same initial weights, on the
same device. Prints train examples/second of each, their ratio (fit / hand), and the
test loss (−ELBO, nats per example) after the epochs of each. A one-epoch warm-up of
each is run first and not timed.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch
import torch.nn.functional as F

from .data import load_mnist
from .device import get_device, seed_everything
from .metrics import elbo_estimate
from .models import MLPVAE
from .train import fit


def hand_loop(model, x, epochs: int, batch_size: int = 128, lr: float = 1e-3, seed: int = 0):
    """The pytorch/examples VAE loop, written out: BCE(sum) + KL, Adam, per-epoch shuffle."""
    seed_everything(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    n = x.shape[0]
    for _ in range(epochs):
        perm = torch.randperm(n, device=x.device)
        for i in range(0, n, batch_size):
            xb = x[perm[i : i + batch_size]]
            mu, logvar = model.encode(xb)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            logits = model.decode(z)
            bce = F.binary_cross_entropy_with_logits(logits, xb, reduction="sum")
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            loss = (bce + kld) / xb.shape[0]
            opt.zero_grad()
            loss.backward()
            opt.step()


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def run(epochs: int = 10, repeats: int = 1, device=None) -> dict:
    device = device or get_device()
    data = load_mnist()
    x_train, x_test = data.x_train.to(device), data.x_test.to(device)
    seed_everything(0)
    init = MLPVAE(hidden_dims=(400,), latent_dim=20).to(device)
    n = x_train.shape[0]

    # warm-up (allocator, kernels, first-call overheads), not timed
    hand_loop(copy.deepcopy(init), x_train, epochs=1)
    fit(copy.deepcopy(init), x_train, epochs=1, progress=False, device=device)

    results = {
        "device": str(device),
        "epochs": epochs,
        "train_examples": n,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "runs": [],
    }
    for _ in range(repeats):
        for name in ("hand", "fit"):
            model = copy.deepcopy(init)
            _sync(device)
            t0 = time.perf_counter()
            if name == "hand":
                hand_loop(model, x_train, epochs=epochs)
            else:
                fit(model, x_train, epochs=epochs, progress=False, device=device, seed=0)
            _sync(device)
            seconds = time.perf_counter() - t0
            seed_everything(123)
            test = elbo_estimate(model, x_test)
            results["runs"].append(
                {
                    "loop": name,
                    "seconds": seconds,
                    "examples_per_s": epochs * n / seconds,
                    "test_loss": -test["elbo"],
                }
            )
    for name in ("hand", "fit"):
        runs = [r for r in results["runs"] if r["loop"] == name]
        results[name] = {
            "examples_per_s": max(r["examples_per_s"] for r in runs),
            "test_loss": sum(r["test_loss"] for r in runs) / len(runs),
        }
    results["ratio_fit_over_hand"] = (
        results["fit"]["examples_per_s"] / results["hand"]["examples_per_s"]
    )
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m vae_course.bench", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument(
        "--repeats", type=int, default=1, help="timed runs of each loop (best is reported)"
    )
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: get_device())")
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    r = run(args.epochs, args.repeats, torch.device(args.device) if args.device else None)
    print(
        f"device {r['device']}, torch {r['torch']}, {r['threads']} threads, "
        f"{r['train_examples']} train digits, {r['epochs']} epochs, 784-400-20 MLP VAE"
    )
    print(f"{'loop':<6}{'train ex/s':>12}{'test loss (nats)':>18}")
    for name in ("hand", "fit"):
        print(f"{name:<6}{r[name]['examples_per_s']:>12,.0f}{r[name]['test_loss']:>18.2f}")
    print(f"ratio fit/hand: {r['ratio_fit_over_hand']:.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
