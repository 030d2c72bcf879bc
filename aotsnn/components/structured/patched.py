"""Patched synapses: a block-diagonal weight matrix of `n_sub_models` dense patches (ngclearn's
PatchedSynapse, StaticPatchedSynapse, HebbianPatchedSynapse)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from aotsnn.components.initializers import Initializer, fan_in_gaussian
from aotsnn.components.plasticity.base import WeightCorrelation, PlasticSynapse
from aotsnn.components.plasticity.hebbian import Hebbian
from aotsnn.components.synapses.dense import DenseSynapse


@dataclass(frozen=True)
class PatchGeometry:
    """Where the patches lie in the full (n_in + 2*si, n_out + 2*sj) matrix.

    Patch i spans rows [i*di, (i+1)*di + 2*si) and columns [i*dj, (i+1)*dj + 2*sj), with
    (di, dj) = (n_in, n_out) / n_sub_models, so neighbours overlap by 2*si rows and 2*sj columns
    (a later patch overwrites the overlap when drawn). The si outermost rows on each side and the
    sj outermost columns are left unconnected, as in ngclearn.
    """

    n_sub_models: int
    sub_shape: tuple[int, int]        # (di, dj)
    stride: tuple[int, int]           # (si, sj)

    @property
    def full_shape(self) -> tuple[int, int]:
        (di, dj), (si, sj) = self.sub_shape, self.stride
        return self.n_sub_models * di + 2 * si, self.n_sub_models * dj + 2 * sj

    def blocks(self):
        """(row slice, column slice) of every patch, in drawing order."""
        (di, dj), (si, sj) = self.sub_shape, self.stride
        for i in range(self.n_sub_models):
            yield slice(i * di, (i + 1) * di + 2 * si), slice(i * dj, (i + 1) * dj + 2 * sj)

    def mask(self) -> np.ndarray:
        """1 where a patch connects input i to output j, 0 elsewhere."""
        mask = np.zeros(self.full_shape)
        for rows, cols in self.blocks():
            mask[rows, cols] = 1.0
        si, sj = self.stride
        mask[:si, :] = mask[mask.shape[0] - si:, :] = 0.0
        mask[:, :sj] = mask[:, mask.shape[1] - sj:] = 0.0
        return mask


@dataclass(frozen=True)
class PatchInit(Initializer):
    """Draws each patch with `inner` on its own (di + 2*si, dj + 2*sj) shape (so fan-in
    initializers see the patch's fan-in); zeros outside the patches."""

    inner: Initializer = fan_in_gaussian()
    geometry: PatchGeometry | None = None

    def draw(self, shape, rng):
        weights = np.zeros(shape)
        for rows, cols in self.geometry.blocks():
            weights[rows, cols] = self.inner(weights[rows, cols].shape, rng)
        return weights


class PatchedSynapse(DenseSynapse):
    r"""Block-structured dense synapse: out = (x @ (W*mask)) * resist_scale + b, where W holds
    `n_sub_models` dense patches along its diagonal (see `PatchGeometry`).

    `shape` = (n_in, n_out), both divisible by `n_sub_models`; `stride_shape` = (si, sj) >= 0
    widens every patch by 2*si inputs and 2*sj outputs, so the synapse has shape
    (n_in + 2*si, n_out + 2*sj). The patch structure is part of the kept connection mask
    (together with `p_conn`), so plasticity never connects two patches. `weight_init` (default
    fan_in_gaussian, as ngclearn) draws each patch separately. Other arguments as DenseSynapse.
    Inputs: x (n_in + 2*si,). Outputs: out (n_out + 2*sj,).
    """

    def __init__(self, name: str, shape: tuple[int, int], n_sub_models: int = 1, *,
                 stride_shape: tuple[int, int] = (0, 0), weight_init: Initializer = fan_in_gaussian(),
                 **kwargs: Any) -> None:
        label = f"'{name}' ({type(self).__name__})"
        if not (isinstance(n_sub_models, (int, np.integer)) and n_sub_models > 0):
            raise ValueError(f"In {label}: `n_sub_models` must be a positive integer, got {n_sub_models!r}.")
        if (not isinstance(shape, (tuple, list)) or len(shape) != 2
                or not all(isinstance(d, (int, np.integer)) and d > 0 and d % n_sub_models == 0 for d in shape)):
            raise ValueError(f"In {label}: `shape` must be (n_in, n_out) of positive integers divisible by "
                             f"n_sub_models={n_sub_models}, got {shape!r}.")
        if (not isinstance(stride_shape, (tuple, list)) or len(stride_shape) != 2
                or not all(isinstance(d, (int, np.integer)) and d >= 0 for d in stride_shape)):
            raise ValueError(f"In {label}: `stride_shape` must be (si, sj) of integers >= 0, got {stride_shape!r}.")
        self.geometry = PatchGeometry(int(n_sub_models), (shape[0] // n_sub_models, shape[1] // n_sub_models),
                                      (int(stride_shape[0]), int(stride_shape[1])))
        super().__init__(name, self.geometry.full_shape, weight_init=PatchInit(weight_init, self.geometry),
                         **kwargs)
        self._params["mask"] = self._params["mask"] * self.geometry.mask()
        self._params["weights"] = self._params["weights"] * self._params["mask"]


class StaticPatchedSynapse(PatchedSynapse):
    """A PatchedSynapse without plasticity (ngclearn's name for the same computation)."""


class HebbianPatchedSynapse(PlasticSynapse, WeightCorrelation, PatchedSynapse):
    """PatchedSynapse whose weights (and biases) learn by the two-factor Hebbian rule (see
    aotsnn.components.plasticity.hebbian.Hebbian for the equations and options). Updates outside
    the patches are masked, so the block structure is kept. Constructor: PatchedSynapse's
    arguments, Hebbian's options and `learning`. Inputs: x, pre (n_in + 2*si,), post
    (n_out + 2*sj,). Outputs: out. State when learning: weights, biases if enabled, adam moments.
    """

    rule_type = Hebbian
