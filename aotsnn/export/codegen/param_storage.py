"""How a C bundle stores each parameter: dense, packed at a mask's non-zeros, not at all, or as indices.

A weight matrix W behind a sparse connection mask M reaches the kernels only through the CSR
gather of `x @ (W * M)` (aotsnn.export.kernels.sparse_matmul), which reads W and M at the mask's
non-zeros p = 0 .. nnz-1 (row by row, the order of `numpy.nonzero`):

    values[p] = W[r_p, c_p] * M[r_p, c_p]

So a bundle keeps only what that needs:

    "packed"    W, when every kernel that reads it is such a gather with the same mask: its nnz
                values W[r_p, c_p] (flash and `<model>_set_param` take those, not k x n);
    "compiled"  M, when only such gathers read it: nothing is stored, M[r_p, c_p] are constants
                of the driver's own gather (the topology is fixed when the bundle is compiled);
    "indices"   an integer leaf (a sparse synapse's pre_start and post_index, int32): topology
                the kernels take as run-time arguments, so all its values are compiled in as a
                `const int32_t` array of their own (`<model>_indices_<leaf>`) that the driver hands
                to the kernels; it is not in the table of float parameter values (`param_values`:
                params.bin, `<model>_set_param`, which refuses it as topology);
    "dense"     every other parameter, all its values in layout order.

The driver then computes the gathers of packed leaves itself (`gather_source`) instead of calling
TVM's gather kernel: the same products in the same order, so the values are bit for bit those of
the host artifact. The demo network's 720 KB of dense weights and masks become 36 KB.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aotsnn.export.frontend.lower import Layout
from aotsnn.export.kernels.plan import KernelCall, Plan, Ref
from aotsnn.runtime.format import INTEGER_DTYPES
from aotsnn.runtime.params import STORAGE_KINDS

GATHER_PREFIX = "csr_gather_"      # the kernel names of aotsnn.export.kernels.matmul_selection


@dataclass(frozen=True)
class ParamStorage:
    """What a bundle stores of one parameter leaf: `size` values (0 when `compiled`)."""

    kind: str                         # one of STORAGE_KINDS
    size: int
    mask: str | None = None           # packed: the topology leaf whose non-zeros index the values

    @property
    def param_values(self) -> int:
        """How many of its values are in the table of float parameter values (params.bin,
        `<model>_set_param`): all it stores, except for integer indices (their own arrays)."""
        return 0 if self.kind == "indices" else self.size

    def to_json(self) -> dict:
        return {"storage": self.kind, "size": self.size, "mask": self.mask}


def _gather(call: KernelCall) -> tuple[Ref, Ref] | None:
    """(W, M) of a CSR gather call whose operands are both parameter leaves."""
    if not call.kernel.startswith(GATHER_PREFIX):
        return None
    weights, mask = call.args[0], call.args[1]
    return (weights, mask) if weights.kind == mask.kind == "param" else None


def whole(layout: Layout) -> dict[str, ParamStorage]:
    """Every parameter leaf stored whole: "dense", or "indices" for an integer leaf."""
    return {leaf.name: ParamStorage("indices" if leaf.dtype in INTEGER_DTYPES else "dense",
                                    int(np.prod(leaf.shape, dtype=np.int64))) for leaf in layout.params}


def param_storage(plan: Plan, layout: Layout, topology: dict[str, np.ndarray]) -> dict[str, ParamStorage]:
    """The storage of every parameter leaf of `layout` (see the module docstring)."""
    readers: dict[int, list[tuple[Ref, Ref] | None]] = {}
    for call in plan.calls:
        for ref in call.args[:len(call.args) - call.n_outputs]:
            if ref.kind == "param":
                readers.setdefault(ref.index, []).append(_gather(call))
    names = [leaf.name for leaf in layout.params]
    storage = whole(layout)     # indices are read by CSR scatters, never by gathers: they stay as they are
    for i, name in enumerate(names):           # W: read only as the weights of gathers by one topology mask
        gathers = readers.get(i, [])
        masks = {g[1].index for g in gathers if g is not None}
        if gathers and all(g is not None and g[0].index == i != g[1].index for g in gathers) and len(masks) == 1 \
                and names[min(masks)] in topology:
            mask = names[min(masks)]
            storage[name] = ParamStorage("packed", int(np.count_nonzero(topology[mask])), mask)
    for i, name in enumerate(names):           # M: read only as the mask of gathers the driver computes
        gathers = readers.get(i, [])
        if name in topology and gathers and all(g is not None and g[1].index == i and
                                                storage[names[g[0].index]].kind == "packed" for g in gathers):
            storage[name] = ParamStorage("compiled", 0)
    return storage


def packed_gathers(plan: Plan, layout: Layout, storage: dict[str, ParamStorage]) -> dict[int, tuple[int, int]]:
    """call index -> (W leaf index, M leaf index) of every gather the driver computes itself."""
    found = {}
    for n, call in enumerate(plan.calls):
        pair = _gather(call)
        if pair is not None and storage[layout.params[pair[0].index].name].kind == "packed":
            found[n] = (pair[0].index, pair[1].index)
    return found
