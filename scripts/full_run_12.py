"""Run notebook 12's comparison (autoencoder, VAE, GAN) over seeds, at two budgets.

    nice -n 15 .venv/bin/python scripts/full_run_12.py      # 30 (default) and 100 (FULL_RUN) epochs
    .venv/bin/python scripts/full_run_12.py --epochs 1 --seeds 0 --k 2 --out /tmp/x  # smoke run

The configuration is notebook 12's, through the same functions (`vae_course.comparison`):
784-512-256-20 MLPs for the autoencoder and the VAE, an MLP GAN whose generator mirrors the
decoder, batch 64, digits binarized afresh each batch, the same epochs and seed for all three;
1,000 samples per model scored by the digit classifier (3 epochs) against the grey test digits.

Writes ``12_full_run.json`` into ``--out`` and, with the default out, ``docs/full_run_12.md``.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

from vae_course.authoring import full_run_main
from vae_course.classifier import train_digit_classifier
from vae_course.comparison import guide_table, measure_three, train_three, verdicts
from vae_course.data import load_mnist

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "full_run"
DEFAULT_EPOCHS = 30


def _round(d):
    if isinstance(d, dict):
        return {str(k): _round(v) for k, v in d.items()}
    return round(d, 4) if isinstance(d, float) else d


def run_one(grey, fixed, classifier, epochs: int, seed: int, k: int) -> dict:
    runs = train_three(grey.x_train, epochs=epochs, seed=seed, device="cpu")
    out = measure_three(runs, classifier, grey.x_train, grey.x_test, fixed.x_test, k=k, seed=seed)
    out = _round({"epochs": epochs, "seed": seed, **out})
    out["curves"] = {
        "VAE": [round(v, 3) for v in runs["VAE"]["history"]["train_loss"]],
        "GAN_g": [round(v, 3) for v in runs["GAN"]["history"]["g_loss"]],
        "GAN_d": [round(v, 3) for v in runs["GAN"]["history"]["d_loss"]],
    }
    print(json.dumps({key: out[key] for key in ("epochs", "seed", "seconds")}), flush=True)
    return out


def run(epoch_list: list[int], seeds: list[int], k: int) -> dict:
    grey, fixed = load_mnist(), load_mnist(binarize="static")
    classifier = train_digit_classifier(grey.x_train, grey.y_train, epochs=3)
    return {
        "config": {
            "epochs": epoch_list,
            "seeds": seeds,
            "k": k,
            "latent_dim": 20,
            "batch_size": 64,
            "train_digits": len(grey.x_train),
            "test_digits": len(fixed.x_test),
            "torch": torch.__version__,
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        },
        "runs": [run_one(grey, fixed, classifier, e, s, k) for e in epoch_list for s in seeds],
    }


def page(results: dict) -> str:
    c, runs = results["config"], results["runs"]
    default = DEFAULT_EPOCHS if DEFAULT_EPOCHS in c["epochs"] else c["epochs"][0]
    lines = [
        "# Notebook 12 with `FULL_RUN`: stored evidence",
        "",
        "Produced by `scripts/full_run_12.py` (rerun it with",
        "`nice -n 15 .venv/bin/python scripts/full_run_12.py`). Configuration: notebook 12's",
        "autoencoder, VAE (784-512-256-20 MLPs) and MLP GAN, batch 64, digits binarized afresh",
        f"each batch, trained for {' and '.join(map(str, c['epochs']))} epochs (the notebook's",
        f"default is 30, FULL_RUN's 100), seeds {c['seeds']}; {c['train_digits']:,} bundled",
        f"training digits, {c['test_digits']:,} test digits; VAE IWAE with k = {c['k']}. Machine:",
        f"{c['machine']}, torch {c['torch']}. Numbers: `full_run/12_full_run.json`.",
        "",
        "## The guide's rows: in how many runs each claim held",
        "",
        "| aspect | " + " | ".join(f"{e} epochs" for e in c["epochs"]) + " | verdict |",
        "|---|" + "---|" * (len(c["epochs"]) + 1),
    ]
    for aspect, v in verdicts(results, default).items():
        cells = [f"{h} of {n} seeds" for h, n in v["counts"].values()]
        lines.append(f"| {aspect} | " + " | ".join(cells) + f" | {v['verdict']} |")
    lines += ["", "## Each run's measured column", ""]
    for r in runs:
        lines += [f"### {r['epochs']} epochs, seed {r['seed']}", "", "| aspect | measured | held |"]
        lines += ["|---|---|---|"]
        for row in guide_table(r):
            lines.append(f"| {row['aspect']} | {row['measured']} | {row['held']} |")
        lines.append("")
    lines += ["## Sample quality (1,000 samples per model)", ""]
    lines += [
        "| samples | epochs | seed | Fréchet | confidence | confident | class entropy | largest class |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        for name, v in r["samples"].items():
            lines.append(
                f"| {name} | {r['epochs']} | {r['seed']} | {v['frechet']:.1f} | "
                f"{v['confidence']:.3f} | {v['confident_share']:.3f} | {v['class_entropy']:.2f} | "
                f"{v['largest_class']:.3f} |"
            )
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    full_run_main(
        argv,
        chapter="12",
        doc=__doc__,
        run=run,
        page=page,
        epochs=[DEFAULT_EPOCHS, 100],
        epochs_help="training budgets (default: the notebook's 30 and FULL_RUN's 100)",
        out=DEFAULT_OUT,
        docs=ROOT / "docs",
    )


if __name__ == "__main__":
    main()
