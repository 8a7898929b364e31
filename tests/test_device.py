import pathlib
import re

import pytest
import torch

from vae_course.device import available_devices, get_device, seed_everything

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_env_var_overrides(monkeypatch):
    monkeypatch.setenv("VAE_COURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")


def test_default_picks_an_available_device(monkeypatch):
    monkeypatch.delenv("VAE_COURSE_DEVICE", raising=False)
    assert get_device().type == available_devices()[0]


def test_unavailable_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("VAE_COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        get_device()


def test_cuda_is_preferred_when_present(monkeypatch):
    monkeypatch.delenv("VAE_COURSE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")


def test_seed_everything_repeats_random_streams():
    seed_everything(5)
    a = torch.randn(3)
    seed_everything(5)
    assert torch.equal(a, torch.randn(3))
    with pytest.raises(ValueError):
        seed_everything(-1)


def test_no_hard_coded_cuda_calls_anywhere():
    offenders = []
    for path in list((ROOT / "vae_course").rglob("*.py")) + list(ROOT.glob("*/*.ipynb")):
        text = path.read_text()
        if re.search(r"\.cuda\(|['\"]cuda:0['\"]", text):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == [], f"use vae_course.device.get_device() instead in {offenders}"
