"""Tools for course authors: execute a notebook exactly the way CI checks it.

``vae-course execute notebooks/04_vae.ipynb`` runs every cell in a fresh kernel on the
CPU (``VAE_COURSE_DEVICE=cpu``) from the notebook's own folder, stores the outputs and
the widget state in the file, and fails if a cell raises. Then
``pytest --nbval notebooks/04_vae.ipynb`` compares a new run against what was stored.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

NBVAL_ENV = {
    "VAE_COURSE_DEVICE": "cpu",
    "PYTHONHASHSEED": "0",
}


def execute_notebook(
    path: str | os.PathLike, timeout: int = 900, kernel_name: str = "python3"
) -> float:
    """Execute ``path`` in place (outputs + widget state saved); return the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    old = {k: os.environ.get(k) for k in NBVAL_ENV}
    os.environ.update({k: v for k, v in NBVAL_ENV.items() if v})
    t0 = time.perf_counter()
    try:
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name=kernel_name,
            resources={"metadata": {"path": str(path.parent.resolve())}},
            store_widget_state=True,
        )
        client.execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    seconds = time.perf_counter() - t0
    nb.metadata["kernelspec"] = installed_kernelspec(kernel_name)
    nbformat.write(nb, path)
    return seconds


def installed_kernelspec(kernel_name: str = "python3") -> dict[str, str]:
    """The ``kernelspec`` metadata JupyterLab writes for ``kernel_name`` on this install.

    Stored notebooks carry exactly this, so opening one in JupyterLab does not mark it as
    modified (JupyterLab rewrites a kernelspec that differs from the running kernel's).
    Returns ``{"display_name": ..., "language": ..., "name": ...}``.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec(kernel_name)
    return {"display_name": spec.display_name, "language": spec.language, "name": kernel_name}


def full_run_main(
    argv,
    *,
    chapter: str,
    doc: str,
    run,
    page,
    epochs: list[int],
    epochs_help: str,
    out: Path,
    docs: Path,
    echo: bool = False,
) -> None:
    """The command line every ``scripts/full_run_NN.py`` shares (notebook NN's stored evidence).

    ``run(epochs, seeds, k) -> results`` trains and measures; ``page(results) -> str`` writes
    the Markdown page. Options: ``--epochs``, ``--seeds`` (default 0 1 2), ``--k`` (IWAE
    samples, default 100), ``--out`` (folder for ``{chapter}_full_run.json``, default
    ``out``), ``--page-only`` (rewrite the page from the stored JSON). With the default
    ``out`` the page goes to ``docs / f"full_run_{chapter}.md"``, else next to the JSON.
    """
    import argparse
    import json

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--epochs", type=int, nargs="+", default=list(epochs), help=epochs_help)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--k", type=int, default=100, help="IWAE samples per digit")
    parser.add_argument("--out", type=Path, default=out, help="folder for the JSON")
    parser.add_argument(
        "--page-only", action="store_true", help="rewrite the page from the stored JSON"
    )
    args = parser.parse_args(argv)
    stored = args.out / f"{chapter}_full_run.json"
    target = (docs if args.out == out else args.out) / f"full_run_{chapter}.md"
    if args.page_only:
        target.write_text(page(json.loads(stored.read_text())))
        return
    t0 = time.perf_counter()
    results = run(args.epochs, args.seeds, args.k)
    results["config"]["total_seconds"] = round(time.perf_counter() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    stored.write_text(json.dumps(results, indent=1) + "\n")
    if args.out == out:
        target.write_text(page(results))
    if echo:
        print(page(results))
