"""Monitors of a run: record only what is asked for, in chunks, so memory does not grow with T.

    state, rec = session.run(state, steps=10**6, record=["exc.spikes:count", "exc.spikes:rate"],
                             every=100, chunk=10_000)

`record` lists output ports of the artifact, each with an optional kind after a colon:

| spec                | result (key = the spec)                  | shape, dtype                     |
| ------------------- | ---------------------------------------- | -------------------------------- |
| `"exc.spikes"`      | the output at steps 0, k, 2k, ... (k = `every`) | (ceil(T / k), batch, *shape), artifact dtype |
| `"exc.spikes:events"` | one row (step, sample, unit) per non-zero entry, every step, in step order; `unit` is the flat index into the port's shape | (K, 3) int64 |
| `"exc.spikes:rate"` | population rate per bin of k steps [Hz]: r_b = sum of the port over units and the bin's steps / (n_units * steps_in_bin * dt) * 1e3, dt in ms | (ceil(T / k), batch) float64 |
| `"exc.spikes:count"` | the port summed over all T steps (spikes per unit) | (batch, *shape) float64 |

The run is made of compiled calls of at most `chunk` steps; the state goes from one to the next
as it does inside one call, so every result equals the one computed from a single full run,
bit for bit. Memory: the chunk's outputs, O(chunk * outputs), plus what is recorded. Inputs are
a dict of (T, batch, ...) arrays (read chunk by chunk, never copied whole), or a function
`inputs(start, n) -> dict of (n, batch, ...) arrays` called for each chunk (streamed inputs;
then `steps=T` is required). Counts and rates are sums of the outputs in float64: exact for
spikes (0/1) in any precision. Spike counts per unit kept in the state (the SpikeCounter
component) need no monitor: read `counts` from the final state.

numpy only (aotsnn.runtime's rule).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence, Union

import numpy as np

KINDS = ("dense", "events", "rate", "count")
DEFAULT_CHUNK = 10_000          # steps per compiled call when monitors are asked for

Inputs = Union[Mapping[str, np.ndarray], Callable[[int, int], Mapping[str, np.ndarray]], None]


def _positive(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{what}` must be a positive integer ({'record every k-th step' if what == 'every' else 'steps per compiled call'}), got {value!r}.")
    return int(value)


@dataclass(frozen=True)
class Monitor:
    """One recorded quantity: `key` as the caller wrote it, the output port, the kind (KINDS)."""

    key: str
    output: str
    kind: str


def parse_record(record: Sequence[str] | None, outputs: Sequence[tuple[str, tuple[int, ...]]],
                 model: str) -> list[Monitor]:
    """The monitors of `record` (None: every output, dense), checked against the outputs."""
    names = [n for n, _ in outputs]
    if record is None:
        return [Monitor(n, n, "dense") for n in names]
    if isinstance(record, (str, bytes)) or not isinstance(record, (list, tuple)) or \
            not all(isinstance(r, str) for r in record):
        raise TypeError(f"`record` must be a list of output names such as 'exc.spikes' or 'exc.spikes:rate', "
                        f"got {record!r}.")
    monitors = []
    for spec in record:
        output, _, kind = spec.partition(":")
        kind = kind or "dense"
        if output not in names:
            raise ValueError(f"`record`: '{output}' is not an output of '{model}'; outputs: {', '.join(names)}.")
        if kind not in KINDS or kind == "dense" and ":" in spec:
            raise ValueError(f"`record`: '{spec}' asks for kind '{kind}'; kinds: dense (no suffix), events, rate, "
                             "count.")
        if any(m.key == spec for m in monitors):
            raise ValueError(f"`record` names '{spec}' twice.")
        monitors.append(Monitor(spec, output, kind))
    return monitors


class Recorder:
    """Accumulates the monitors over the chunks of one run of `steps` steps."""

    def __init__(self, monitors: list[Monitor], outputs: Mapping[str, tuple[int, ...]], dtype: np.dtype,
                 steps: int, every: int, dt: float) -> None:
        self.monitors, self.shapes, self.every, self.dt = monitors, dict(outputs), every, dt
        self.bins = math.ceil(steps / every)
        self.steps = steps
        self._dense: dict[str, list[np.ndarray]] = {m.key: [] for m in monitors if m.kind == "dense"}
        self._events: dict[str, list[np.ndarray]] = {m.key: [] for m in monitors if m.kind == "events"}
        self._sums: dict[str, np.ndarray] = {}
        for m in monitors:
            batch = self.shapes[m.output][0]
            if m.kind == "rate":
                self._sums[m.key] = np.zeros((self.bins, batch))
            elif m.kind == "count":
                self._sums[m.key] = np.zeros(self.shapes[m.output])
        self._dtype = dtype

    def add(self, start: int, outputs: Mapping[str, np.ndarray]) -> None:
        """Take the outputs (n, batch, ...) of steps start .. start + n - 1."""
        for m in self.monitors:
            values = outputs[m.output]
            n = values.shape[0]
            if m.kind == "dense":
                first = (-start) % self.every           # the first step of this chunk that is a multiple of k
                self._dense[m.key].append(values[first::self.every].copy())
            elif m.kind == "events":
                hits = np.nonzero(values.reshape(n, values.shape[1], -1))
                self._events[m.key].append(np.stack([hits[0] + start, hits[1], hits[2]], axis=1).astype(np.int64))
            elif m.kind == "rate":
                per_step = values.reshape(n, values.shape[1], -1).sum(axis=2, dtype=np.float64)   # no float64 copy
                np.add.at(self._sums[m.key], (start + np.arange(n)) // self.every, per_step)
            else:
                self._sums[m.key] += values.sum(axis=0, dtype=np.float64)

    def result(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for m in self.monitors:
            shape = self.shapes[m.output]
            if m.kind == "dense":
                parts = self._dense[m.key]
                out[m.key] = np.concatenate(parts) if parts else np.empty((0, *shape), self._dtype)
            elif m.kind == "events":
                parts = self._events[m.key]
                out[m.key] = np.concatenate(parts) if parts else np.empty((0, 3), np.int64)
            elif m.kind == "rate":
                width = np.minimum(self.every, self.steps - np.arange(self.bins) * self.every)
                units = math.prod(shape[1:])
                out[m.key] = self._sums[m.key] * (1e3 / (units * self.dt)) / width[:, None]
            else:
                out[m.key] = self._sums[m.key]
        return out


class Recording:
    """`run` with monitors, chunks and streamed inputs, for a session class that defines
    `_run_once(state, inputs, steps, check_finite)` (one compiled call), `layout`, `dt`,
    `name`, `dtype` and LayoutChecks' `_check_tree`/`_steps_of`."""

    def run(self, state: Mapping[str, np.ndarray], inputs: Inputs = None, *, steps: int | None = None,
            record: Sequence[str] | None = None, every: int = 1, chunk: int | None = None,
            check_finite: bool = True) -> tuple[dict, dict]:
        """Advance T steps; return (final state, outputs or recorded monitors).

        Without `record`, `every` and `chunk` (and with inputs as a dict): one compiled call;
        inputs (T, batch, ...) -> every output (T, batch, ...). T is the inputs' time axis;
        `steps` is required when the model has no inputs (and must agree with them otherwise).
        T = 0 returns a copy of `state` and empty outputs. `state` is not modified. With
        `check_finite`, NaN/Inf in the state or the inputs are refused.

        With any of them, the run is made of calls of at most `chunk` steps (default
        min(T, 10,000)) and returns only what `record` asks for (default: every output, dense),
        keyed by the spec: "port" (every `every`-th step: steps 0, k, 2k, ...), "port:events"
        ((K, 3) int64 rows step, sample, unit), "port:rate" (population rate [Hz] per bin of
        `every` steps, (bins, batch)), "port:count" (sum over the run, (batch, ...)); see
        aotsnn.runtime.monitors. Results equal a single full run's, bit for bit. `inputs` may
        also be a function (start, n) -> inputs of steps start .. start + n - 1 (then `steps`
        is required), so inputs need not exist in memory at once.
        """
        inputs = {} if inputs is None else inputs
        plain_every = type(every) is int and every == 1           # not True, not 1.0: those are refused below
        if record is None and plain_every and chunk is None and not callable(inputs):
            return self._run_once(state, inputs, steps, check_finite)
        every = _positive(every, "every")
        monitors = parse_record(record, self.layout["outputs"], self.name)
        streamed = callable(inputs)
        if streamed and steps is None:
            raise ValueError("inputs given as a function need steps=T (the function is called for each chunk's "
                             "inputs).")
        if not streamed:
            self._check_names(inputs, "inputs", "inputs")
            if steps is None:
                steps = self._steps_of(inputs)
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"`steps` must be a non-negative integer, got {steps!r}.")
        steps = int(steps)
        if not streamed:
            self._check_tree(inputs, "inputs", "inputs", steps=steps)
        chunk = _positive(chunk, "chunk") if chunk is not None else max(1, min(steps, DEFAULT_CHUNK))
        recorder = Recorder(monitors, dict(self.layout["outputs"]), self.dtype, steps, every, self.dt)
        if steps == 0:
            new_state, _ = self._run_once(state, inputs(0, 0) if streamed else inputs, 0, check_finite)
            return new_state, recorder.result()
        start = 0
        while start < steps:
            n = min(chunk, steps - start)
            part = inputs(start, n) if streamed else {k: v[start:start + n] for k, v in inputs.items()}
            state, outputs = self._run_once(state, part, n, check_finite)
            recorder.add(start, outputs)
            start += n
        return state, recorder.result()
