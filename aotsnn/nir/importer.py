"""`from_nir`: a NIR graph (object or .nir file) -> an aotsnn Network.

Every node becomes one component (nodes.BUILDERS), added in an order where each edge points
forward except the edges that close a cycle (snnTorch's RLeaky/RSynaptic, Spyx's RLIF): the
network delivers those one step late, which is how every framework runs a recurrent layer.
Several edges into one node add up (NIR's rule). Top-level Input nodes become network inputs
of their declared shape; the sources of the Output nodes are recorded and listed in
`net.nir_outputs` (Output node name -> "component.port").
"""
from __future__ import annotations

import os
from pathlib import Path

import nir
import numpy as np

from aotsnn.network import Network
from aotsnn.nir.graph import evaluation_order, flatten, identifier
from aotsnn.nir.nodes import BUILDERS, Built, Options, own_shape
from aotsnn.nir.units import check_dt
from aotsnn.components.lif.neurons import INTEGRATIONS, RESETS


def load_graph(graph_or_path: nir.NIRGraph | str | os.PathLike) -> nir.NIRGraph:
    """A NIRGraph as given, or read from a .nir (HDF5) file.

    A file is read without nir's type inference (`type_check=False`): nir 1.0.8 refuses a graph
    whose neuron parameters are scalars behind a Conv2d (Sinabs writes those: "type mismatch:
    0.output: [[3 6 6]] -> 1.input: []"), while from_nir broadcasts scalar parameters to the shape
    the graph feeds the node and checks every edge's shape when it wires the network."""
    if isinstance(graph_or_path, nir.NIRGraph):
        return graph_or_path
    if not isinstance(graph_or_path, (str, os.PathLike)):
        raise TypeError(f"from_nir: expected a nir.NIRGraph or the path of a .nir file, got {type(graph_or_path).__name__}.")
    path = Path(graph_or_path)
    if not path.is_file():
        raise ValueError(f"from_nir: no NIR file at {str(path)!r}.")
    try:
        return nir.read(path, type_check=False)
    except Exception as exc:                   # h5py/nir raise many types for a damaged file
        raise ValueError(f"from_nir: {str(path)!r} is not a readable NIR file ({type(exc).__name__}: {exc}).") from exc


def _describe(path: str, node: nir.NIRNode) -> str:
    return f"NIR node '{path}' ({type(node).__name__})"


def _input_shape(path: str, node: nir.NIRNode) -> tuple[int, ...]:
    shape = node.input_type.get("input") if isinstance(node.input_type, dict) else None
    if shape is None:
        raise ValueError(f"{_describe(path, node)} declares no shape; give it input_type={{'input': shape}}.")
    return tuple(int(d) for d in np.ravel(shape))


def from_nir(graph_or_path: nir.NIRGraph | str | os.PathLike, *, dt: float, integration: str, reset: str,
             time_unit: str = "s", batch: int = 1, check_units: bool = True, name: str | None = None) -> Network:
    """Build the aotsnn Network that computes a NIR graph.

    dt: the step, in `time_unit` (1e-4 with the default "s" is 0.1 ms; snnTorch's exporter assumes
    1e-4, Norse's 1e-3; Sinabs writes time constants in steps: dt=1 with any unit).
    integration: "euler" or "exact" for every neuron (Sinabs' LIF is "exact"); reset: "zero" (to
    v_reset), "subtract" (v - v_threshold) or "subtract_pending" (snnTorch's subtraction, see
    aotsnn.components.lif) for every spiking neuron; neither is read from the file. time_unit:
    the unit of dt and of the graph's time constants and delays ("s", as snnTorch, Norse and Spyx
    write them, "ms" as NIR's documentation says, or "us"). check_units=False skips the tau/dt
    plausibility check (units.TAU_STEPS).
    """
    if integration not in INTEGRATIONS:
        raise ValueError(f"from_nir: `integration` must be one of {', '.join(map(repr, INTEGRATIONS))}, got {integration!r}.")
    if reset not in RESETS:
        raise ValueError(f"from_nir: `reset` must be one of {', '.join(map(repr, RESETS))} (to v_reset, or v - v_threshold), "
                         f"got {reset!r}.")
    dt_ms = check_dt(dt, time_unit)
    graph = load_graph(graph_or_path)
    options = Options(dt_ms, time_unit, integration, reset, check_units)
    flat = flatten(graph)
    if name is None:
        name = Path(graph_or_path).stem if isinstance(graph_or_path, (str, os.PathLike)) else "nir_graph"
    net = Network(identifier(name, set()), dt=dt_ms, batch=batch)
    taken: set[str] = set()
    names = {p: identifier(p, taken) for p in flat.nodes}
    shapes: dict[str, tuple[int, ...]] = {}
    built: dict[str, Built] = {}
    for path in evaluation_order(flat):
        node = flat.nodes[path]
        if path in flat.inputs:
            shapes[path] = _input_shape(path, node)
            net.add_input(names[path], shapes[path])
        elif path not in flat.outputs:
            built[path] = _build(path, names[path], node, flat, shapes, options)
            net.add(built[path].component)
            shapes[path] = built[path].component.port("output", built[path].out_port).shape
    params = {}
    for path, b in built.items():
        params.update({f"{names[path]}.{k}": v for k, v in b.params.items()})
    net.set_params(**params)
    for a, b in flat.edges:
        if b in flat.outputs:
            continue
        if a in flat.outputs:
            raise ValueError(f"NIR edge ({a!r}, {b!r}) leaves an Output node; Output nodes must be sinks.")
        source = names[a] if a in flat.inputs else f"{names[a]}.{built[a].out_port}"
        try:
            net.connect(source, f"{names[b]}.{built[b].in_port}")
        except ValueError as exc:
            raise ValueError(f"NIR edge ({a!r}, {b!r}): {exc}") from None
    net.nir_outputs = {}
    for out in flat.outputs:
        sources = flat.predecessors(out)
        if len(sources) != 1 or sources[0] in flat.inputs:
            raise ValueError(f"NIR Output node '{out}' must have exactly one source that is not an Input node, "
                             f"got {sources or 'none'}.")
        net.nir_outputs[out] = f"{names[sources[0]]}.{built[sources[0]].out_port}"
        net.record(net.nir_outputs[out])
    return net


def _build(path: str, name: str, node: nir.NIRNode, flat, shapes: dict, options: Options) -> Built:
    where = _describe(path, node)
    builder = BUILDERS.get(type(node))
    if builder is None:
        supported = ", ".join(sorted(t.__name__ for t in BUILDERS))
        raise ValueError(f"{where} is not supported by aotsnn.nir.from_nir; supported node types: Input, Output, "
                         f"{supported}.")
    known = [shapes[p] for p in flat.predecessors(path) if p in shapes]
    shape = known[0] if known else own_shape(node)
    if shape is None:
        raise ValueError(f"{where}: its input shape is unknown (no earlier node feeds it and its parameters are scalars).")
    try:
        return builder(name, where, node, tuple(shape), options)
    except (ValueError, TypeError) as exc:
        text = str(exc)
        raise ValueError(text if text.startswith("NIR node") else f"{where}: {text}") from None
