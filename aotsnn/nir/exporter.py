"""`to_nir`: an aotsnn Network made of NIR-expressible components -> nir.NIRGraph.

Each component maps to one node (the inverse of nodes.BUILDERS); time constants are written in
`time_unit` (seconds by default, as the exporters of snnTorch, Norse and Spyx write them). NIR
has no field for the discretisation, so each neuron's `integration` and `reset` and the network's
dt go into the graph's metadata["aotsnn"] (informational: from_nir never reads them).
"""
from __future__ import annotations

from typing import Any, Callable

import nir
import numpy as np

from aotsnn.components.base import Component
from aotsnn.components.layers import AvgPool, Conv, Delay, Scale, SumPool
from aotsnn.components.lif import NIRNeuron, Threshold
from aotsnn.components.lif.neurons import (CubaLeakyIntegrator, CubaLIF, IntegrateAndFire, Integrator,
                                           LeakyIntegrateAndFire, LeakyIntegrator)
from aotsnn.components.structured import Reshape
from aotsnn.components.synapses import DenseSynapse
from aotsnn.network import Network
from aotsnn.nir.units import ms_per_unit

NEURON_NODES: dict[type, type] = {Integrator: nir.I, IntegrateAndFire: nir.IF, LeakyIntegrator: nir.LI,
                                  LeakyIntegrateAndFire: nir.LIF, CubaLeakyIntegrator: nir.CubaLI, CubaLIF: nir.CubaLIF}
TAUS = ("tau", "tau_mem", "tau_syn")


def _neuron(comp: NIRNeuron, p: dict, scale: float, dt: float) -> nir.NIRNode:
    values = {k: np.broadcast_to(v, comp.shape).astype(np.float64) for k, v in p.items()}
    for key in TAUS:
        if key in values:
            values[key] = values[key] / scale
    if not comp.leaky:                        # r of I/IF is per ms here, per time unit in NIR
        values["r"] = values["r"] * scale
    return NEURON_NODES[type(comp)](**values)


def _dense(comp: DenseSynapse, p: dict, scale: float, dt: float) -> nir.NIRNode:
    if comp.max_delay_steps:
        raise ValueError(f"to_nir: {comp.label} has axonal delays; NIR's Affine has none (put a Delay before it).")
    weight = (p["weights"] * p["mask"] * p["resist_scale"]).T
    return nir.Affine(weight, np.asarray(p["biases"])) if "biases" in p else nir.Linear(weight)


def _conv(comp: Conv, p: dict, scale: float, dt: float) -> nir.NIRNode:
    padding = comp.padding.lower() if isinstance(comp.padding, str) else tuple(lo for lo, _ in comp.padding)
    kind = nir.Conv1d if len(comp.in_shape) == 2 else nir.Conv2d
    spatial = comp.in_shape[1] if kind is nir.Conv1d else tuple(comp.in_shape[1:])
    squeeze = (lambda v: v[0]) if kind is nir.Conv1d else tuple
    return kind(input_shape=spatial, weight=p["weight"], bias=p["bias"], stride=squeeze(comp.stride),
                padding=padding if isinstance(padding, str) else squeeze(padding),
                dilation=squeeze(comp.dilation), groups=comp.groups)


def _pool(comp: SumPool, p: dict, scale: float, dt: float) -> nir.NIRNode:
    if len(comp.in_shape) != 3 or isinstance(comp.padding, str):
        raise ValueError(f"to_nir: {comp.label} must pool (C, H, W) with integer padding to be a NIR "
                         f"{'AvgPool2d' if comp.scale_by_area else 'SumPool2d'}.")
    kind = nir.AvgPool2d if comp.scale_by_area else nir.SumPool2d
    return kind(kernel_size=np.array(comp.kernel), stride=np.array(comp.stride),
                padding=np.array([lo for lo, _ in comp.padding]))


def _reshape(comp: Reshape, p: dict, scale: float, dt: float) -> nir.NIRNode:
    a, b = comp.in_shape, comp.out_shape
    for start in range(len(a)):
        for end in range(start, len(a)):
            if a[:start] + (int(np.prod(a[start:end + 1])),) + a[end + 1:] == b:
                return nir.Flatten(input_type={"input": np.array(a)}, start_dim=start, end_dim=end)
    raise ValueError(f"to_nir: {comp.label} reshapes {a} to {b}, which is not a flatten of consecutive dimensions "
                     "(NIR has only Flatten).")


EXPORTERS: dict[type, Callable[[Any, dict, float, float], nir.NIRNode]] = {
    **{kind: _neuron for kind in NEURON_NODES},
    DenseSynapse: _dense,
    Conv: _conv,
    SumPool: _pool,
    AvgPool: _pool,
    Reshape: _reshape,
    Scale: lambda c, p, s, dt: nir.Scale(np.broadcast_to(p["scale"], c.shape).astype(np.float64)),
    Threshold: lambda c, p, s, dt: nir.Threshold(np.broadcast_to(p["threshold"], c.shape).astype(np.float64)),
    Delay: lambda c, p, s, dt: nir.Delay(np.broadcast_to(p["delays"], c.shape) * dt / s),
}


def nir_port(comp: Component) -> str:
    if isinstance(comp, NIRNeuron):
        return "spikes" if comp.spiking else "v"
    return "spikes" if isinstance(comp, Threshold) else "out"


def _node(comp: Component, params: dict, scale: float, dt: float) -> nir.NIRNode:
    exporter = EXPORTERS.get(type(comp))
    if exporter is None:
        raise ValueError(f"to_nir: {comp.label} has no NIR node; NIR-expressible components are "
                         f"{', '.join(sorted(k.__name__ for k in EXPORTERS))} (aotsnn.components.lif, .layers, "
                         "DenseSynapse, Reshape).")
    return exporter(comp, params, scale, dt)


def _source(net: Network, port: str) -> str:
    comp_name, _, name = port.partition(".")
    if comp_name in net.input_shapes:
        return comp_name
    comp = net.components[comp_name]
    if name != nir_port(comp):
        raise ValueError(f"to_nir: '{port}' is not the NIR output of {comp.label} (a NIR node has one output, "
                         f"here '{comp_name}.{nir_port(comp)}').")
    return comp_name


def to_nir(net: Network, *, time_unit: str = "s") -> nir.NIRGraph:
    """The NIR graph of `net` (time constants and delays in `time_unit`)."""
    scale = ms_per_unit(time_unit)
    nodes: dict[str, nir.NIRNode] = {k: nir.Input(input_type={"input": np.array(s)}) for k, s in net.input_shapes.items()}
    meta: dict[str, Any] = {"dt": net.dt / scale, "time_unit": time_unit}
    for name, comp in net.components.items():
        params = {k.partition(".")[2]: v for k, v in net.params.items() if k.partition(".")[0] == name}
        nodes[name] = _node(comp, params, scale, net.dt)
        if isinstance(comp, NIRNeuron):
            meta[f"{name}.integration"] = comp.integration
            if comp.reset:
                meta[f"{name}.reset"] = comp.reset
    edges = [(_source(net, w.source), w.target.partition(".")[0]) for w in net.wires]
    for port in net.recorded:
        out = f"output_{port.replace('.', '_')}" if len(net.recorded) > 1 else "output"
        source = _source(net, port)
        nodes[out] = nir.Output(output_type={"output": np.array(net.components[source].port("output", port.partition(".")[2]).shape)})
        edges.append((source, out))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"aotsnn": meta}, type_check=False)
