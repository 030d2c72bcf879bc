"""Run one StableHLO module through every aotsnn backend and compare with an expected result.

    relax         import_stablehlo -> tvm.compile(llvm) -> relax VM
    onnxruntime   export_onnx -> onnxruntime (an independent implementation of the ONNX file)
    tvm-onnx      export_onnx -> import_onnx (TVM's ONNX frontend) -> tvm.compile -> relax VM
"""
from __future__ import annotations

import jax
import numpy as np
import onnxruntime
import tvm
from jax import export as jax_export
from tvm import relax

from aotsnn.export.frontend.to_onnx import export_onnx
from aotsnn.export.frontend.onnx_to_relax import import_onnx
from aotsnn.export.frontend.to_relax import import_stablehlo

BACKENDS = ("relax", "onnxruntime", "tvm-onnx")


def stablehlo_of(fn, *args) -> str:
    specs = [jax.ShapeDtypeStruct(np.shape(a), np.asarray(a).dtype) for a in args]
    return jax_export.export(jax.jit(fn), platforms=["cpu"])(*specs).mlir_module()


def _vm_run(mod, args) -> list[np.ndarray]:
    vm = relax.VirtualMachine(tvm.compile(mod, target="llvm"), tvm.cpu())
    out = vm["main"](*[tvm.runtime.tensor(np.array(a, order="C")) for a in args])
    return [np.asarray(o.numpy()) for o in out]


def run_backend(backend: str, text: str, args) -> list[np.ndarray]:
    if backend == "relax":
        return _vm_run(import_stablehlo(text), args)
    model = export_onnx(text)
    if backend == "onnxruntime":
        session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
        return session.run(None, {f"arg{i}": np.array(a, order="C") for i, a in enumerate(args)})
    return _vm_run(import_onnx(model), args)


def assert_matches(got: list[np.ndarray], want, rtol: float, atol: float, what: str) -> None:
    want = [np.asarray(w) for w in (want if isinstance(want, (tuple, list)) else [want])]
    assert len(got) == len(want), f"{what}: {len(got)} results, expected {len(want)}"
    for i, (g, w) in enumerate(zip(got, want)):
        assert g.shape == w.shape and g.dtype == w.dtype, \
            f"{what} result {i}: got {g.dtype}{g.shape}, expected {w.dtype}{w.shape}"
        if np.issubdtype(w.dtype, np.floating):
            np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=rtol, atol=atol,
                                       equal_nan=True, err_msg=f"{what} result {i}")
        else:
            np.testing.assert_array_equal(g, w, err_msg=f"{what} result {i}")


def check_text(text: str, args, want, backends=BACKENDS, rtol: float = 1e-6, atol: float = 0.0) -> None:
    for backend in backends:
        assert_matches(run_backend(backend, text, args), want, rtol, atol, backend)


def check(fn, *args, backends=BACKENDS, rtol: float = 1e-6, atol: float = 0.0) -> None:
    """fn exported with jax.export and run by each backend equals jax.jit(fn) on `args`."""
    want = jax.jit(fn)(*args)
    check_text(stablehlo_of(fn, *args), args, jax.tree.leaves(want), backends, rtol, atol)
