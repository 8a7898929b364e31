"""Training strategies compared on equal terms (chapter 09): KL schedules and free bits.

A :class:`Strategy` is a KL weight (a float or a schedule ``step -> beta`` from
:mod:`vae_course.schedules`) and a free-bits floor (a float λ per dimension or a
:class:`~vae_course.losses.FreeBits` per group). :func:`run_strategy` trains one model with
it under the course's likelihood protocol (dynamically binarized training digits, a fixed
binarized test set) and measures the model on the test set after every epoch:

- ``test_elbo``, ``test_reconstruction``, ``test_kl``: the *true* ELBO and its terms, nats per
  example (whatever the strategy's loss was; ``train_loss`` is that loss);
- ``test_active``: active units (Var_x E_q[z_j|x] > 0.01, as ``metrics.active_units``);
- ``test_dims_over_0_1``: latent dimensions whose KL exceeds 0.1 nats;
- ``test_mi``: I_q(x; z) in nats (``metrics.mutual_information``, batches of ``mi_batch``,
  averaged over ``track_mi_draws`` draws; the final ``mi`` over ``mi_draws``).

After training it adds IWAE_k in nats and bits/dim and the KL of each dimension.
:func:`compare_strategies` runs several strategies over the same seeds and budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch

from .data import dynamic_binarize
from .losses import FreeBits
from .metrics import (
    active_units,
    elbo_estimate,
    iwae_log_likelihood,
    kl_per_dimension,
    mutual_information,
    nats_to_bits_per_dim,
)
from .schedules import Cyclical, LinearWarmup, as_schedule
from .train import fit

__all__ = [
    "Strategy",
    "StrategyRun",
    "run_strategy",
    "compare_strategies",
    "strategy_table",
    "chapter_strategies",
]


@dataclass(frozen=True)
class Strategy:
    """A named way to weigh the KL term: ``beta`` (float or schedule) and ``free_bits``."""

    name: str
    beta: float | Callable[[int], float] = 1.0
    free_bits: float | FreeBits = 0.0

    def __post_init__(self):
        as_schedule(self.beta)  # rejects a negative float with a clear error
        if not isinstance(self.free_bits, FreeBits) and self.free_bits < 0:
            raise ValueError(f"free_bits must be >= 0 nats per dimension, got {self.free_bits}")


@dataclass
class StrategyRun:
    """One trained model of a strategy comparison and its measurements (nats per example).

    ``history``: ``fit``'s per-epoch history plus the ``test_*`` curves (see the module).
    ``elbo``, ``reconstruction``, ``kl``: the true ELBO terms on the test set after training;
    ``iwae`` IWAE_k and ``bits_per_dim`` its −value in bits per pixel; ``active`` active
    units; ``mi`` I_q(x; z); ``kl_per_dim`` (D,); ``final_loss`` the strategy's own training
    loss in its last epoch; ``seconds`` of training.
    """

    strategy: Strategy
    seed: int
    model: torch.nn.Module
    history: dict
    elbo: float = 0.0
    reconstruction: float = 0.0
    kl: float = 0.0
    iwae: float = 0.0
    bits_per_dim: float = 0.0
    active: int = 0
    mi: float = 0.0
    kl_per_dim: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    final_loss: float = 0.0
    seconds: float = 0.0

    @property
    def name(self) -> str:
        return self.strategy.name

    @property
    def dims_over_0_1(self) -> int:
        """Latent dimensions whose test KL exceeds 0.1 nats (the ones that carry a code)."""
        return int((self.kl_per_dim > 0.1).sum())

    def row(self) -> dict:
        """The run's numbers, rounded for a printed table."""
        return {
            "strategy": self.name,
            "seed": self.seed,
            "elbo": round(self.elbo, 1),
            "iwae": round(self.iwae, 1),
            "kl": round(self.kl, 1),
            "active": self.active,
            "mi": round(self.mi, 2),
            "final_loss": round(self.final_loss, 1),
        }


def _test_tracker(model, x_test: torch.Tensor, mi_batch: int, mi_seed: int, mi_draws: int):
    """A ``fit`` callback that appends the test-set curves to the history each epoch."""

    def callback(epoch: int, history: dict) -> None:
        terms = elbo_estimate(model, x_test)
        for key in ("elbo", "reconstruction", "kl"):
            history.setdefault(f"test_{key}", []).append(terms[key])
        history.setdefault("test_active", []).append(active_units(model, x_test)[0])
        dims = int((kl_per_dimension(model, x_test) > 0.1).sum())
        history.setdefault("test_dims_over_0_1", []).append(dims)
        mi = mutual_information(model, x_test, batch_size=mi_batch, seed=mi_seed, draws=mi_draws)
        history.setdefault("test_mi", []).append(mi)

    return callback


def run_strategy(
    strategy: Strategy,
    make_model: Callable[[], torch.nn.Module],
    x_train: torch.Tensor,
    x_test: torch.Tensor,
    *,
    seed: int = 0,
    epochs: int = 30,
    batch_size: int = 128,
    lr: float = 1e-3,
    iwae_k: int = 100,
    mi_batch: int = 500,
    mi_draws: int = 10,
    track_mi_draws: int = 2,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = dynamic_binarize,
    progress: bool = False,
    device=None,
) -> StrategyRun:
    """Train ``make_model()`` with ``strategy`` and measure it on ``x_test`` after each epoch.

    x_train: (N, 1, 28, 28) grey levels in [0, 1], binarized afresh each batch by
    ``transform`` (the course's protocol); x_test: (M, 1, 28, 28) *binary* test digits.
    The model is built after seeding with ``seed``, so a CPU run repeats exactly.
    """
    if not torch.all((x_test == 0) | (x_test == 1)):
        raise ValueError(
            "x_test must be binary (0/1) so the ELBO and IWAE are bounds on log p(x); "
            "use load_mnist(binarize='static').x_test"
        )
    torch.manual_seed(seed)
    model = make_model()
    start = time.perf_counter()
    history = fit(
        model,
        x_train,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        beta=strategy.beta,
        free_bits=strategy.free_bits,
        transform=transform,
        seed=seed,
        progress=progress,
        device=device,
        callback=_test_tracker(model, x_test, mi_batch, seed, track_mi_draws),
    )
    seconds = float(sum(history["seconds"])) if history["seconds"] else time.perf_counter() - start
    run = StrategyRun(strategy, int(seed), model, history, seconds=seconds)
    if epochs == 0:  # nothing trained: measure the initial model
        last = elbo_estimate(model, x_test)
    else:
        last = {k: history[f"test_{k}"][-1] for k in ("elbo", "reconstruction", "kl")}
    run.elbo, run.reconstruction, run.kl = last["elbo"], last["reconstruction"], last["kl"]
    run.active = active_units(model, x_test)[0]
    run.mi = mutual_information(model, x_test, batch_size=mi_batch, seed=seed, draws=mi_draws)
    run.kl_per_dim = kl_per_dimension(model, x_test)
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    run.iwae = iwae_log_likelihood(model, x_test, k=iwae_k)
    torch.random.set_rng_state(gen_state)
    run.bits_per_dim = nats_to_bits_per_dim(-run.iwae, dims=x_test[0].numel())
    run.final_loss = history["train_loss"][-1] if history.get("train_loss") else math.nan
    return run


def compare_strategies(
    strategies: Iterable[Strategy],
    make_model: Callable[[], torch.nn.Module],
    x_train: torch.Tensor,
    x_test: torch.Tensor,
    seeds: Iterable[int] = (0,),
    **kwargs,
) -> list[StrategyRun]:
    """:func:`run_strategy` for every (strategy, seed) on the same data, model and budget.

    Returns the runs strategy-major (all seeds of the first strategy first).
    """
    strategies = list(strategies)
    names = [s.name for s in strategies]
    if len(set(names)) != len(names):
        raise ValueError(f"strategy names must be unique, got {names}")
    return [
        run_strategy(s, make_model, x_train, x_test, seed=seed, **kwargs)
        for s in strategies
        for seed in seeds
    ]


def strategy_table(runs: list[StrategyRun], keys: Iterable[str] | None = None) -> str:
    """A plain-text table of each strategy's mean over its seeds (± half the range when several).

    ``keys`` are :class:`StrategyRun` attributes (default: elbo, iwae, kl, active, mi,
    final_loss); counts print as integers, ``mi`` with 2 decimals, ``bits_per_dim`` with 3.
    """
    keys = list(keys or ("elbo", "iwae", "kl", "active", "mi", "final_loss"))
    by_name: dict[str, list[StrategyRun]] = {}
    for run in runs:
        by_name.setdefault(run.name, []).append(run)
    width = max(len(n) for n in by_name) if by_name else 8
    lines = [f"{'strategy':<{width}}  " + "  ".join(f"{k:>13}" for k in keys)]
    for name, group in by_name.items():
        cells = []
        for k in keys:
            vals = [float(getattr(r, k)) for r in group]
            mean = sum(vals) / len(vals)
            digits = {"active": 0, "dims_over_0_1": 0, "mi": 2, "bits_per_dim": 3}.get(k, 1)
            cell = f"{mean:.{digits}f}"
            if len(vals) > 1:
                cell += f" ±{(max(vals) - min(vals)) / 2:.{digits}f}"
            cells.append(f"{cell:>13}")
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def chapter_strategies(
    total_steps: int, latent_dim: int = 64, group_size: int = 8
) -> list[Strategy]:
    """Notebook 09's five strategies for a run of ``total_steps`` optimisation steps.

    constant β = 1; a linear warm-up over the first half (Bowman et al. 2016); cyclical
    annealing with M = 4 cycles and R = 0.5 (Fu et al. 2019); free bits λ = 0.25 nats per
    dimension; free bits λ = 2 nats per group of 8 dimensions (Kingma et al. 2016). Both
    free-bits variants leave the same total, 0.25 · ``latent_dim`` nats, unpenalised.
    """
    if latent_dim % group_size:
        raise ValueError(f"group_size {group_size} must divide latent_dim {latent_dim}")
    per_dim = 0.25
    return [
        Strategy("constant β = 1"),
        Strategy("linear warm-up", beta=LinearWarmup(max(total_steps // 2, 1))),
        Strategy("cyclical (M=4, R=0.5)", beta=Cyclical.from_cycles(total_steps, 4, 0.5)),
        Strategy("free bits 0.25/dim", free_bits=per_dim),
        Strategy(
            f"free bits {per_dim * group_size:g}/group of {group_size}",
            free_bits=FreeBits(per_dim * group_size, group_size=group_size),
        ),
    ]
