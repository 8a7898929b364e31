"""Claims of notebook 04 and its FULL_RUN evidence (scripts/full_run_04.py, docs/full_run/)."""

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from vae_course.metrics import aggregate_posterior_stats, nats_to_bits_per_dim

ROOT = Path(__file__).resolve().parents[1]


class GaussianCode(nn.Module):
    """encode(x) -> (x[:, :D], log σ² fixed): posterior means are the inputs themselves."""

    def __init__(self, logvar):
        super().__init__()
        self.logvar = torch.tensor(logvar)
        self.anchor = nn.Parameter(torch.zeros(1))  # so the model has a device

    def encode(self, x):
        return x, self.logvar.expand_as(x)


def test_nats_to_bits_per_dim_matches_the_definition():
    # 784 · ln 2 nats is one bit per pixel; the conversion is linear
    assert nats_to_bits_per_dim(784 * math.log(2)) == pytest.approx(1.0)
    assert nats_to_bits_per_dim(86.76) == pytest.approx(86.76 / 784 / math.log(2))
    assert nats_to_bits_per_dim(10.0, dims=10) == pytest.approx(1 / math.log(2))


def test_aggregate_posterior_stats_follow_the_law_of_total_variance():
    n = 20000
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(n, 3, generator=g) * torch.tensor([1.0, 0.5, 0.0]) + torch.tensor([0, 2, 0])
    logvar = [0.0, math.log(0.25), math.log(4.0)]
    stats = aggregate_posterior_stats(GaussianCode(logvar), mu, generator=g)
    var_means, sigma2 = torch.tensor([1.0, 0.25, 0.0]), torch.tensor([1.0, 0.25, 4.0])
    torch.testing.assert_close(stats["mean_sigma2"], sigma2, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(
        stats["mean_of_means"], torch.tensor([0.0, 2.0, 0.0]), atol=0.03, rtol=0
    )
    torch.testing.assert_close(stats["var_of_means"], var_means, atol=0.04, rtol=0)
    total = var_means + sigma2  # Var z = Var μ + E σ²; the SE of a sample variance is ≈ var·√(2/n)
    tol = 5 * total * math.sqrt(2 / n)
    assert ((stats["var"] - total).abs() <= tol).all(), (stats["var"], total)
    se_mean = 5 * (total / n).sqrt()
    assert ((stats["mean"] - torch.tensor([0.0, 2.0, 0.0])).abs() <= se_mean).all()


def test_aggregate_posterior_stats_are_seeded_and_reject_a_single_example():
    model = GaussianCode([0.0, 0.0])
    x = torch.randn(100, 2)
    a = aggregate_posterior_stats(model, x, generator=torch.Generator().manual_seed(1))
    b = aggregate_posterior_stats(model, x, generator=torch.Generator().manual_seed(1))
    c = aggregate_posterior_stats(model, x, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a["var"], b["var"]) and not torch.equal(a["var"], c["var"])
    with pytest.raises(ValueError, match="at least 2 examples"):
        aggregate_posterior_stats(model, x[:1])


def _script():
    spec = importlib.util.spec_from_file_location(
        "full_run_04", ROOT / "scripts" / "full_run_04.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_full_run_script_writes_its_evidence(tmp_path):
    _script().main(["--epochs", "2", "--every", "1", "--k", "1", "5", "--out", str(tmp_path)])
    results = json.loads((tmp_path / "04_full_run.json").read_text())
    assert results["config"]["parameters"] == 1_082_680
    assert [c["epoch"] for c in results["checkpoints"]] == [1, 2]
    assert len(results["history"]["val_loss"]) == 2
    assert results["iwae_nats"]["1"] <= results["iwae_nats"]["5"] + 0.5
    for name in ("04_curves.png", "04_units.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit):
        _script().main(["--epochs", "0", "--out", str(tmp_path)])


def test_stored_full_run_numbers_agree_with_each_other():
    """docs/full_run/04_full_run.json: the numbers docs/full_run_04.md and notebook 04 cite."""
    r = json.loads((ROOT / "docs" / "full_run" / "04_full_run.json").read_text())
    assert r["config"]["epochs"] == 100 and r["config"]["parameters"] == 1_082_680
    iwae = {int(k): v for k, v in r["iwae_nats"].items()}
    ks = sorted(iwae)
    assert all(iwae[a] <= iwae[b] + 0.05 for a, b in zip(ks, ks[1:], strict=False))
    for k in ks:
        assert r["iwae_bits_per_dim"][str(k)] == pytest.approx(
            nats_to_bits_per_dim(-iwae[k]), abs=1e-4
        )
    assert r["test_elbo"] <= iwae[ks[-1]]
    assert r["generalisation_gap_nats"] == pytest.approx(
        r["train_elbo_fixed_binarization"] - r["test_elbo"], abs=0.02
    )
    val = r["history"]["val_loss"]
    assert r["best_val_loss"] == pytest.approx(min(val), abs=0.01)
    assert r["checkpoints"][-1]["epoch"] == 100
    page = (ROOT / "docs" / "full_run_04.md").read_text()
    assert f"{iwae[ks[-1]]:.2f}" in page


def test_stored_full_run_page_is_what_the_script_writes_from_the_json():
    r = json.loads((ROOT / "docs" / "full_run" / "04_full_run.json").read_text())
    assert (ROOT / "docs" / "full_run_04.md").read_text() == _script().page(r)
