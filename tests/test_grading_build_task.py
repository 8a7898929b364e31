"""ex04's build task: the learner's Encoder and Decoder, checked by structure (random
weights cannot be compared by value): parameter count, output shapes, a nonlinearity, flat
and image inputs, logits not probabilities, and a copy on the stand-in GPU device."""

import pytest
import torch
from torch import nn

from vae_course.grading import run_check


class Encoder(nn.Module):
    def __init__(self, latent_dim=20):
        super().__init__()
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU()
        )
        self.stats = nn.Linear(256, 2 * latent_dim)

    def forward(self, x):
        mu, logvar = self.stats(self.hidden(x)).chunk(2, dim=1)
        return mu, logvar


class TwoHeadEncoder(nn.Module):  # another correct answer: separate heads
    def __init__(self, latent_dim=20):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU())
        self.mu, self.logvar = nn.Linear(256, latent_dim), nn.Linear(256, latent_dim)

    def forward(self, x):
        h = self.body(x.reshape(x.shape[0], -1))
        return self.mu(h), self.logvar(h)


class Decoder(nn.Module):
    def __init__(self, latent_dim=20):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.ReLU(),
            nn.Linear(256, 512),
            nn.ReLU(),
            nn.Linear(512, 784),
        )

    def forward(self, z):
        return self.net(z).view(-1, 1, 28, 28)


class EncNoRelu(Encoder):
    def __init__(self, latent_dim=20):
        super().__init__(latent_dim)
        self.hidden = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.Linear(512, 256))


class EncMissingFirstRelu(Encoder):  # still nonlinear, same parameter count
    def __init__(self, latent_dim=20):
        super().__init__(latent_dim)
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 512), nn.Linear(512, 256), nn.ReLU()
        )


class EncReluOnStats(Encoder):  # mu and logvar can never be negative
    def forward(self, x):
        return tuple(torch.relu(t) for t in super().forward(x))


class DecReluOnLogits(Decoder):  # logits never negative
    def forward(self, z):
        return torch.relu(super().forward(z))


class EncWrongSizes(Encoder):
    def __init__(self, latent_dim=20):
        super().__init__(latent_dim)
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 256), nn.ReLU()
        )


class EncConcat(Encoder):
    def forward(self, x):
        return self.stats(self.hidden(x))


class EncFixedDevice(Encoder):
    def forward(self, x):
        mu, logvar = super().forward(x)
        return mu + torch.zeros(mu.shape), logvar


class EncLatentFixed(Encoder):
    def __init__(self, latent_dim=20):
        super().__init__(20)


class DecSigmoid(Decoder):
    def forward(self, z):
        return torch.sigmoid(super().forward(z))


class DecFlat(Decoder):
    def forward(self, z):
        return self.net(z)


class DecNoRelu(Decoder):
    def __init__(self, latent_dim=20):
        super().__init__(latent_dim)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.Linear(256, 512), nn.Linear(512, 784)
        )


class DecNoBias(Decoder):
    def __init__(self, latent_dim=20):
        super().__init__(latent_dim)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.ReLU(),
            nn.Linear(256, 512),
            nn.ReLU(),
            nn.Linear(512, 784, bias=False),
        )


@pytest.mark.parametrize("seed", [0, 7])
@pytest.mark.parametrize(
    ("task", "cls"),
    [("ex04.encoder", Encoder), ("ex04.encoder", TwoHeadEncoder), ("ex04.decoder", Decoder)],
)
def test_correct_modules_pass(task, cls, seed):
    assert run_check(task, cls, seed=seed, max_points=2).points == 2


@pytest.mark.parametrize(
    ("task", "cls", "hint"),
    [
        ("ex04.encoder", EncNoRelu, "put a ReLU after each hidden layer"),
        ("ex04.encoder", EncMissingFirstRelu, "follow each hidden layer by a ReLU"),
        ("ex04.encoder", EncReluOnStats, "never negative: no activation after the last"),
        ("ex04.decoder", DecReluOnLogits, "nothing after the last"),
        ("ex04.encoder", EncWrongSizes, "check the layer sizes"),
        ("ex04.encoder", EncConcat, "must return a pair (mu, logvar)"),
        ("ex04.encoder", EncFixedDevice, "device"),
        ("ex04.encoder", EncLatentFixed, "expected shape"),
        ("ex04.decoder", DecSigmoid, "no sigmoid at the end"),
        ("ex04.decoder", DecFlat, "reshape the 784 outputs"),
        ("ex04.decoder", DecNoRelu, "put a ReLU after each hidden layer"),
        ("ex04.decoder", DecNoBias, "check the layer sizes"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)
def test_plausible_wrong_modules_fail_with_their_hint(task, cls, hint):
    res = run_check(task, cls, seed=3, max_points=2)
    assert res.points == 0 and res.status == "failed"
    assert hint in res.message, res.message
