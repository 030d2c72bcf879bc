"""The one entry point of the compiler: Network -> artifact directory, for any target.

    compile_network(net, "net.aot", target="cortex-m", precision="float32")

The pipeline, one sub-package per stage:

    frontend/   lower the Network once (jax.export -> StableHLO, LoweredStep), walk the StableHLO
                into TVM Relax (to_relax) or ONNX (to_onnx, onnx_to_relax)
    kernels/    Relax -> fused TIR kernels: plan, fusion, CPU/GPU schedules, the hand-written
                event/CSR/exp kernels, TVM's C backend made runtime-free (c_kernels, arena, c_math)
    codegen/    the generated drivers around the kernels: the C time loop, the plain C API,
                the CUDA driver, and the C sources they build with (csrc/)
    artifact/   the writers: a library (model.so, "library" targets), a C bundle ("c-bundle"
                targets), and publish (manifest, seal, one rename)

The target's artifact kind picks the writer; nothing after `lower` reads the Network.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from aotsnn.export.artifact.bundle import write_bundle
from aotsnn.export.artifact.library import stage, write_library
from aotsnn.export.errors import ExportError
from aotsnn.export.frontend.lower import LoweredStep, check_network, check_precision, lower
from aotsnn.export.kernels.sparse_matmul import MAX_SPARSE_DENSITY
from aotsnn.runtime.format import INTEGER_DTYPES
from aotsnn.targets import TargetUnavailableError, get, require

if TYPE_CHECKING:
    from aotsnn.network import Network

COMPILE_PATHS = ("stablehlo", "onnx")


def compile_network(net: "Network", out: str | os.PathLike, *, target: str = "host", precision: str = "float32",
                    source: str | None = None, use_cache: bool = True, progress=None,
                    sparse_threshold: float = MAX_SPARSE_DENSITY, compile_path: str = "stablehlo") -> Path:
    """Compile `net` for `target` into the artifact directory `out` (replaced if it exists).

    `source` ("module:function" that builds `net`) is recorded so `aotsnn verify` can rebuild
    the reference without being told. Connection masks with at most `sparse_threshold` non-zeros
    use sparse (CSR) kernels; 0 forces dense kernels everywhere. `compile_path` "stablehlo" (the
    aotsnn importer) or "onnx" (the exported step.onnx through TVM's ONNX frontend, library
    targets only) picks how the step reaches TVM; both give the same kernels, plan and driver.
    `progress` (a rich Progress) shows the stages of a library build. Raises
    TargetUnavailableError when the target cannot be built on this machine, with the reason.
    """
    if compile_path not in COMPILE_PATHS:
        raise ValueError(f"`compile_path` must be one of {COMPILE_PATHS}, got {compile_path!r}.")
    check_network(net)
    check_precision(precision)
    spec = get(target)
    if spec.artifact == "c-bundle":
        require(target)                  # a bundle's harness must run here
    builds, why = spec.builds_here()     # a library target (cuda) builds where it cannot run
    if not builds:
        raise TargetUnavailableError(why)
    if spec.artifact == "c-bundle" and compile_path != "stablehlo":
        raise ExportError(f"target '{spec.name}' builds a C bundle, which compiles through StableHLO only; "
                          f"drop compile_path={compile_path!r}.")
    out, start, timings = Path(out), time.perf_counter(), {}
    with stage(progress, "trace and lower to StableHLO (jax.export)", timings):
        lowered = lower(net, precision)
    if compile_path == "onnx" and spec.device != "cpu":
        refuse_synapse_lists(lowered, spec.name)
    if spec.artifact == "c-bundle":
        return write_bundle(lowered, out, spec, source=source, use_cache=use_cache, start=start)
    return write_library(lowered, out, spec, use_cache=use_cache, progress=progress, source=source,
                         sparse_threshold=sparse_threshold, compile_path=compile_path, timings=timings, start=start)


def refuse_synapse_lists(lowered: LoweredStep, target: str) -> None:
    """ExportError naming the first synapse list (connectivity=: int32 index parameters) of
    `lowered`: the ONNX path's sparse product (Gather, ScatterElements, CumSum) has no GPU schedule."""
    indices = [leaf.name for leaf in lowered.layout.params if leaf.dtype in INTEGER_DTYPES]
    if indices:
        owner = indices[0].partition(".")[0]
        raise ExportError(f"In {lowered.labels[owner]}: a synapse list (connectivity=, int32 indices "
                          f"{', '.join(repr(n) for n in indices if n.startswith(owner + '.'))}) compiles for "
                          f"'{target}' through StableHLO only: the ONNX path's sparse product (Gather, ScatterElements, "
                          "CumSum) has no GPU schedule; drop compile_path='onnx' (the StableHLO path puts it on "
                          "the CSR kernel).")
