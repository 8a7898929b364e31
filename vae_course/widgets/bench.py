"""Time one update of each latent explorer: callback → decode → PNG, as a learner drags.

    python -m vae_course.widgets.bench [--repeats 40] [--device cpu] [--json FILE]

Uses the notebook-04 architecture (784-512-256-20 MLP VAE, and the same with a 2-D latent
for the plane) on the bundled test digits. Weights don't change the cost, so the models
are freshly initialised. Each update is the widget's own callback, triggered by setting a
control's value exactly as the browser does; the time is kernel-side (the browser adds a
round trip of a few ms on loopback). The target is ≤ 100 ms per update.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from ..data import load_mnist
from ..device import get_device, seed_everything
from ..models import MLPVAE
from .interpolator import Interpolator
from .plane import LatentPlane
from .sliders import LatentSliders
from .traversal import Traversal


def _time(update, repeats: int) -> dict:
    update(0)  # warm-up, not timed
    times = []
    for i in range(1, repeats + 1):
        t0 = time.perf_counter()
        update(i)
        times.append(1000 * (time.perf_counter() - t0))
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p95_ms": times[min(len(times) - 1, int(0.95 * len(times)))],
        "max_ms": times[-1],
    }


def run(repeats: int = 40, device=None) -> dict:
    device = device or get_device()
    seed_everything(0)
    data = load_mnist()
    x, y = data.x_test, data.y_test
    m20 = MLPVAE(latent_dim=20).to(device)
    m2 = MLPVAE(latent_dim=2).to(device)
    vals = [round(-2.5 + 5 * (i % 21) / 20, 2) for i in range(repeats + 1)]

    sliders = LatentSliders(m20, x, y)
    plane = LatentPlane(m2, x, y)
    plane20 = LatentPlane(m20, x, y)
    interp = Interpolator(m20, x, y)
    trav = Traversal(m20, x, y)
    cases = {
        "LatentSliders: move a slider": lambda i: setattr(sliders.sliders[i % 5], "value", vals[i]),
        "LatentSliders: encode a test digit": lambda i: sliders.encode_random(),
        "LatentPlane (2-D): move the pick slider": lambda i: setattr(
            plane.pick_a, "value", vals[i]
        ),
        "LatentPlane (20-D): change a plane axis (15x15 grid)": lambda i: setattr(
            plane20.dim_b, "value", 2 + i % 10
        ),
        "Interpolator: move the step slider": lambda i: setattr(interp.step, "value", i % 10),
        "Interpolator: new pair (encode + 2 paths)": lambda i: interp.random_pair(),
        "Traversal: change the dimension": lambda i: setattr(trav.dim, "value", i % 20),
        "Traversal: change the range": lambda i: setattr(trav.sigma, "value", 1.0 + 0.5 * (i % 8)),
    }
    results = {
        "device": str(device),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "repeats": repeats,
        "updates": {},
    }
    for name, update in cases.items():
        results["updates"][name] = _time(update, repeats)
    errors = [w.last_error for w in (sliders, plane, plane20, interp, trav) if w.last_error]
    if errors:
        raise RuntimeError(f"an explorer failed during the benchmark: {errors[0]!r}")
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m vae_course.widgets.bench", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--repeats", type=int, default=40)
    p.add_argument("--device", default=None, help="cpu, cuda, mps (default: get_device())")
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    r = run(args.repeats, torch.device(args.device) if args.device else None)
    print(
        f"device {r['device']}, torch {r['torch']}, {r['threads']} threads, {r['repeats']} updates"
    )
    print(f"{'update':<55}{'median ms':>10}{'p95 ms':>9}{'max ms':>9}")
    for name, t in r["updates"].items():
        print(f"{name:<55}{t['median_ms']:>10.1f}{t['p95_ms']:>9.1f}{t['max_ms']:>9.1f}")
    worst = max(t["p95_ms"] for t in r["updates"].values())
    print(f"slowest p95: {worst:.1f} ms (target: <= 100 ms per update)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
