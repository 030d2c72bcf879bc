"""Kernels written once with symbolic sizes, parsed once per dtype, specialised per shape.

Parsing TVMScript costs 50-150 ms per kernel (most of it `inspect.stack()` in TVM's decorator,
which grows with the caller's stack depth); a network with four masked synapses has eight such
kernels. A template takes its sizes as trailing int32 parameters (`m: T.int32`, ...) and is
parsed once per dtype (functools.cache at the definition); `specialise` binds the sizes in well
under a millisecond. The result is structurally equal to the kernel parsed with constant sizes.
"""
from __future__ import annotations

from tvm import tirx


def specialise(template: tirx.PrimFunc, **sizes: int) -> tirx.PrimFunc:
    """`template` with its int32 size parameters bound by name (each removed from the params)."""
    by_name = {param.name: param for param in template.params}
    return template.specialize({by_name[name]: value for name, value in sizes.items()})
