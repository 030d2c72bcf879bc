"""One builder per supported NIR node type: the aotsnn component that computes it, its ports and
the parameter values to load (see docs/nir.md for the table)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import nir
import numpy as np

from aotsnn.components.base import Component
from aotsnn.components.initializers import constant
from aotsnn.components.layers import AvgPool, Conv, Delay, Scale, SumPool
from aotsnn.components.lif import (CubaLeakyIntegrator, CubaLIF, IntegrateAndFire, Integrator,
                                   LeakyIntegrateAndFire, LeakyIntegrator, Threshold)
from aotsnn.components.structured import Reshape
from aotsnn.components.synapses import DenseSynapse
from aotsnn.nir.units import check_tau, ms_per_unit


@dataclass(frozen=True)
class Options:
    """What the caller chose for the whole graph (never read from the file)."""

    dt_ms: float
    time_unit: str
    integration: str
    reset: str
    check_units: bool = True


@dataclass
class Built:
    component: Component
    in_port: str = "x"
    out_port: str = "out"
    params: dict[str, np.ndarray] = field(default_factory=dict)   # loaded with net.set_params


def array(node: nir.NIRNode, attr: str) -> np.ndarray:
    value = getattr(node, attr)
    return np.asarray(value.detach().numpy() if hasattr(value, "detach") else value, dtype=np.float64)


def unit_params(where: str, node: nir.NIRNode, names: tuple[str, ...], shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The node's parameters broadcast to the unit shape the graph feeds it (snnTorch stores (1,) thresholds)."""
    out = {}
    for attr in names:
        value = array(node, attr)
        try:
            out[attr] = np.broadcast_to(value.reshape(()) if value.size == 1 else value, shape).copy()
        except ValueError:
            raise ValueError(f"{where}: `{attr}` has shape {value.shape}, which does not fit the {shape} values its "
                             "input delivers.") from None
    return out


def times(where: str, params: dict[str, np.ndarray], names: tuple[str, ...], opt: Options) -> None:
    """Convert the time constants `names` to ms in place (after the plausibility check)."""
    for key in names:
        if opt.check_units:
            check_tau(where, key, params[key], opt.dt_ms, opt.time_unit)
        params[key] = params[key] * ms_per_unit(opt.time_unit)


def neuron(kind: type, nir_names: tuple[str, ...], taus: tuple[str, ...] = (), rates: tuple[str, ...] = ()):
    """A builder for a NIR neuron node: parameters by NIR name (converted: taus to ms, rates per ms)."""

    def build(name: str, where: str, node: nir.NIRNode, shape: tuple[int, ...], opt: Options) -> Built:
        params = unit_params(where, node, nir_names, shape)
        times(where, params, taus, opt)
        for key in rates:                     # r of I/IF: dv/dt = R I, R per time unit -> per ms
            params[key] = params[key] / ms_per_unit(opt.time_unit)
        options = {"reset": opt.reset} if kind.spiking else {}
        component = kind(name, shape, integration=opt.integration, **options, **params)
        return Built(component, "i", "spikes" if kind.spiking else "v")

    return build


def affine(name: str, where: str, node: nir.NIRNode, shape: tuple[int, ...], opt: Options) -> Built:
    weight = array(node, "weight")
    if weight.ndim != 2 or shape != (weight.shape[1],):
        raise ValueError(f"{where}: `weight` must be (out, in) with in = the {shape} values its input delivers, "
                         f"got shape {weight.shape}.")
    has_bias = isinstance(node, nir.Affine)
    synapse = DenseSynapse(name, (weight.shape[1], weight.shape[0]), weight_init=constant(0.0),
                           bias_init=constant(0.0) if has_bias else None)
    params = {"weights": weight.T.copy(), **({"biases": array(node, "bias").reshape(-1)} if has_bias else {})}
    return Built(synapse, params=params)


def scale(name: str, where: str, node: nir.NIRNode, shape: tuple[int, ...], opt: Options) -> Built:
    return Built(Scale(name, shape, scale=unit_params(where, node, ("scale",), shape)["scale"]))


def conv(name: str, where: str, node: nir.NIRNode, shape: tuple[int, ...], opt: Options) -> Built:
    bias = None if node.bias is None else array(node, "bias")
    padding = node.padding if isinstance(node.padding, str) else np.asarray(node.padding)
    return Built(Conv(name, shape, array(node, "weight"), bias=bias, stride=np.asarray(node.stride),
                      padding=padding, dilation=np.asarray(node.dilation), groups=int(node.groups)))


def pool(kind: type):
    def build(name: str, where: str, node: nir.NIRNode, shape: tuple[int, ...], opt: Options) -> Built:
        return Built(kind(name, shape, np.asarray(node.kernel_size), stride=np.asarray(node.stride),
                          padding=np.asarray(node.padding)))

    return build


def flatten(name: str, where: str, node: nir.NIRNode, shape: tuple[int, ...], opt: Options) -> Built:
    rank = len(shape)
    start, end = node.start_dim % rank if rank else 0, node.end_dim % rank if rank else 0
    if start > end:
        raise ValueError(f"{where}: start_dim {node.start_dim} comes after end_dim {node.end_dim} on a {shape} input.")
    out = shape[:start] + (int(np.prod(shape[start:end + 1])),) + shape[end + 1:]
    return Built(Reshape(name, shape, out))


def delay(name: str, where: str, node: nir.NIRNode, shape: tuple[int, ...], opt: Options) -> Built:
    steps = unit_params(where, node, ("delay",), shape)["delay"] * ms_per_unit(opt.time_unit) / opt.dt_ms
    if np.any(np.abs(steps - np.round(steps)) > 1e-6 * np.maximum(1.0, steps)) or np.any(steps < 0):
        raise ValueError(f"{where}: `delay` must be whole multiples of dt >= 0, got {np.max(steps):g} steps; "
                         "choose dt so that every delay is a whole number of steps.")
    return Built(Delay(name, shape, delays=np.round(steps)))


def threshold(name: str, where: str, node: nir.NIRNode, shape: tuple[int, ...], opt: Options) -> Built:
    return Built(Threshold(name, shape, threshold=unit_params(where, node, ("threshold",), shape)["threshold"]),
                 out_port="spikes")


Builder = Callable[[str, str, nir.NIRNode, tuple, Options], Built]
BUILDERS: dict[type, Builder] = {
    nir.Affine: affine,
    nir.Linear: affine,
    nir.Scale: scale,
    nir.Conv1d: conv,
    nir.Conv2d: conv,
    nir.SumPool2d: pool(SumPool),
    nir.AvgPool2d: pool(AvgPool),
    nir.Flatten: flatten,
    nir.Delay: delay,
    nir.Threshold: threshold,
    nir.I: neuron(Integrator, ("r",), rates=("r",)),
    nir.IF: neuron(IntegrateAndFire, ("r", "v_threshold", "v_reset"), rates=("r",)),
    nir.LI: neuron(LeakyIntegrator, ("tau", "r", "v_leak"), taus=("tau",)),
    nir.LIF: neuron(LeakyIntegrateAndFire, ("tau", "r", "v_leak", "v_threshold", "v_reset"), taus=("tau",)),
    nir.CubaLI: neuron(CubaLeakyIntegrator, ("tau_syn", "tau_mem", "r", "v_leak", "w_in"),
                       taus=("tau_syn", "tau_mem")),
    nir.CubaLIF: neuron(CubaLIF, ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
                        taus=("tau_syn", "tau_mem")),
}


def own_shape(node: nir.NIRNode) -> tuple[int, ...] | None:
    """The unit shape a node declares itself (neurons' parameters, Input's type), if any."""
    for attr in ("v_threshold", "tau", "tau_mem", "r", "threshold", "scale", "delay"):
        if hasattr(node, attr):
            value = array(node, attr)
            return value.shape if value.size > 1 else None
    return None
