"""NIR (the Neuromorphic Intermediate Representation, PyPI `nir`) import and export.

`from_nir(graph_or_path, dt=..., integration=..., reset=..., time_unit="s") -> Network` and
`to_nir(net) -> nir.NIRGraph`; docs/nir.md has the node table and the traps. Needs the [nir]
extra (nir, h5py).
"""
from aotsnn.nir.importer import from_nir, load_graph
from aotsnn.nir.exporter import to_nir

__all__ = ["from_nir", "to_nir", "load_graph"]
