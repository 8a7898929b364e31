"""Notebook 07's FULL_RUN evidence (scripts/full_run_07.py, docs/full_run/07_full_run.json)."""

import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
STORED = ROOT / "docs" / "full_run" / "07_full_run.json"


def _script():
    spec = importlib.util.spec_from_file_location(
        "full_run_07", ROOT / "scripts" / "full_run_07.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_full_run_script_writes_its_evidence(tmp_path):
    _script().main(["--epochs", "1", "--seeds", "0", "--k", "2", "--out", str(tmp_path)])
    r = json.loads((tmp_path / "07_full_run.json").read_text())
    assert [row["model"] for row in r["runs"]] == list(_script().MODELS)
    for row in r["runs"]:
        assert row["elbo"] < 0 and row["kl"] > 0
        if row["model"] != "one level":
            assert row["kl_z1"] + row["kl_z2"] == pytest.approx(row["kl"], abs=0.5)
            assert 0 <= row["z2_dims_over_0.1_nats"] <= 8


def _printed(name: str) -> tuple[float, float]:
    """Test ELBO and IWAE_100 that notebook 07 prints for 'one level' or 'two levels'."""
    nb = nbformat.read(ROOT / "notebooks" / "07_hierarchical_vae.ipynb", as_version=4)
    text = "\n".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    m = re.search(rf"{name}: test ELBO\s+(-?[\d.]+)\s+IWAE_100\s+(-?[\d.]+)", text)
    assert m, f"notebook 07 prints no bounds for {name}"
    return float(m.group(1)), float(m.group(2))


def test_stored_evidence_at_the_notebooks_budget_matches_the_notebook():
    """Seed 0 at 20 epochs is notebook 07's configuration: the same models, so the same
    bounds up to the sampling noise of the estimates (different draws)."""
    r = json.loads(STORED.read_text())
    assert r["config"]["epochs"] == [20, 60] and 0 in r["config"]["seeds"]
    rows = {x["model"]: x for x in r["runs"] if x["epochs"] == 20 and x["seed"] == 0}
    for name in ("one level", "two levels"):
        elbo, iwae = _printed(name)
        assert rows[name]["elbo"] == pytest.approx(elbo, abs=0.5)
        assert rows[name]["iwae_100"] == pytest.approx(iwae, abs=0.5)


def test_stored_bounds_are_ordered_and_the_levels_add_up():
    for row in json.loads(STORED.read_text())["runs"]:
        assert row["iwae_100"] >= row["elbo"] - 0.1, row
        if "kl_z1" in row:
            assert row["kl_z1"] + row["kl_z2"] == pytest.approx(row["kl"], abs=0.3), row


def test_stored_page_is_what_the_script_writes_from_the_json():
    r = json.loads(STORED.read_text())
    assert (ROOT / "docs" / "full_run_07.md").read_text() == _script().page(r)
