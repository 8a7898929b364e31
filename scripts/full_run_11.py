"""Run notebook 11's four applications over seeds, at the notebook's and FULL_RUN's budget.

    nice -n 15 .venv/bin/python scripts/full_run_11.py      # 15 (default) and 40 (FULL_RUN) epochs
    .venv/bin/python scripts/full_run_11.py --epochs 1 --seeds 0 --k 2 --out /tmp/x  # smoke run

The configuration is notebook 11's, through the same functions (`vae_course.applications`,
`compression`, `anomaly`, `augmentation`): the 784-512-256-20 MLP VAE, Adam lr 1e-3, batch 128,
the 4,000 bundled digits binarized afresh each batch; evaluation on the fixed binarized test
digits.

1. Compression: `compression_table` (raw, PNG, byte compressors, bits-back, quantized z).
2. Paths and arithmetic: `path_table` (40 pairs) and `arithmetic_table` (200 test digits).
3. Augmentation: `augmentation_trial` with 10, 50 and 100 labels per class (it trains no VAE,
   so it runs once per seed and is reported under every budget).
4. Anomalies: a VAE trained without the classes `HELD_OUT`, `anomaly_table` with IWAE_k.

Writes ``11_full_run.json`` into ``--out`` and, with the default out, ``docs/full_run_11.md``.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

from vae_course.anomaly import anomaly_table
from vae_course.applications import (
    HELD_OUT,
    anomaly_sets,
    arithmetic_table,
    claim_counts,
    path_table,
    train_vae,
)
from vae_course.augmentation import augmentation_trial
from vae_course.authoring import full_run_main
from vae_course.classifier import train_digit_classifier
from vae_course.common_issues import interpolation_pairs
from vae_course.compression import compression_table
from vae_course.data import load_mnist

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "full_run"
PER_CLASS = (10, 50, 100)


def _round(d):
    if isinstance(d, dict):
        return {str(k): _round(v) for k, v in d.items()}
    return round(d, 4) if isinstance(d, float) else d


_AUGMENTATION: dict[int, dict] = {}


def augmentation(grey, seed: int) -> dict:
    """The augmentation trials of one seed (they train no VAE: the same for every budget)."""
    if seed not in _AUGMENTATION:
        _AUGMENTATION[seed] = {
            n: augmentation_trial(
                grey.x_train,
                grey.y_train,
                grey.x_test,
                grey.y_test,
                per_class=n,
                seed=seed,
                device="cpu",
            )
            for n in PER_CLASS
        }
    return _AUGMENTATION[seed]


def run_one(grey, fixed, classifier, epochs: int, seed: int, k: int) -> dict:
    """Notebook 11 for one seed and budget."""
    vae = train_vae(grey.x_train, epochs=epochs, seed=seed, device="cpu")
    out: dict = {"epochs": epochs, "seed": seed}
    out["compression"] = compression_table(vae, fixed.x_train, fixed.x_test, (1, 2, 4, 8))
    a, b = interpolation_pairs(fixed.y_test, n_pairs=40, seed=seed)
    out["paths"] = path_table(vae, fixed.x_test[a], fixed.x_test[b], classifier, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    new = torch.randperm(len(fixed.x_test), generator=g)[:200]
    _, out["arithmetic"] = arithmetic_table(
        vae, fixed.x_train, fixed.y_train, fixed.x_test[new], fixed.y_test[new], classifier
    )
    out["augmentation"] = augmentation(grey, seed)
    detector = train_vae(
        grey.x_train, grey.y_train, exclude=HELD_OUT, epochs=epochs, seed=seed, device="cpu"
    )
    clean, anomalies = anomaly_sets(fixed.x_test, fixed.y_test, seed=seed)
    out["anomaly"] = anomaly_table(detector, clean, anomalies, k=k, seed=seed)
    out = _round(out)
    print(json.dumps(out), flush=True)
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
            "batch_size": 128,
            "lr": 1e-3,
            "held_out": list(HELD_OUT),
            "per_class": list(PER_CLASS),
            "train_digits": len(grey.x_train),
            "test_digits": len(fixed.x_test),
            "torch": torch.__version__,
            "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        },
        "runs": [run_one(grey, fixed, classifier, e, s, k) for e in epoch_list for s in seeds],
    }


def page(results: dict) -> str:
    c, runs = results["config"], results["runs"]
    lines = [
        "# Notebook 11 with `FULL_RUN`: stored evidence",
        "",
        "Produced by `scripts/full_run_11.py` (rerun it with",
        "`nice -n 15 .venv/bin/python scripts/full_run_11.py`). Configuration: notebook 11's",
        f"experiments (784-512-256-{c['latent_dim']} MLP VAE, batch 128, Adam lr 1e-3) trained for",
        f"{' and '.join(map(str, c['epochs']))} epochs (the notebook's default is 15, FULL_RUN's",
        f"40), seeds {c['seeds']}; {c['train_digits']:,} bundled training digits;",
        f"{c['test_digits']:,} fixed binarized test digits. IWAE with k = {c['k']}. Machine:",
        f"{c['machine']}, torch {c['torch']}. Numbers: `full_run/11_full_run.json`.",
        "",
        "## The notebook's claims, seed by seed",
        "",
        "| claim | " + " | ".join(f"{e} epochs" for e in c["epochs"]) + " |",
        "|---|" + "---|" * len(c["epochs"]),
    ]
    for label, by in claim_counts(results).items():
        lines.append(
            f"| {label} | " + " | ".join(f"{h} of {n} seeds" for h, n in by.values()) + " |"
        )
    lines += ["", "## Compression (bits per test digit; pixels wrong of 784)", ""]
    names = list(runs[0]["compression"])
    lines += ["| code | " + " | ".join(f"{r['epochs']} ep., seed {r['seed']}" for r in runs) + " |"]
    lines += ["|---|" + "---|" * len(runs)]
    for name in names:
        cells = []
        for r in runs:
            v = r["compression"][name]
            cell = f"{v['bits']:.1f}"
            if v["pixels_wrong"]:
                cell += f" ({v['pixels_wrong']:.1f} wrong, +{v['residual_bits']:.0f})"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Paths (midpoint norm ratio; jump ratio; confident share of inner points)", ""]
    lines += [
        "| path | epochs | seed | midpoint ratio | jump ratio | confident |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        for name, v in r["paths"].items():
            if name == "norms":
                continue
            extra = (
                f"{v['jump_ratio']:.2f} | {v['middle_confident_share']:.2f}"
                if "jump_ratio" in v
                else " | "
            )
            lines.append(
                f"| {name} | {r['epochs']} | {r['seed']} | {v['midpoint_norm_ratio']:.3f} | {extra} |"
            )
    lines += ["", "## Thick-stroke vector (200 test digits)", ""]
    lines += [
        "| scale | epochs | seed | ink ratio | more ink | class kept |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        for s, v in r["arithmetic"].items():
            lines.append(
                f"| {s} | {r['epochs']} | {r['seed']} | {v['ink_ratio']:.2f} | "
                f"{v['more_ink']:.2f} | {v['class_kept']:.2f} |"
            )
    lines += ["", "## Augmentation (test accuracy of the digit classifier)", ""]
    lines += [
        "| labels per class | epochs | seed | real only | + CVAE | + shifts |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        for n, v in r["augmentation"].items():
            lines.append(
                f"| {n} | {r['epochs']} | {r['seed']} | {v['real only']:.3f} | "
                f"{v['real + CVAE']:.3f} | {v['real + shifts']:.3f} |"
            )
    lines += ["", f"## Anomalies (VAE without classes {c['held_out']}; AUROC, corrected AUROC)", ""]
    kinds = [k for k in runs[0]["anomaly"] if k != "clean"]
    lines += [
        "| anomaly | " + " | ".join(f"{r['epochs']} ep., seed {r['seed']}" for r in runs) + " |"
    ]
    lines += ["|---|" + "---|" * len(runs)]
    for kind in kinds:
        cells = [
            f"{r['anomaly'][kind]['auroc']:.3f}, {r['anomaly'][kind]['corrected_auroc']:.3f}"
            for r in runs
        ]
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)


def main(argv=None) -> None:
    full_run_main(
        argv,
        chapter="11",
        doc=__doc__,
        run=run,
        page=page,
        epochs=[15, 40],
        epochs_help="training budgets (default: the notebook's 15 and FULL_RUN's 40)",
        out=DEFAULT_OUT,
        docs=ROOT / "docs",
    )


if __name__ == "__main__":
    main()
