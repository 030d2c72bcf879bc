"""ONNX -> TVM Relax through TVM's ONNX frontend: the second compile path.

    import_onnx(model_bytes, topology) -> IRModule with `main(*args) -> tuple`, like import_stablehlo

The model is the step exported by aotsnn.export.frontend.to_onnx; its inputs are the layout's leaves
in order, so main's parameters line up with the plan's. A single-output model is given a tuple
result, and 2-D floating matmuls go on the same event-driven / sparse kernels as the StableHLO path.
"""
from __future__ import annotations

import numpy as np
import onnx
import tvm
from tvm import relax
from tvm.relax.frontend.onnx import from_onnx

from aotsnn.export.errors import ExportError
from aotsnn.export.kernels.matmul_selection import select_matmul_kernels
from aotsnn.export.kernels.sparse_matmul import MAX_SPARSE_DENSITY


def _tuple_result(mod: tvm.IRModule) -> tvm.IRModule:
    main = mod["main"]
    if isinstance(main.body.body.ty, relax.TupleType):
        return mod
    body = relax.SeqExpr(main.body.blocks, relax.Tuple([main.body.body]))
    mod = mod.clone() if hasattr(mod, "clone") else tvm.IRModule(dict(mod.functions_items()))
    mod["main"] = relax.Function(main.params, body, relax.TupleType([main.body.body.ty]), attrs=main.attrs)
    return relax.transform.Normalize()(mod)


def import_onnx(model: bytes, topology: dict[int, np.ndarray] | None = None,
                sparse_threshold: float = MAX_SPARSE_DENSITY) -> tvm.IRModule:
    """Relax IRModule of the ONNX `model`; `topology` as in aotsnn.export.frontend.to_relax."""
    try:
        mod = from_onnx(onnx.load_from_string(model), keep_params_in_input=False, sanitize_input_names=False)
    except Exception as exc:
        raise ExportError(f"TVM's ONNX frontend could not import the step: {exc}") from exc
    return select_matmul_kernels(_tuple_result(mod), topology, sparse_threshold)
