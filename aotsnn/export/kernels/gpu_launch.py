"""The GPU kernels of a plan, shared by every GPU target (cuda, opencl): one schedule, one launch table.

    scheduled = schedule_gpu(funcs, target)          # gpu_schedules + dlight, whatever the GPU API
    kernels = gpu_kernels(funcs, target)             # + device source (CUDA C or OpenCL C), launches

The schedules (aotsnn.export.kernels.gpu_schedules and dlight's GPU rules) do not depend on the
API that runs them: TVM binds the same loops to blockIdx/threadIdx, and only its last step, the
code generator, writes CUDA or OpenCL C. The launch table (for each kernel: device symbol,
argument order, grid, block) is read from the host half of TVM's own lowering, which is the
same for both. So a cuda and an opencl artifact of one network run the same kernels with the
same launch dimensions (tests/export/test_opencl.py compares them).
"""
from __future__ import annotations

from dataclasses import dataclass

import tvm
import tvm_ffi
from tvm.s_tir import dlight
from tvm.tirx.build import split_host_device_mods

from aotsnn.export.errors import ExportError
from aotsnn.export.kernels.fusion import has_random_bits
from aotsnn.export.kernels.gpu_schedules import ElementwiseGPU, RandomBitsGPU, gpu_version


@dataclass(frozen=True)
class GpuKernels:
    """Scheduled kernels of a plan for one GPU target: TIR, the device source, the launches."""

    scheduled: tvm.IRModule
    source: str                          # CUDA C or OpenCL C of every device kernel
    table: dict[str, list[dict]]         # kernel -> launches (see launch_table)


def schedule_gpu(funcs: tvm.IRModule, target: tvm.target.Target) -> tvm.IRModule:
    """Every kernel of `funcs` with a GPU schedule (ExportError naming those left without).

    Kernels of random bits (jax.random's threefry: uint32 blocks) get RandomBitsGPU alone: the
    other rules inline intermediates first, which grows threefry's expression exponentially.
    """
    replaced = {}
    for gv, func in funcs.functions.items():
        gpu = gpu_version(gv.name_hint, func)
        replaced[gv.name_hint] = func if gpu is None else gpu.with_attr("global_symbol", gv.name_hint)
    bits = {name: f for name, f in replaced.items() if has_random_bits(f)}
    rest = {name: f for name, f in replaced.items() if name not in bits}
    with target:
        scheduled = dlight.ApplyDefaultSchedule(ElementwiseGPU(), dlight.gpu.GEMV(), dlight.gpu.Reduction(),
                                                dlight.gpu.GeneralReduction(), dlight.gpu.Fallback())(
            tvm.IRModule(rest))
        for gv, func in dlight.ApplyDefaultSchedule(RandomBitsGPU())(tvm.IRModule(bits)).functions.items():
            scheduled[gv] = func
    missing = [gv.name_hint for gv, f in scheduled.functions.items() if not f.attrs.get("tirx.is_scheduled")]
    if missing:
        raise ExportError(f"no GPU schedule for the kernels {', '.join(missing)}")
    return scheduled


def _buffer_name(arg) -> str:
    if isinstance(arg, tvm.ir.Call) and arg.op.name == "tirx.buffer_data":
        return arg.args[0].name
    return arg.name


def launch_table(scheduled: tvm.IRModule, target: tvm.target.Target) -> dict[str, list[dict]]:
    """kernel name -> the device launches of one call, in order: symbol, which parameter of the
    PrimFunc each pointer argument is, grid and block dimensions.

    Read from the host half of TVM's own lowering (the steps `tvm.compile` runs): each host
    function calls `tirx.call_ffi_kernel(symbol, pointers..., extents...)`.
    """
    pipeline, _, _ = tvm.tirx.get_tir_pipeline("s_tir")
    host, devices = split_host_device_mods(pipeline(tvm.tirx.transform.BindTarget(target)(scheduled)))
    (device,) = devices.values()
    table = {}
    for gv, host_func in host.functions.items():
        if gv.name_hint not in {g.name_hint for g in scheduled.functions}:
            continue
        if "AllocWorkspace" in host_func.script():
            raise ExportError(f"{gv.name_hint} needs device scratch memory; the GPU drivers do not provide it")
        params = {p.name: i for i, p in enumerate(scheduled[gv.name_hint].params)}
        calls = []
        tvm_ffi.structural_walk(host_func.body, [(tvm.ir.Call, lambda c: calls.append(c) if getattr(
            c.op, "name", "") == "tirx.call_ffi_kernel" else None)], order="pre")
        launches = []
        for call in calls:
            symbol, tags = call.args[0].value, list(call.attrs.launch_params)
            if any(not t.startswith(("blockIdx", "threadIdx")) for t in tags):
                raise ExportError(f"{symbol}: unsupported launch parameters {tags}")
            pointers, extents = call.args[1:len(call.args) - len(tags)], call.args[len(call.args) - len(tags):]
            names = [_buffer_name(p) for p in pointers]
            if [p.name for p in device[symbol].params] != [f"{n}_ptr" for n in names]:
                raise ExportError(f"{symbol}: the device kernel's parameters do not match its launch")
            dims = {t: int(e.value) for t, e in zip(tags, extents)}
            launches.append({"symbol": symbol, "args": [params[n] for n in names],
                             "grid": [dims.get(f"blockIdx.{a}", 1) for a in "xyz"],
                             "block": [dims.get(f"threadIdx.{a}", 1) for a in "xyz"]})
        table[gv.name_hint] = launches
    return table


def gpu_kernels(funcs: tvm.IRModule, target: tvm.target.Target) -> GpuKernels:
    """Schedule `funcs` for the GPU `target` (kind "cuda" or "opencl", host "llvm"), generate the
    device source with TVM, and read the launch table."""
    scheduled = schedule_gpu(funcs, target)
    kind = target.kind.name
    try:
        device = tvm.compile(scheduled, target=target).mod.imports[0]
        source = device.inspect_source("cuda" if kind == "cuda" else "")   # opencl: only the default format
    except Exception as exc:
        raise ExportError(f"TVM could not generate {kind} code for the kernels: {exc}") from exc
    if not source.strip():
        raise ExportError(f"TVM generated no {kind} source for the kernels")
    return GpuKernels(scheduled, source, launch_table(scheduled, target))
