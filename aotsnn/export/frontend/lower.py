"""Lower a Network once into everything the later stages need: the StableHLO of its step and its facts.

    lowered = lower(net, "float32")

The exported function takes its leaves positionally, in the order recorded in the artifact
manifest, so that neither the compiler nor the runtime depends on jax's pytree ordering:

    step(*params, *state, *inputs) -> (*new_state, *outputs)

Every leaf has the artifact's precision (float32 unless asked otherwise), except integer state
leaves (a random generator's uint32 key, counters: aotsnn.network.INTEGER_STATE_DTYPES), which
keep their own dtype, so that a run resumed from a saved state continues bit for bit. Besides the step,
`LoweredStep` carries the network's name, dt (s), batch, initial parameter and state values,
topology (connection masks fixed at compile time), parameter rules, input kinds and component
labels: this is the only module of aotsnn.export that reads an `aotsnn.network.Network`.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable

import jax
import numpy as np
from jax import export as jax_export

from aotsnn.export.errors import ExportError
from aotsnn.network import Network, is_integer_leaf

PRECISIONS = ("float32", "float16", "bfloat16", "float64")


@dataclass(frozen=True)
class Leaf:
    """One positional argument or result of the exported step."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    def to_json(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class Layout:
    """Names, shapes and dtypes of every leaf, in positional order."""

    params: tuple[Leaf, ...]
    state: tuple[Leaf, ...]
    inputs: tuple[Leaf, ...]   # per step, without the time axis
    outputs: tuple[Leaf, ...]  # per step, without the time axis

    @property
    def arguments(self) -> tuple[Leaf, ...]:
        return self.params + self.state + self.inputs

    @property
    def results(self) -> tuple[Leaf, ...]:
        return self.state + self.outputs


@dataclass(frozen=True)
class LoweredStep:
    """A Network read once: its step as StableHLO and every fact the compiler and the artifact need."""

    name: str
    dt: float                                # s
    batch: int
    precision: str
    layout: Layout
    stablehlo_text: str
    serialized: bytes                        # jax.export serialization (versioned StableHLO), loadable without model code
    params: dict[str, np.ndarray]            # initial parameter values (float64, before the precision cast)
    init_state: dict[str, np.ndarray]        # initial state (float64)
    topology: dict[str, np.ndarray]          # parameter name -> connection mask fixed at compile time
    param_rules: dict[str, dict]             # parameter name -> ParamRule.to_json()
    input_kinds: dict[str, str]              # input name -> "spikes" | "current" ... (for `aotsnn run`)
    labels: dict[str, str]                   # component name -> "'name' (Class)" for error messages
    per_sample: tuple[str, ...] = ()         # parameters with one value per sample (leading batch axis)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {PRECISIONS}, got {precision!r}.")
    return precision


def check_network(net) -> Network:
    if not isinstance(net, Network):
        raise TypeError(f"compile_network: `net` must be an aotsnn Network, got {type(net).__name__}.")
    return net


def layout_of(net: Network, precision: str) -> Layout:
    """The leaf layout of `net` in `precision`."""
    check_precision(precision)
    state = net.init_state()
    step_inputs = net.example_inputs()
    new_state, outputs = jax.eval_shape(lambda p, s, i: net.apply(s, i, p), net.params, state, step_inputs)
    for name, value in state.items():
        if is_integer_leaf(value) and np.dtype(new_state[name].dtype) != value.dtype:
            raise ExportError(f"the step turns the integer state leaf '{name}' ({value.dtype}) into "
                              f"{np.dtype(new_state[name].dtype)}; an integer leaf must keep its dtype "
                              f"(return it with .astype(jnp.{value.dtype.name})).")
    dtype = lambda v: v.dtype.name if is_integer_leaf(v) else precision
    leaves = lambda tree: tuple(Leaf(k, tuple(np.shape(v)), dtype(np.asarray(v))) for k, v in tree.items())
    return Layout(leaves(net.params), leaves(state), leaves(step_inputs),
                  tuple(Leaf(k, tuple(v.shape), precision) for k, v in outputs.items()))


def flat_step_of(net: Network, layout: Layout) -> Callable:
    """net.apply as a function of positional leaves, returning a flat tuple."""
    n_params, n_state = len(layout.params), len(layout.state)

    def flat_step(*leaves):
        params = {l.name: x for l, x in zip(layout.params, leaves[:n_params])}
        state = {l.name: x for l, x in zip(layout.state, leaves[n_params:n_params + n_state])}
        inputs = {l.name: x for l, x in zip(layout.inputs, leaves[n_params + n_state:])}
        new_state, outputs = net.apply(state, inputs, params)
        return tuple(new_state[l.name] for l in layout.state) + tuple(outputs[l.name] for l in layout.outputs)

    return flat_step


def lower(net: Network, precision: str = "float32") -> LoweredStep:
    """Trace `net`'s step, serialize it as StableHLO with jax.export, and collect its facts.

    float64 is traced with jax's 64-bit mode on (without it jax silently makes float64 float32).
    """
    check_network(net)
    layout = layout_of(net, precision)
    flat_step = flat_step_of(net, layout)
    specs = [jax.ShapeDtypeStruct(l.shape, np.dtype(jax.numpy.dtype(l.dtype))) for l in layout.arguments]
    with jax.enable_x64(True) if precision == "float64" else contextlib.nullcontext():
        exported = jax_export.export(jax.jit(flat_step, keep_unused=True), platforms=["cpu"])(*specs)
    return LoweredStep(
        name=net.name, dt=net.dt, batch=net.batch, precision=precision, layout=layout,
        stablehlo_text=exported.mlir_module(), serialized=bytes(exported.serialize()),
        params={k: np.asarray(v) for k, v in net.params.items()}, init_state=net.init_state(),
        topology=net.topology(), param_rules={k: rule.to_json() for k, rule in net.param_rules().items()},
        input_kinds={leaf.name: net.input_kind(leaf.name) for leaf in layout.inputs},
        labels={name: comp.label for name, comp in net.components.items()}, per_sample=net.per_sample_params)


def stablehlo_text_from_serialized(serialized: bytes) -> str:
    """StableHLO text of a jax.export serialization (no model code needed)."""
    return jax_export.deserialize(bytearray(serialized)).mlir_module()
