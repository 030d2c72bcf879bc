"""Weight initializers, reproducible from a seed (numpy only, no jax needed).

Each initializer is a small frozen dataclass; calling it with a shape and a
`numpy.random.Generator` returns a float64 array. `clip=(low, high)` clips the draw.
Fan-in variants scale by 1/sqrt(fan_in), fan_in = shape[0] (weights are (n_in, n_out)); for a
sparse synapse (`Initializer.synapses`) fan_in is the in-degree of each synapse's output.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Initializer:
    """Base: subclasses implement `draw`; `clip` is applied to every draw."""

    clip: tuple[float, float] | None = field(default=None, kw_only=True)

    def __call__(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        return self._clipped(self.draw(tuple(shape), rng))

    def synapses(self, fan_in: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One value per synapse of a sparse synapse, (n_syn,); `fan_in` (n_syn,) is the in-degree
        of each synapse's output (what `shape[0]` is for a dense (n_in, n_out) draw)."""
        return self._clipped(self.draw_synapses(np.asarray(fan_in, dtype=np.float64), rng))

    def draw_synapses(self, fan_in: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.draw(fan_in.shape, rng)

    def _clipped(self, values) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64)
        return np.clip(values, *self.clip) if self.clip is not None else values

    def draw(self, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        raise TypeError(f"{type(self).__name__} is abstract; use constant, uniform, gaussian, "
                        "fan_in_uniform or fan_in_gaussian.")


@dataclass(frozen=True)
class constant(Initializer):
    value: float = 1.0

    def draw(self, shape, rng):
        return np.full(shape, self.value)


@dataclass(frozen=True)
class uniform(Initializer):
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"uniform: `low` must be <= `high`, got low={self.low}, high={self.high}.")

    def draw(self, shape, rng):
        return rng.uniform(self.low, self.high, size=shape)


@dataclass(frozen=True)
class gaussian(Initializer):
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if not self.std >= 0:
            raise ValueError(f"gaussian: `std` must be >= 0, got {self.std}.")

    def draw(self, shape, rng):
        return rng.normal(self.mean, self.std, size=shape)


@dataclass(frozen=True)
class fan_in_uniform(Initializer):
    """uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))."""

    def draw(self, shape, rng):
        bound = 1.0 / np.sqrt(shape[0])
        return rng.uniform(-bound, bound, size=shape)

    def draw_synapses(self, fan_in, rng):
        return rng.uniform(-1.0, 1.0, size=fan_in.shape) / np.sqrt(fan_in)


@dataclass(frozen=True)
class fan_in_gaussian(Initializer):
    """gaussian(0, 1/sqrt(fan_in))."""

    def draw(self, shape, rng):
        return rng.normal(0.0, 1.0 / np.sqrt(shape[0]), size=shape)

    def draw_synapses(self, fan_in, rng):
        return rng.normal(0.0, 1.0, size=fan_in.shape) / np.sqrt(fan_in)


DEFAULT_WEIGHT_INIT = uniform(low=0.025, high=0.8)
