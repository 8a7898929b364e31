"""The ``vae-course`` command.

vae-course info                 versions, device, and an offline data check
vae-course execute NB...        re-execute notebooks the way CI checks them
vae-course bench                fit() vs a hand-written loop (see vae_course.bench)
"""

from __future__ import annotations

import argparse
import sys


def _info(args) -> int:
    import platform

    import torch

    from . import __version__
    from .data import load_mnist
    from .device import available_devices, get_device

    print(
        f"vae_course {__version__}, Python {platform.python_version()}, torch {torch.__version__}"
    )
    print(f"devices available: {', '.join(available_devices())}; course uses: {get_device()}")
    data = load_mnist()
    print(f"bundled MNIST: {len(data.x_train)} train / {len(data.x_test)} test digits, offline: OK")
    return 0


def _execute(args) -> int:
    from .authoring import execute_notebook

    for nb in args.notebooks:
        seconds = execute_notebook(nb, timeout=args.timeout)
        print(f"executed {nb} in {seconds:.1f} s; now check it with: pytest --nbval {nb}")
    return 0


def _bench(args) -> int:
    from .bench import main as bench_main

    return bench_main(args.rest)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vae-course", description="The VAE course's command.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("info", help="show versions, device and check the bundled data")
    p.set_defaults(func=_info)
    p = sub.add_parser("execute", help="re-execute notebooks in place, as CI checks them")
    p.add_argument("notebooks", nargs="+")
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    p.set_defaults(func=_execute)
    p = sub.add_parser("bench", help="benchmark fit() against a hand-written loop")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
