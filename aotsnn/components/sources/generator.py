"""SpikeGenerator: given spike times (indices, times), fixed at compile time (Brian2's SpikeGeneratorGroup)."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import Component, Port, Tree, as_param

MAX_TABLE = 1 << 22         # elements of the (steps + 1, n) spike table compiled into the step


class SpikeGenerator(Component):
    r"""Unit `indices[k]` spikes at time `times[k]` [ms]: Brian2's SpikeGeneratorGroup.

    With step k = round(t / dt) (the step whose start is nearest to t), the output of step k is

    $$s_j(k) = a \text{ if some } (j, t) \text{ has } \mathrm{round}(t/\mathrm{d}t) = k,\ 0 \text{ otherwise}$$

    with a = `amplitude` (default 1: a spike), a scalar run-time parameter (it also gives the
    output the network's precision, as every parameter does).

    and no spikes after the last one (no period). The spikes are compiled into the step as a
    table of (last step + 2, n) rows, read at the step counter; `dt` [ms] must be the network's.
    Two spikes of one unit in one step are refused (as in Brian2). State: `t` (batch,) int32, the
    step counter (it stops counting at the table's empty last row, so it never overflows).
    Outputs: spikes (n,).
    """

    def __init__(self, name: str, n: int, indices: Any, times: Any, *, dt: float, amplitude: Any = 1.0) -> None:
        super().__init__(name)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"In {self.label}: `n` must be a positive integer, got {n!r}.")
        if not (isinstance(dt, (int, float)) and dt > 0):
            raise ValueError(f"In {self.label}: `dt` must be the network's step in ms (> 0), got {dt!r}.")
        indices, times = np.asarray(indices), np.asarray(times, np.float64)
        if indices.ndim != 1 or times.shape != indices.shape:
            raise ValueError(f"In {self.label}: `indices` and `times` must be 1-D of one length, got shapes "
                             f"{indices.shape} and {times.shape}.")
        if indices.size and (indices.dtype.kind not in "iu" or indices.min() < 0 or indices.max() >= n):
            raise ValueError(f"In {self.label}: `indices` must be integers in [0, {n}), got "
                             f"{indices[(indices < 0) | (indices >= n)][:3] if indices.dtype.kind in 'iu' else indices.dtype}.")
        if times.size and not (np.all(np.isfinite(times)) and times.min() >= 0):
            raise ValueError(f"In {self.label}: `times` must be finite and >= 0 ms, got {times[~(times >= 0)][:3]}.")
        self.n, self.dt = int(n), float(dt)
        steps = np.round(times / self.dt).astype(np.int64)
        rows = (int(steps.max()) + 2) if steps.size else 1
        if rows * self.n > MAX_TABLE:
            raise ValueError(f"In {self.label}: the last spike is at step {rows - 2}, so the spike table would have "
                             f"{rows} x {self.n} entries (at most {MAX_TABLE}); feed such long trains as an input.")
        pairs = steps * self.n + indices
        if np.unique(pairs).size != pairs.size:
            values, counts = np.unique(pairs, return_counts=True)
            k = int(values[np.argmax(counts > 1)])
            raise ValueError(f"In {self.label}: unit {int(k % self.n)} has two spikes in step {int(k // self.n)} "
                             f"(t = {k // self.n * self.dt:g} ms); at most one spike per unit and step.")
        self.table = np.zeros((rows, self.n))
        self.table[steps, indices] = 1.0
        self.outputs = (Port("spikes", (self.n,)),)
        self._params = {"amplitude": as_param(self.label, "amplitude", amplitude, ())}
        self.validate_params(self._params)

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {"t": np.zeros((batch,), np.int32)}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        if abs(dt - self.dt) > 1e-12 * self.dt:
            raise ValueError(f"In {self.label}: built for dt = {self.dt:g} ms, but the network steps dt = {dt:g} ms.")
        t = state["t"]
        last = self.table.shape[0] - 1
        amplitude = jnp.asarray(params["amplitude"])
        table = jnp.asarray(self.table, amplitude.dtype)
        row = amplitude * jax.lax.dynamic_slice(table, (t[0], jnp.zeros((), t.dtype)), (1, self.n))  # one index dtype (x64)
        spikes = jnp.broadcast_to(row, (t.shape[0], self.n))
        return {"t": jnp.minimum(t + 1, last).astype(jnp.int32)}, {"spikes": spikes}
