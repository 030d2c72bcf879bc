"""LoweredStep -> library artifact directory (model.so): import, fuse, build, link, write.

    write_library(lowered, Path("net.aot"), get("host"), timings=..., start=...)   # via aotsnn.export.compile_network

Stages after lowering: StableHLO -> Relax (aotsnn.export.frontend.to_relax) -> fused TIR kernels
(aotsnn.export.kernels.fusion) -> C driver (aotsnn.export.codegen.driver) -> one shared library. The library
depends only on the StableHLO text, the target and the precision; it is cached under that
content hash (`AOTSNN_CACHE`, default ~/.cache/aotsnn), so changing parameter values, which are
run-time inputs, never recompiles.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tvm
import tvm_ffi

import aotsnn
from aotsnn.export.artifact.c_objects import background_objects
from aotsnn.export.codegen.driver import driver_source, identity_source
from aotsnn.export.errors import ExportError
from aotsnn.export.codegen.cuda_driver import build_cuda_library
from aotsnn.export.codegen.opencl_driver import build_opencl_library
from aotsnn.export.kernels.fusion import build_kernels, plan_kernels
from aotsnn.export.frontend.lower import Layout, LoweredStep
from aotsnn.export.kernels.native_cpu import specialise
from aotsnn.export.frontend.to_onnx import export_onnx, step_names
from aotsnn.export.frontend.onnx_to_relax import import_onnx
from aotsnn.export.artifact.publish import (
    publish,
    staging_for,
    topology_hashes,
    write_model_files,
)
from aotsnn.export.kernels.sparse_matmul import MAX_SPARSE_DENSITY
from aotsnn.export.frontend.to_relax import canonical_text, import_stablehlo
from aotsnn.runtime.format import HASHED_FILES, layout_fingerprint, library_identity
from aotsnn.targets import Target

EXPORT_PACKAGE = Path(__file__).parents[1]
THREAD_POOL = EXPORT_PACKAGE / "codegen" / "csrc" / "thread_pool.c"
IDENTITY_FILE = "identity.c"     # aotsnn_identity(), generated per build (driver.identity_source)


def cache_dir() -> Path:
    return Path(os.environ.get("AOTSNN_CACHE", Path.home() / ".cache" / "aotsnn"))


def compiler_fingerprint() -> str:
    """Hash of this package's compiler sources (Python and C): a changed importer, driver or
    thread pool invalidates the cache."""
    digest = hashlib.sha256()
    for source in sorted([*EXPORT_PACKAGE.rglob("*.py"), *EXPORT_PACKAGE.glob("codegen/csrc/*")]):
        digest.update(source.read_bytes())
    return digest.hexdigest()


@contextmanager
def stage(progress, name: str, timings: dict):
    start = time.perf_counter()
    task = progress.add_task(name, total=None) if progress is not None else None
    yield
    timings[name] = time.perf_counter() - start
    if task is not None:
        progress.update(task, total=1, completed=1)


def build_library(stablehlo_text: str, layout: Layout, target: Target, tvm_target: dict, workdir: Path,
                  progress=None, timings: dict | None = None,
                  topology: dict[str, np.ndarray] | None = None,
                  sparse_threshold: float = MAX_SPARSE_DENSITY, compile_path: str = "stablehlo",
                  onnx_model: bytes | None = None, *, identity: dict) -> tuple[Path, dict]:
    """Compile StableHLO text to `workdir/model.so` for `target` (its TVM target specialised to
    this machine: `tvm_target`); returns (path, build facts). `identity`
    (aotsnn.runtime.format.library_identity) is compiled in as `aotsnn_identity`.

    `topology` (parameter name -> value) lets the importer specialise kernels to connection masks.
    `compile_path="onnx"` imports `onnx_model` (the same step) with TVM's ONNX frontend instead.
    """
    timings = {} if timings is None else timings
    (workdir / IDENTITY_FILE).write_text(identity_source(identity))     # linked in, then removed
    index = {leaf.name: i for i, leaf in enumerate(layout.params)}
    masks = {index[k]: v for k, v in (topology or {}).items()}
    if compile_path == "onnx":
        with stage(progress, "import ONNX -> Relax (TVM's ONNX frontend)", timings):
            relax_mod = import_onnx(onnx_model, masks, sparse_threshold)
    else:
        with stage(progress, "import StableHLO -> Relax", timings):
            relax_mod = import_stablehlo(stablehlo_text, masks, sparse_threshold)
    if target.device == "cuda":
        with stage(progress, "build CUDA kernels and driver (TVM, nvcc)", timings):
            plan, funcs = plan_kernels(relax_mod, layout)
            library, workspace = build_cuda_library(plan, funcs, layout, tvm_target, target.extra["arches"],
                                                    target.cc, workdir, extra_sources=[workdir / IDENTITY_FILE])
        driver_file = "driver.cu"
    elif target.device == "opencl":
        with stage(progress, "build OpenCL kernels and driver (TVM, cc)", timings):
            plan, funcs = plan_kernels(relax_mod, layout)
            library, workspace = build_opencl_library(plan, funcs, layout, tvm_target, target.cc, target.cflags,
                                                      workdir, extra_sources=[workdir / IDENTITY_FILE])
        driver_file = "driver.c"
    else:
        with stage(progress, "fuse kernels (TVM)", timings):
            plan, funcs = plan_kernels(relax_mod, layout, merge=True)
        driver_file = "driver.c"
        source, workspace = driver_source(plan, layout)
        (workdir / driver_file).write_text(source)
        flags = [f"-I{tvm_ffi.libinfo.find_include_path()}", f"-I{tvm_ffi.libinfo.find_dlpack_include_path()}",
                 *target.cflags]
        with background_objects(target.cc, [workdir / driver_file, THREAD_POOL, workdir / IDENTITY_FILE],
                                flags, workdir) as c_objects:
            with stage(progress, "build kernels (TVM; the driver compiles meanwhile)", timings):
                kernels = build_kernels(plan, funcs, tvm.target.Target(tvm_target))
            with stage(progress, "link kernels + driver", timings):
                objects = c_objects.paths()
                library = workdir / "model.so"
                try:
                    kernels.library.export_library(str(library), addons=list(objects), cc=target.cc,
                                                   options=list(target.cflags))
                except Exception as exc:
                    raise ExportError(f"linking the artifact for target '{target.name}' failed: {exc}") from exc
        for obj in objects:
            Path(obj).unlink()
    (workdir / IDENTITY_FILE).unlink()
    facts = {"kernels": len({c.kernel for c in plan.calls}),
             "kernel_calls_per_step": sum(not c.invariant for c in plan.calls),
             "hoisted_kernel_calls": sum(c.invariant for c in plan.calls),
             "workspace_bytes": workspace, "driver_file": driver_file, "tvm_version": tvm.__version__}
    return library, facts


def write_library(lowered: LoweredStep, out: Path, target_spec: Target, *, use_cache: bool = True, progress=None,
                  source: str | None = None, sparse_threshold: float = MAX_SPARSE_DENSITY,
                  compile_path: str = "stablehlo", timings: dict[str, float], start: float) -> Path:
    """Compile `lowered` into the library artifact `out` for `target_spec` (a "library" target).

    `timings` holds the stages already run (lowering) and `start` their perf_counter origin, so
    the manifest's compile_seconds covers the whole compile.
    """
    with stage(progress, "export ONNX", timings):
        onnx_model = export_onnx(lowered.stablehlo_text, *step_names(lowered.layout), graph_name=lowered.name)
    topology, hashes = topology_hashes(lowered)
    tvm_target, cpu = specialise(target_spec)
    layout_json = {g: [leaf.to_json() for leaf in getattr(lowered.layout, g)] for g in ("params", "state", "inputs", "outputs")}
    key = hashlib.sha256(json.dumps([canonical_text(lowered.stablehlo_text), target_spec.name, tvm_target,
                                     list(target_spec.cflags), target_spec.extra, lowered.precision, aotsnn.__version__,
                                     compiler_fingerprint(), hashes, sparse_threshold, compile_path,
                                     tvm.__version__, lowered.dt, layout_fingerprint(layout_json)]).encode()).hexdigest()
    with staging_for(out) as staging:
        cached = cache_dir() / key
        if use_cache and (cached / "model.so").exists() and (cached / "build.json").exists():
            facts = {**json.loads((cached / "build.json").read_text()), "cache_hit": True}
            for name in ("model.so", facts["driver_file"]):
                shutil.copy(cached / name, staging / name)
        else:
            _, facts = build_library(lowered.stablehlo_text, lowered.layout, target_spec, tvm_target, staging,
                                     progress, timings, topology, sparse_threshold, compile_path, onnx_model,
                                     identity=library_identity(key, lowered.dt, lowered.precision, layout_json))
            facts["cache_hit"] = False
            if use_cache:
                cached.mkdir(parents=True, exist_ok=True)
                for name in ("model.so", facts["driver_file"]):
                    shutil.copy(staging / name, cached / name)
                (cached / "build.json").write_text(json.dumps({k: v for k, v in facts.items() if k != "cache_hit"}))
        write_model_files(staging, lowered, onnx_model)
        facts["compile_seconds"] = round(time.perf_counter() - start, 3)
        facts["stage_seconds"] = {k: round(v, 3) for k, v in timings.items()}
        return publish(staging, out, lowered=lowered, compile_path=compile_path,
                       target={"name": target_spec.name, "machine": target_spec.machine,
                               "device": target_spec.device, "tvm_target": tvm_target, **cpu},
                       source=source, topology=hashes, facts=facts, files=[*HASHED_FILES, facts["driver_file"]],
                       extra={"cache_key": key})
