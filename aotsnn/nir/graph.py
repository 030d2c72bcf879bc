"""NIR graph structure for the importer: nested subgraphs flattened, Input/Output nodes of
subgraphs contracted away, and an evaluation order in which only recurrent edges point back."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import nir


def identifier(path: str, taken: set[str]) -> str:
    """A Python identifier for the node path `path` ("block.lif" -> "block_lif"), unique in `taken`."""
    base = re.sub(r"\W", "_", path) or "node"
    base = f"n_{base}" if base[0].isdigit() else base
    name, k = base, 1
    while name in taken:
        name, k = f"{base}_{k}", k + 1
    taken.add(name)
    return name


@dataclass
class FlatGraph:
    """Nodes by path ("sub.node" inside subgraph "sub"), edges between paths, top-level inputs and
    outputs (paths of nir.Input / nir.Output nodes), and the evaluation order."""

    nodes: dict[str, nir.NIRNode] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)

    def predecessors(self, path: str) -> list[str]:
        return [a for a, b in self.edges if b == path]

    def successors(self, path: str) -> list[str]:
        return [b for a, b in self.edges if a == path]


def _endpoint(graph: nir.NIRGraph, name: str, prefix: str, kind: type, where: str) -> str:
    """The path an edge into (kind=Input) or out of (kind=Output) the subgraph node `name` attaches to."""
    node = graph.nodes[name]
    if not isinstance(node, nir.NIRGraph):
        return prefix + name
    ends = [k for k, n in node.nodes.items() if isinstance(n, kind)]
    if len(ends) != 1:
        raise ValueError(f"NIR subgraph '{prefix + name}' has {len(ends)} {kind.__name__} nodes; an edge {where} "
                         f"it needs exactly one (name the subgraph's {kind.__name__} node in the edge instead).")
    return f"{prefix}{name}.{ends[0]}"


def _flatten(graph: nir.NIRGraph, prefix: str, flat: FlatGraph) -> None:
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            _flatten(node, f"{prefix}{name}.", flat)
        else:
            flat.nodes[prefix + name] = node
    for a, b in graph.edges:
        for end in (a, b):
            if end not in graph.nodes:
                raise ValueError(f"NIR edge ({prefix + a!r}, {prefix + b!r}) names a node {prefix + end!r} "
                                 "that the graph does not have.")
        flat.edges.append((_endpoint(graph, a, prefix, nir.Output, "out of"),
                           _endpoint(graph, b, prefix, nir.Input, "into")))


def flatten(graph: nir.NIRGraph) -> FlatGraph:
    """Inline every nested subgraph; the Input/Output nodes of subgraphs become direct edges."""
    flat = FlatGraph()
    _flatten(graph, "", flat)
    flat.inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    flat.outputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Output)]
    inner = [p for p, n in flat.nodes.items() if isinstance(n, (nir.Input, nir.Output))
             and p not in flat.inputs and p not in flat.outputs]
    for path in inner:                       # a -> sub.input -> b  becomes  a -> b
        before, after = flat.predecessors(path), flat.successors(path)
        flat.edges = [e for e in flat.edges if path not in e] + [(a, b) for a in before for b in after]
        del flat.nodes[path]
    if not flat.inputs:
        raise ValueError("The NIR graph has no top-level Input node; aotsnn needs one per network input.")
    return flat


def evaluation_order(flat: FlatGraph) -> list[str]:
    """Nodes in reverse post-order of a depth-first walk from the inputs (in the graph's order): every
    edge points forward except those that close a cycle, which the network delays by one step."""
    seen: set[str] = set()
    post: list[str] = []
    for start in flat.inputs:
        if start in seen:
            continue
        seen.add(start)
        stack = [(start, iter(flat.successors(start)))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                post.append(node)
                stack.pop()
            elif child not in seen:
                seen.add(child)
                stack.append((child, iter(flat.successors(child))))
    unreached = [p for p in flat.nodes if p not in seen]
    if unreached:
        raise ValueError(f"NIR node(s) {', '.join(map(repr, unreached))} are not reachable from any Input node; "
                         "remove them or connect them.")
    return post[::-1]
