import os

import pytest
import torch
from torch import nn

from vae_course.models import MLPVAE, ConvVAE, build_model
from vae_course.schedules import Constant, Cyclical, LinearWarmup
from vae_course.train import TrainingDiverged, evaluate, fit, load_checkpoint, save_checkpoint


def _data(n=256):
    g = torch.Generator().manual_seed(3)
    return torch.rand(n, 1, 28, 28, generator=g)


def test_history_has_named_terms_per_epoch():
    x = _data()
    h = fit(
        MLPVAE(latent_dim=4, hidden_dims=(32,)), x, x[:64], epochs=3, progress=False, device="cpu"
    )
    for key in (
        "train_loss",
        "train_reconstruction",
        "train_kl",
        "train_elbo",
        "val_loss",
        "val_kl",
    ):
        assert len(h[key]) == 3, key
    assert h["epoch"] == [1, 2, 3]
    # signs as logged: reconstruction is a log-likelihood (< 0), KL >= 0, loss = -ELBO at beta=1
    assert all(r < 0 for r in h["train_reconstruction"]) and all(k >= 0 for k in h["train_kl"])
    assert h["train_loss"][-1] == pytest.approx(-h["train_elbo"][-1], rel=1e-5)


def test_same_seed_gives_identical_losses_on_cpu():
    x = _data()
    runs = []
    for _ in range(2):
        torch.manual_seed(7)
        model = MLPVAE(latent_dim=4, hidden_dims=(32,))
        runs.append(fit(model, x, epochs=2, progress=False, device="cpu", seed=11)["train_loss"])
    assert runs[0] == runs[1]
    torch.manual_seed(7)
    other = fit(
        MLPVAE(latent_dim=4, hidden_dims=(32,)), x, epochs=2, progress=False, device="cpu", seed=12
    )
    assert other["train_loss"] != runs[0]


def test_beta_schedule_is_applied_per_step():
    x = _data(128)
    seen = []

    class Spy(MLPVAE):
        def loss(self, x, *, beta=1.0, free_bits=0.0, **kw):
            seen.append(beta)
            return super().loss(x, beta=beta, free_bits=free_bits)

    fit(
        Spy(latent_dim=2, hidden_dims=(8,)),
        x,
        epochs=2,
        batch_size=32,
        beta=LinearWarmup(4),
        progress=False,
        device="cpu",
    )
    assert seen == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]


def test_schedules():
    assert Constant(0.3)(100) == 0.3
    w = LinearWarmup(10, start=0.0, end=2.0)
    assert [w(s) for s in (0, 5, 10, 50)] == [0.0, 1.0, 2.0, 2.0]
    c = Cyclical(10, ratio=0.5)
    assert [c(s) for s in (0, 2, 5, 9, 10, 12)] == [0.0, 0.4, 1.0, 1.0, 0.0, 0.4]
    with pytest.raises(ValueError):
        Cyclical(10, ratio=0)


def test_nan_guard_names_epoch_and_step():
    class Exploding(MLPVAE):
        calls = 0

        def loss(self, x, **kw):
            terms = super().loss(x, **kw)
            Exploding.calls += 1
            if Exploding.calls == 3:
                terms["loss"] = terms["loss"] * float("nan")
            return terms

    with pytest.raises(TrainingDiverged, match=r"epoch 1, step 3 of 4"):
        fit(
            Exploding(latent_dim=2, hidden_dims=(8,)),
            _data(),
            epochs=2,
            batch_size=64,
            progress=False,
            device="cpu",
        )


def test_nan_in_data_is_refused_before_training():
    x = _data(16)
    x[3, 0, 5, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        fit(MLPVAE(latent_dim=2, hidden_dims=(8,)), x, epochs=1, progress=False, device="cpu")


def test_labels_reach_the_model_and_validation_runs_in_eval_mode():
    x, y = _data(64), torch.arange(64) % 10
    got = []

    class Spy(MLPVAE):
        def loss(self, x, *, labels=None, **kw):
            got.append((labels is not None and labels.shape == (x.shape[0],), self.training))
            return super().loss(x, **kw)

    fit(
        Spy(latent_dim=2, hidden_dims=(8,)),
        (x, y),
        (x, y),
        epochs=1,
        batch_size=32,
        progress=False,
        device="cpu",
    )
    assert got == [(True, True), (True, True), (True, False)]


@pytest.mark.parametrize("cls", [MLPVAE, ConvVAE])
def test_checkpoint_round_trip_gives_identical_outputs(tmp_path, cls):
    model = cls(latent_dim=3)
    opt = torch.optim.Adam(model.parameters())
    path = save_checkpoint(
        tmp_path / "m.pt", model, optimizer=opt, epoch=4, history={"train_loss": [1.5]}
    )
    # loadable by plain torch with weights_only=True
    raw = torch.load(path, weights_only=True)
    assert raw["epoch"] == 4 and raw["history"]["train_loss"] == [1.5]
    ck = load_checkpoint(path)
    clone = build_model(ck["model_name"], **ck["config"])
    load_checkpoint(path, clone)
    model.eval(), clone.eval()
    z = torch.randn(4, 3)
    torch.testing.assert_close(model.decode(z), clone.decode(z), rtol=0, atol=0)


def test_interrupted_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    model = MLPVAE(latent_dim=3, hidden_dims=(8,))
    path = save_checkpoint(tmp_path / "m.pt", model, epoch=1)
    before = path.read_bytes()

    def crash_midway(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"partial garbage")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, MLPVAE(latent_dim=3, hidden_dims=(8,)), epoch=2)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.pt"]  # no temporary file left behind
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1


def test_fit_writes_a_checkpoint_every_epoch(tmp_path):
    path = tmp_path / "ck" / "run.pt"
    fit(
        MLPVAE(latent_dim=2, hidden_dims=(8,)),
        _data(64),
        epochs=2,
        progress=False,
        device="cpu",
        checkpoint_path=path,
    )
    ck = load_checkpoint(path)
    assert ck["epoch"] == 2 and len(ck["history"]["train_loss"]) == 2 and "optimizer" in ck


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")
    path = save_checkpoint(tmp_path / "m.pt", MLPVAE(latent_dim=2, hidden_dims=(8,)))
    with pytest.raises(ValueError, match="holds a MLPVAE"):
        load_checkpoint(path, ConvVAE(latent_dim=2))


def test_evaluate_restores_training_mode():
    model = MLPVAE(latent_dim=2, hidden_dims=(8,))
    model.train()
    out = evaluate(model, _data(32))
    assert model.training and set(out) >= {"loss", "kl", "reconstruction", "elbo"}


def test_grad_clip_bounds_the_update():
    model = nn.Linear(2, 2)
    model.loss = lambda x, **kw: {"loss": (model(x.reshape(-1, 2)) * 1e6).sum()}
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    fit(
        model,
        torch.rand(4, 2),
        epochs=1,
        batch_size=4,
        optimizer=opt,
        grad_clip=0.1,
        progress=False,
        device="cpu",
    )
    step = torch.cat(
        [(p.detach() - b).flatten() for p, b in zip(model.parameters(), before, strict=True)]
    )
    assert step.norm() <= 0.1 + 1e-6
