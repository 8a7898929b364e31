"""Run notebook 10's three experiments over seeds, at the notebook's and FULL_RUN's budget.

    nice -n 15 .venv/bin/python scripts/full_run_10.py      # 12 (default) and 40 (FULL_RUN) epochs
    .venv/bin/python scripts/full_run_10.py --epochs 1 --seeds 0 --k 2 --out /tmp/x  # smoke run

The configuration is notebook 10's, through the same functions (`vae_course.common_issues`):
latent dimension 16, 784-512-256 MLPs, Adam lr 1e-3, batch 128, the 4,000 bundled digits.

1. Collapse: the four runs of `collapse_setups` (VAE, mean-reduction bug, autoregressive
   decoder, autoregressive + free bits 0.5/dim) on dynamically binarized digits, measured on the
   fixed binarized test digits (ELBO, IWAE_k, KL, active units, dims > 0.1 nats, I_q(x; z)).
2. Blur: Gaussian decoders σ² = 1, ½ and learned on grey levels, and the Bernoulli VAE of (1):
   `blur_table` (sharpness and high-frequency ratio of reconstructions and prior samples, KL).
3. Interpolation: an autoencoder (β = 0) against the VAE of (1), 40 pairs of test digits of
   different classes, `interpolation_table` with the digit classifier (3 epochs).

Writes ``10_full_run.json`` into ``--out`` and, with the default out, ``docs/full_run_10.md``.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

from vae_course.authoring import full_run_main
from vae_course.classifier import train_digit_classifier
from vae_course.common_issues import (
    blur_table,
    claim_counts,
    collapse_setups,
    interpolation_pairs,
    interpolation_table,
    train_gaussian_decoders,
)
from vae_course.data import dynamic_binarize, load_mnist
from vae_course.models import MLPVAE
from vae_course.strategies import run_strategy
from vae_course.train import fit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "full_run"
LATENT = 16


def run_one(grey, fixed, classifier, epochs: int, seed: int, k: int) -> dict:
    """Notebook 10 for one seed and budget: {"collapse": {...}, "blur": {...}, "paths": {...}}."""
    out: dict = {"epochs": epochs, "seed": seed, "collapse": {}}
    runs = {}
    for strategy, make in collapse_setups(latent_dim=LATENT, free_bits=0.5):
        r = run_strategy(
            strategy,
            make,
            grey.x_train,
            fixed.x_test,
            seed=seed,
            epochs=epochs,
            iwae_k=k,
            device="cpu",
        )
        runs[strategy.name] = r
        out["collapse"][strategy.name] = {
            "elbo": round(r.elbo, 3),
            "iwae": round(r.iwae, 3),
            "kl": round(r.kl, 3),
            "active": r.active,
            "dims_over_0_1": r.dims_over_0_1,
            "mi": round(r.mi, 3),
            "train_seconds": round(r.seconds, 1),
        }
    vae = runs["VAE"].model
    gaussians = train_gaussian_decoders(
        grey.x_train, epochs=epochs, latent_dim=LATENT, seed=seed, device="cpu"
    )
    evaluated = {"Bernoulli": (vae, fixed.x_test)}
    evaluated.update({name: (m, grey.x_test) for name, m in gaussians.items()})
    blur = blur_table(evaluated, grey.x_test, seed=seed)
    for name, row in blur.items():
        blur[name] = {key: (None if v != v else round(v, 4)) for key, v in row.items()}
    blur["Gaussian σ² learned"]["x_var"] = round(gaussians["Gaussian σ² learned"].x_var, 5)
    out["blur"] = blur
    torch.manual_seed(seed)
    ae = MLPVAE(latent_dim=LATENT)
    fit(
        ae,
        grey.x_train,
        epochs=epochs,
        beta=0.0,
        transform=dynamic_binarize,
        seed=seed,
        device="cpu",
        progress=False,
    )
    a, b = interpolation_pairs(grey.y_test, n_pairs=40, seed=seed)
    paths = interpolation_table(
        {"autoencoder": ae, "VAE": vae}, fixed.x_test[a], fixed.x_test[b], classifier, seed=seed
    )
    out["paths"] = {n: {key: round(v, 4) for key, v in r.items()} for n, r in paths.items()}
    print(json.dumps(out), flush=True)
    return out


def run(epoch_list: list[int], seeds: list[int], k: int) -> dict:
    grey, fixed = load_mnist(), load_mnist(binarize="static")
    classifier = train_digit_classifier(grey.x_train, grey.y_train, epochs=3)
    results = {
        "config": {
            "epochs": epoch_list,
            "seeds": seeds,
            "k": k,
            "latent_dim": LATENT,
            "batch_size": 128,
            "lr": 1e-3,
            "train_digits": len(grey.x_train),
            "test_digits": len(fixed.x_test),
            "torch": torch.__version__,
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        },
        "runs": [run_one(grey, fixed, classifier, e, s, k) for e in epoch_list for s in seeds],
    }
    return results


def page(results: dict) -> str:
    c, runs = results["config"], results["runs"]
    k = c["k"]
    lines = [
        "# Notebook 10 with `FULL_RUN`: stored evidence",
        "",
        "Produced by `scripts/full_run_10.py` (rerun it with",
        "`nice -n 15 .venv/bin/python scripts/full_run_10.py`). Configuration: notebook 10's",
        f"experiments (latent dimension {c['latent_dim']}, 784-512-256 MLPs, batch 128, Adam lr",
        f"1e-3) trained for {' and '.join(map(str, c['epochs']))} epochs (the notebook's default is",
        f"12, FULL_RUN's 40), seeds {c['seeds']}; {c['train_digits']:,} bundled training digits;",
        f"{c['test_digits']:,} test digits (binary ones fixed by a seeded binarization for the",
        f"Bernoulli models). Machine: {c['machine']}, torch {c['torch']}. Numbers:",
        "`full_run/10_full_run.json`.",
        "",
        "## The notebook's claims, seed by seed",
        "",
        "| claim | " + " | ".join(f"{e} epochs" for e in c["epochs"]) + " |",
        "|---|" + "---|" * len(c["epochs"]),
    ]
    counts = claim_counts(results)
    for label in counts:
        cells = [f"{held} of {n} seeds" for held, n in counts[label].values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Collapse (test digits; ELBO, IWAE and KL in nats per digit)",
        "",
        f"| run | epochs | seed | ELBO | IWAE_{k} | KL | active | dims > 0.1 | I_q(x; z) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        for name, v in r["collapse"].items():
            lines.append(
                f"| {name} | {r['epochs']} | {r['seed']} | {v['elbo']:.2f} | {v['iwae']:.2f} | "
                f"{v['kl']:.2f} | {v['active']} | {v['dims_over_0_1']} | {v['mi']:.2f} |"
            )
    lines += [
        "",
        "## Blur (sharpness and high-frequency ratio; reconstructions / prior samples; KL)",
        "",
        "| decoder | epochs | seed | sharpness | samples | HF ratio | samples | KL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        for name, v in r["blur"].items():
            kl = "" if v["kl"] is None else f"{v['kl']:.1f}"
            lines.append(
                f"| {name} | {r['epochs']} | {r['seed']} | {v['sharpness']:.3f} | "
                f"{v['samples_sharpness']:.3f} | {v['hf_ratio']:.3f} | "
                f"{v['samples_hf_ratio']:.3f} | {kl} |"
            )
    lines += [
        "",
        "## Interpolation (40 pairs; confident share of inner points; prior samples: of 500)",
        "",
        "| model, path | epochs | seed | largest step | jump ratio | length | confident share |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        for name, v in r["paths"].items():
            if "prior" in name:
                lines.append(
                    f"| {name} | {r['epochs']} | {r['seed']} | | | | {v['confident_share']:.2f} |"
                )
            else:
                lines.append(
                    f"| {name} | {r['epochs']} | {r['seed']} | {v['largest']:.3f} | "
                    f"{v['jump_ratio']:.2f} | {v['length']:.2f} | "
                    f"{v['middle_confident_share']:.2f} |"
                )
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    full_run_main(
        argv,
        chapter="10",
        doc=__doc__,
        run=run,
        page=page,
        epochs=[12, 40],
        epochs_help="training budgets (default: the notebook's 12 and FULL_RUN's 40)",
        out=DEFAULT_OUT,
        docs=ROOT / "docs",
        echo=True,
    )


if __name__ == "__main__":
    main()
