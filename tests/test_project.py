"""The project's own contracts: two README commands, CI calls them, deps don't drift."""

import pathlib
import re

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONDA_NAMES = {"torch": "pytorch"}


def _name_spec(req: str) -> tuple[str, str]:
    m = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", req)
    return m.group(1).lower(), m.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_name_spec(r) for r in py["dependencies"] + py["optional-dependencies"]["test"])
    wanted = {CONDA_NAMES.get(k, k): v for k, v in wanted.items()}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["name"] == "vae-course"
    conda = dict(_name_spec(d) for d in env["dependencies"] if isinstance(d, str))
    conda.pop("python"), conda.pop("pip")
    assert conda == wanted


def test_readme_quick_start_is_two_commands_that_ci_runs():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [ln.split("#")[0].strip() for ln in quick.strip().splitlines() if ln.strip()]
    assert commands == ["make lab", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab: ", makefile, re.M) and re.search(r"^test: ", makefile, re.M)
    assert re.search(r"jupyter lab .*default_url=/lab/tree/notebooks", makefile)
    assert re.search(r"^\s*(time )?make test\b", (ROOT / ".ci" / "run").read_text(), re.M)


def test_every_notebook_is_committed_executed_without_errors():
    import json

    for nb_path in sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb")):
        cells = json.loads(nb_path.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]
        assert all(c["execution_count"] is not None for c in code), f"{nb_path.name} not executed"
        errors = [o for c in code for o in c.get("outputs", []) if o["output_type"] == "error"]
        assert not errors, f"{nb_path.name} has stored errors"
        ignored = [c for c in code if "".join(c["source"]).startswith("# NBVAL_IGNORE_OUTPUT")]
        assert len(ignored) < len(code) / 2, f"{nb_path.name}: most cells are ignored by nbval"


def test_notebooks_store_the_kernelspec_jupyterlab_writes():
    """A stored kernelspec that differs from the installed one marks a notebook as
    modified the moment JupyterLab opens it; `vae-course execute` stores the installed one."""
    import json

    from vae_course.authoring import installed_kernelspec

    expected = installed_kernelspec("python3")
    paths = [p for d in ("notebooks", "solutions", "exercises") for p in ROOT.glob(f"{d}/*.ipynb")]
    wrong = [
        p.relative_to(ROOT).as_posix()
        for p in sorted(paths)
        if json.loads(p.read_text())["metadata"].get("kernelspec") != expected
    ]
    assert not wrong, f"re-execute with `vae-course execute` (kernelspec {expected}): {wrong}"


def test_pyproject_license_is_an_spdx_string_with_a_license_file():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert py["project"]["license"] == "MIT"  # a TOML table is deprecated by setuptools
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
