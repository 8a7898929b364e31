"""Run notebook 09's strategy comparison over seeds, at the notebook's and FULL_RUN's budget.

    nice -n 15 .venv/bin/python scripts/full_run_09.py     # 30 (default) and 60 (FULL_RUN) epochs
    .venv/bin/python scripts/full_run_09.py --epochs 1 --seeds 0 --k 2 --out /tmp/x  # smoke run

The configuration is notebook 09's: ``MLPVAE(latent_dim=64)`` (784-512-256-64) trained with
each of ``vae_course.strategies.chapter_strategies`` (constant β, linear warm-up, cyclical
M = 4 / R = 0.5, free bits 0.25 nats per dimension, free bits 2 nats per group of 8), Adam
lr 1e-3, batch 128, on the 4,000 bundled digits dynamically binarized, each model built right
after seeding. Measured on the fixed binarization of the 1,000 test digits: ELBO, IWAE_k,
KL (nats per digit), active units, dimensions above 0.1 nats and I_q(x; z). Writes
``09_full_run.json`` into ``--out`` and, with the default out, the page ``docs/full_run_09.md``.
"""

from __future__ import annotations

import json
import math
import platform
from pathlib import Path

import torch

from vae_course.authoring import full_run_main
from vae_course.data import load_mnist
from vae_course.models import MLPVAE
from vae_course.strategies import chapter_strategies, run_strategy

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "full_run"
BATCH = 128


def run(epoch_list: list[int], seeds: list[int], k: int) -> dict:
    grey, fixed = load_mnist(), load_mnist(binarize="static")
    results = {
        "config": {
            "epochs": epoch_list,
            "seeds": seeds,
            "k": k,
            "batch_size": BATCH,
            "lr": 1e-3,
            "train_digits": len(grey.x_train),
            "test_digits": len(fixed.x_test),
            "torch": torch.__version__,
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        },
        "runs": [],
    }
    for epochs in epoch_list:
        steps = epochs * math.ceil(len(grey.x_train) / BATCH)
        for strategy in chapter_strategies(steps):
            for seed in seeds:
                r = run_strategy(
                    strategy,
                    lambda: MLPVAE(latent_dim=64),
                    grey.x_train,
                    fixed.x_test,
                    seed=seed,
                    epochs=epochs,
                    batch_size=BATCH,
                    iwae_k=k,
                    device="cpu",
                )
                row = {"strategy": strategy.name, "epochs": epochs, "seed": seed}
                row.update(
                    elbo=round(r.elbo, 3),
                    iwae=round(r.iwae, 3),
                    kl=round(r.kl, 3),
                    active=r.active,
                    dims_over_0_1=int((r.kl_per_dim > 0.1).sum()),
                    mi=round(r.mi, 3),
                    final_loss=round(r.final_loss, 3),
                    train_seconds=round(r.seconds, 1),
                )
                print(json.dumps(row), flush=True)
                results["runs"].append(row)
    return results


def _mean(rows, key):
    vals = [r[key] for r in rows]
    return sum(vals) / len(vals), min(vals), max(vals)


def wins_over_constant(runs: list[dict], name: str, epochs: int, key: str = "iwae") -> tuple:
    """(seeds where ``name`` beats constant β on ``key``, seeds compared)."""
    const = {
        r["seed"]: r[key]
        for r in runs
        if r["epochs"] == epochs and r["strategy"] == runs[0]["strategy"]
    }
    rows = [r for r in runs if r["epochs"] == epochs and r["strategy"] == name]
    return sum(r[key] > const[r["seed"]] for r in rows), len(rows)


def page(results: dict) -> str:
    c, runs = results["config"], results["runs"]
    k = c["k"]
    names = list(dict.fromkeys(r["strategy"] for r in runs))
    lines = [
        "# Notebook 09 with `FULL_RUN`: stored evidence",
        "",
        "Produced by `scripts/full_run_09.py` (rerun it with",
        "`nice -n 15 .venv/bin/python scripts/full_run_09.py`). Configuration: notebook 09's five",
        f"strategies on a 784-512-256-64 MLP VAE trained for {' and '.join(map(str, c['epochs']))}",
        "epochs (the notebook's default is 30, FULL_RUN's 60), batch 128, Adam lr 1e-3, seeds",
        f"{c['seeds']}; {c['train_digits']:,} bundled training digits, dynamically binarized;",
        f"{c['test_digits']:,} test digits, fixed binarization. Machine: {c['machine']}, torch",
        f"{c['torch']}. Numbers: `full_run/09_full_run.json`. I_q(x; z) is estimated in batches",
        "of 500 (its ceiling is log 500 = 6.21 nats).",
        "",
        "## Per strategy and seed",
        "",
        f"| strategy | epochs | seed | test ELBO | test IWAE_{k} | KL | active units | dims > 0.1 "
        "nats | I_q(x; z) | final training loss |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r['strategy']} | {r['epochs']} | {r['seed']} | {r['elbo']:.2f} | {r['iwae']:.2f} | "
            f"{r['kl']:.2f} | {r['active']} | {r['dims_over_0_1']} | {r['mi']:.2f} | "
            f"{r['final_loss']:.2f} |"
        )
    lines += ["", "## Means over seeds (min to max), and seeds above constant β on IWAE", ""]
    for epochs in c["epochs"]:
        for name in names:
            rows = [r for r in runs if r["strategy"] == name and r["epochs"] == epochs]
            parts = []
            for key, label in (("iwae", f"IWAE_{k}"), ("kl", "KL")):
                m, lo, hi = _mean(rows, key)
                parts.append(f"{label} {m:.2f} ({lo:.2f} to {hi:.2f})")
            for key, label in (("active", "active units"), ("dims_over_0_1", "dims > 0.1")):
                m, lo, hi = _mean(rows, key)
                parts.append(f"{label} {m:.1f} ({lo} to {hi})")
            if name != names[0]:
                w, n = wins_over_constant(runs, name, epochs)
                parts.append(f"above constant β in {w} of {n} seeds")
            lines.append(f"* **{name}, {epochs} epochs**: " + "; ".join(parts) + ".")
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    full_run_main(
        argv,
        chapter="09",
        doc=__doc__,
        run=run,
        page=page,
        epochs=[30, 60],
        epochs_help="the notebook's 30, FULL_RUN's 60",
        out=DEFAULT_OUT,
        docs=ROOT / "docs",
    )


if __name__ == "__main__":
    main()
