"""Run notebook 07's comparison at the notebook's and at FULL_RUN's budget, over seeds.

    nice -n 15 .venv/bin/python scripts/full_run_07.py     # 20 (default) and 60 (FULL_RUN) epochs
    .venv/bin/python scripts/full_run_07.py --epochs 1 --seeds 0 --k 2 --out /tmp/x  # smoke run

The configuration is notebook 07's: a one-level ``MLPVAE(latent_dim=24)`` and three
``HierarchicalVAE((16, 8))`` (no help; free bits λ = 0.25 nats per dimension; KL warm-up
over the first half of training), Adam lr 1e-3, batch 128, trained on the 4,000 bundled
digits dynamically binarized, each model built right after ``seed_everything(seed)``.
Measured on the fixed binarization of the 1,000 test digits: ELBO and IWAE_k (nats per
digit), and for the two-level models the KL of each level and the top-level dimensions
carrying more than 0.1 nats. Writes ``07_full_run.json`` into ``--out`` and, with the
default out, the page ``docs/full_run_07.md``.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from vae_course.authoring import full_run_main
from vae_course.data import dynamic_binarize, load_mnist
from vae_course.device import seed_everything
from vae_course.metrics import elbo_estimate, iwae_log_likelihood, level_statistics
from vae_course.models import MLPVAE, HierarchicalVAE
from vae_course.schedules import LinearWarmup
from vae_course.train import fit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "full_run"
MODELS = ("one level", "two levels", "two levels, free bits", "two levels, warm-up")


def fit_kwargs(name: str, epochs: int, n_train: int) -> dict:
    """The training options of each model, as notebook 07 sets them."""
    if name.endswith("free bits"):
        return {"free_bits": 0.25}
    if name.endswith("warm-up"):
        steps = epochs * (n_train // 128)  # fit's default batch of 128
        return {"beta": LinearWarmup(warmup_steps=steps // 2)}
    return {}


def make(name: str):
    return MLPVAE(latent_dim=24) if name == "one level" else HierarchicalVAE((16, 8))


def run(epoch_list: list[int], seeds: list[int], k: int) -> dict:
    grey, fixed = load_mnist(), load_mnist(binarize="static")
    results = {
        "config": {
            "epochs": epoch_list,
            "seeds": seeds,
            "k": k,
            "batch_size": 128,
            "lr": 1e-3,
            "train_digits": len(grey.x_train),
            "test_digits": len(fixed.x_test),
            "torch": torch.__version__,
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        },
        "runs": [],
    }
    for epochs, seed in ((e, s) for e in epoch_list for s in seeds):
        for name in MODELS:
            seed_everything(seed)
            model = make(name)
            t0 = time.perf_counter()
            fit(
                model,
                grey.x_train,
                epochs=epochs,
                transform=dynamic_binarize,
                progress=False,
                device="cpu",
                **fit_kwargs(name, epochs, len(grey.x_train)),
            )
            row = {"model": name, "epochs": epochs, "seed": seed}
            row["train_seconds"] = round(time.perf_counter() - t0, 1)
            model.eval()
            torch.manual_seed(seed)
            e = elbo_estimate(model, fixed.x_test)
            row["elbo"], row["kl"] = round(e["elbo"], 3), round(e["kl"], 3)
            row[f"iwae_{k}"] = round(iwae_log_likelihood(model, fixed.x_test, k=k), 3)
            if name != "one level":
                st = level_statistics(model, fixed.x_test)
                row["kl_z1"], row["kl_z2"] = round(st["kl_z1"], 3), round(st["kl_z2"], 3)
                row["z2_dims_over_0.1_nats"] = int((st["kl_per_dim_z2"] > 0.1).sum())
            print(json.dumps(row), flush=True)
            results["runs"].append(row)
    return results


def _mean(rows, key):
    vals = [r[key] for r in rows]
    return sum(vals) / len(vals), min(vals), max(vals)


def page(results: dict) -> str:
    c, runs = results["config"], results["runs"]
    k = c["k"]
    lines = [
        "# Notebook 07 with `FULL_RUN`: stored evidence",
        "",
        "Produced by `scripts/full_run_07.py` (rerun it with",
        "`nice -n 15 .venv/bin/python scripts/full_run_07.py`). Configuration: notebook 07's four",
        f"models trained for {' and '.join(map(str, c['epochs']))} epochs (the notebook's default",
        f"is 20, FULL_RUN's 60), batch 128, Adam lr 1e-3, seeds {c['seeds']};",
        f"{c['train_digits']:,} bundled training digits, dynamically binarized; "
        f"{c['test_digits']:,} test digits,",
        f"fixed binarization. Machine: {c['machine']}, torch {c['torch']}.",
        "Numbers: `full_run/07_full_run.json`.",
        "",
        "## Per model and seed",
        "",
        f"| model | epochs | seed | test ELBO | test IWAE_{k} | KL | KL z1 | KL z2 | z2 dims "
        "> 0.1 nats |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        lv = (
            f"{r['kl_z1']:.2f} | {r['kl_z2']:.2f} | {r['z2_dims_over_0.1_nats']}"
            if "kl_z1" in r
            else "– | – | –"
        )
        lines.append(
            f"| {r['model']} | {r['epochs']} | {r['seed']} | {r['elbo']:.2f} | "
            f"{r[f'iwae_{k}']:.2f} | {r['kl']:.2f} | {lv} |"
        )
    lines += ["", "## Means over seeds (min to max)", ""]
    for epochs in c["epochs"]:
        for name in MODELS:
            rows = [r for r in runs if r["model"] == name and r["epochs"] == epochs]
            parts = []
            for key, label in (("elbo", "ELBO"), (f"iwae_{k}", f"IWAE_{k}"), ("kl_z2", "KL z2")):
                if key in rows[0]:
                    m, lo, hi = _mean(rows, key)
                    parts.append(f"{label} {m:.2f} ({lo:.2f} to {hi:.2f})")
            lines.append(f"* **{name}, {epochs} epochs**: " + "; ".join(parts) + ".")
    lines += ["", "## Reading", ""]
    for epochs in c["epochs"]:
        one = _mean(
            [r for r in runs if r["model"] == "one level" and r["epochs"] == epochs], f"iwae_{k}"
        )[0]
        parts = []
        for name in MODELS[1:]:
            rows = [r for r in runs if r["model"] == name and r["epochs"] == epochs]
            m = _mean(rows, f"iwae_{k}")[0]
            wins = sum(
                r[f"iwae_{k}"]
                > next(
                    o[f"iwae_{k}"]
                    for o in runs
                    if o["model"] == "one level"
                    and o["epochs"] == epochs
                    and o["seed"] == r["seed"]
                )
                for r in rows
            )
            word = "above" if m > one else "below"
            parts.append(
                f"{name} {abs(m - one):.2f} nats {word} (above it in {wins} of {len(rows)} seeds)"
            )
        lines.append(
            f"* **{epochs} epochs**, test IWAE_{k} against one level ({one:.2f}): "
            + "; ".join(parts)
            + "."
        )
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    full_run_main(
        argv,
        chapter="07",
        doc=__doc__,
        run=run,
        page=page,
        epochs=[20, 60],
        epochs_help="the notebook's 20, FULL_RUN's 60",
        out=DEFAULT_OUT,
        docs=ROOT / "docs",
    )


if __name__ == "__main__":
    main()
