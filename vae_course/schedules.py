"""KL weight schedules: callables ``schedule(step) -> beta`` over optimisation steps.

``fit`` calls the schedule once per training step (step 0, 1, 2, ...), so annealing is
smooth within an epoch. Plain floats are accepted wherever a schedule is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Constant:
    """beta(step) = value."""

    value: float = 1.0

    def __call__(self, step: int) -> float:
        return float(self.value)


@dataclass(frozen=True)
class LinearWarmup:
    """beta rises linearly from ``start`` to ``end`` over ``warmup_steps``, then stays at ``end``."""

    warmup_steps: int
    start: float = 0.0
    end: float = 1.0

    def __post_init__(self):
        if self.warmup_steps < 1:
            raise ValueError(f"warmup_steps must be >= 1, got {self.warmup_steps}")

    def __call__(self, step: int) -> float:
        t = min(max(step, 0) / self.warmup_steps, 1.0)
        return self.start + t * (self.end - self.start)


@dataclass(frozen=True)
class Cyclical:
    """Cyclical annealing (Fu et al. 2019): repeat a ramp every ``cycle_steps`` steps.

    Within each cycle beta rises linearly from ``start`` to ``end`` during the first
    ``ratio`` of the cycle and stays at ``end`` for the rest.
    """

    cycle_steps: int
    ratio: float = 0.5
    start: float = 0.0
    end: float = 1.0

    def __post_init__(self):
        if self.cycle_steps < 1:
            raise ValueError(f"cycle_steps must be >= 1, got {self.cycle_steps}")
        if not 0 < self.ratio <= 1:
            raise ValueError(f"ratio must be in (0, 1], got {self.ratio}")

    @classmethod
    def from_cycles(
        cls,
        total_steps: int,
        cycles: int = 4,
        ratio: float = 0.5,
        start: float = 0.0,
        end: float = 1.0,
    ) -> Cyclical:
        """Fu et al.'s parametrisation: ``cycles`` (M) cycles over ``total_steps`` (T) steps.

        Each cycle lasts ⌈T / M⌉ steps; beta rises during its first ``ratio`` (R) and then
        holds at ``end``. ``Cyclical.from_cycles(T, 1, R)`` is a linear warm-up over R·T steps.
        """
        if not isinstance(total_steps, int) or not isinstance(cycles, int):
            raise ValueError(
                f"total_steps and cycles must be ints, got {total_steps!r}, {cycles!r}"
            )
        if cycles < 1 or total_steps < cycles:
            raise ValueError(
                f"need 1 <= cycles <= total_steps, got cycles={cycles}, total_steps={total_steps}"
            )
        return cls(math.ceil(total_steps / cycles), ratio=ratio, start=start, end=end)

    def __call__(self, step: int) -> float:
        pos = (max(step, 0) % self.cycle_steps) / self.cycle_steps
        t = min(pos / self.ratio, 1.0)
        return self.start + t * (self.end - self.start)


def as_schedule(beta) -> Constant | LinearWarmup | Cyclical:
    """Turn a float into :class:`Constant`; pass callables through."""
    if callable(beta):
        return beta
    value = float(beta)
    if value < 0:
        raise ValueError(f"beta must be >= 0, got {value}")
    return Constant(value)
