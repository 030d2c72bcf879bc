"""Build a `cuda` artifact: TVM's CUDA kernels and a generated CUDA driver in one model.so (nvcc).

    fused kernels (aotsnn.export.kernels.fusion.plan_kernels)
      --cuda_kernels.gpu_version + dlight (ElementwiseGPU, GEMV, Reduction, Fallback)--> scheduled TIR
      --tvm.compile--> CUDA C source of the device kernels
      --TVM's own lowering, replayed--> launch table: kernel symbol, argument order, grid, block
    CUDA source + driver (CudaDriver) --nvcc -cudart static--> model.so (source kept: driver.cu)

The thin runtime only has tvm_ffi, which cannot load TVM's CUDA module type, so the device code
is compiled by nvcc into the same library as a host driver that launches it with cudaLaunchKernel.
The library exports `aotsnn_run` with the host driver's signature and checks (host tensors in and
out), so `aotsnn.runtime.Session` runs it unchanged. Its device state (parameters, the state
during a call, plan constants, workspace) lives as long as the loaded library; every Session
loads a private copy, so sessions share nothing.

Per call: parameters are uploaded and the parameter-only kernels run when `refresh` is set; the
state and all T steps of inputs are uploaded once; T steps run on the device (outputs and the new
state copied device to device); state and outputs come back once. cudart is linked statically:
the library needs only the NVIDIA driver (libcuda.so.1), opened on the first CUDA call.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import tvm
import tvm_ffi
from tvm.s_tir import dlight
from tvm.tirx.build import split_host_device_mods

from aotsnn.export.kernels.gpu_schedules import ElementwiseGPU, gpu_version
from aotsnn.export.codegen.driver import (GROUPS, TABLE_PREFIX, TimeLoop, _c_array, _nbytes, checked_leaves_source,
                                  entry_arguments)
from aotsnn.export.errors import ExportError
from aotsnn.export.frontend.lower import Layout
from aotsnn.export.kernels.plan import ALIGN, KernelCall, Plan, Ref

# nvcc prints one warning per float32 constant that TVM writes as a double hex literal with `f`.
NVCC_FLAGS = ("-O3", "-std=c++17", "-shared", "-Xcompiler", "-fPIC,-fvisibility=hidden", "-cudart", "static",
              "-diag-suppress", "1046")


def schedule_cuda(funcs: tvm.IRModule, target: tvm.target.Target) -> tvm.IRModule:
    """Every kernel of `funcs` with a CUDA schedule (ExportError naming those left without)."""
    replaced = {}
    for gv, func in funcs.functions.items():
        gpu = gpu_version(gv.name_hint, func)
        replaced[gv.name_hint] = func if gpu is None else gpu.with_attr("global_symbol", gv.name_hint)
    with target:
        scheduled = dlight.ApplyDefaultSchedule(ElementwiseGPU(), dlight.gpu.GEMV(), dlight.gpu.Reduction(),
                                                dlight.gpu.GeneralReduction(), dlight.gpu.Fallback())(
            tvm.IRModule(replaced))
    missing = [gv.name_hint for gv, f in scheduled.functions.items() if not f.attrs.get("tirx.is_scheduled")]
    if missing:
        raise ExportError(f"no CUDA schedule for the kernels {', '.join(missing)}")
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
            raise ExportError(f"{gv.name_hint} needs device scratch memory; the CUDA driver does not provide it")
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


class CudaDriver:
    """The CUDA C++ host driver of a plan: device buffers, launches, the T-step loop, the FFI entry."""

    def __init__(self, plan: Plan, layout: Layout, table: dict[str, list[dict]]) -> None:
        self.plan, self.layout, self.table = plan, layout, table
        self.loop = TimeLoop(plan, layout, lambda k: k, "")     # the workspace layout and staged state

    def _bytes(self, group: str, i: int) -> int:
        leaf = getattr(self.layout, group)[i]
        return _nbytes(leaf.shape, leaf.dtype)

    def _pointer(self, ref: Ref) -> str:
        if ref.kind == "input":
            return f"(d_in[{ref.index}] + t * {self._bytes('inputs', ref.index)}LL)"
        if ref.kind == "temp":
            return f"(d_ws + {self.plan.temps[ref.index].offset})"
        return {"param": "d_param", "state": "d_state", "const": "d_const"}[ref.kind] + f"[{ref.index}]"

    def _launches(self, call: KernelCall, indent: str) -> list[str]:
        out = []
        for launch in self.table[call.kernel]:
            pointers = ", ".join(f"*a{j} = (void *){self._pointer(call.args[i])}" for j, i in enumerate(launch["args"]))
            argv = ", ".join(f"&a{j}" for j in range(len(launch["args"])))
            (gx, gy, gz), (bx, by, bz), symbol = launch["grid"], launch["block"], launch["symbol"]
            out += [f"{indent}{{ void {pointers}; void *argv[] = {{{argv}}};",
                    f"{indent}  CK(cudaLaunchKernel((const void *){symbol}, dim3({gx}, {gy}, {gz}), "
                    f"dim3({bx}, {by}, {bz}), argv, 0, 0), \"launch {symbol}\"); }}"]
        return out

    def source(self, kernels_cuda: str) -> str:
        plan, layout, loop = self.plan, self.layout, self.loop
        S, C = len(layout.state), len(plan.consts)
        counts = {g: max(len(getattr(layout, g)), 1) for g in GROUPS}
        D2D = "cudaMemcpyDeviceToDevice"
        src = ["/* Generated by aotsnn: TVM's CUDA kernels and the time loop that launches them. Do not edit. */",
               "#include <stdint.h>", "#include <stdio.h>", "#include <string.h>", "#include <cuda_runtime.h>",
               "#include <tvm/ffi/c_api.h>", "", "/* -- device kernels (TVM) -- */", kernels_cuda, "",
               "/* -- host driver -- */", f"#define WORKSPACE_BYTES {loop.workspace_bytes}LL", f"#define ALIGN {ALIGN}",
               "#define DATA(t) ((char *)(t)->data + (t)->byte_offset)"]
        src += [_c_array(f"const_bytes_{i}", value.tobytes(), "unsigned char") for i, value in enumerate(plan.consts)]
        src += [_c_array(f"{TABLE_PREFIX[group]}_shape_{i}", leaf.shape)
                for group in GROUPS for i, leaf in enumerate(getattr(layout, group))]
        src += [checked_leaves_source(layout),
                "static int cuda_fail(cudaError_t e, const char *what) {",
                "  char msg[512];",
                "  snprintf(msg, sizeof msg, \"CUDA error in %s: %s (%s)\", what, cudaGetErrorName(e), cudaGetErrorString(e));",
                "  TVMFFIErrorSetRaisedFromCStr(\"RuntimeError\", msg);",
                "  return -1;",
                "}",
                "#define CK(x, what) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) return cuda_fail(e_, what); } while (0)",
                "",
                "/* Device memory of this loaded library: workspace, parameters, state, plan constants. */",
                f"static char *d_ws, *d_param[{counts['params']}], *d_state[{counts['state']}], *d_const[{max(C, 1)}];",
                "static int allocated;",
                "",
                "static int allocate(void) {",
                "  if (allocated) return 0;",
                "  CK(cudaMalloc((void **)&d_ws, WORKSPACE_BYTES > 0 ? WORKSPACE_BYTES : 1), \"cudaMalloc workspace\");"]
        for group, name in (("params", "d_param"), ("state", "d_state")):
            for i, leaf in enumerate(getattr(layout, group)):
                src.append(f"  CK(cudaMalloc((void **)&{name}[{i}], {max(self._bytes(group, i), 1)}), "
                           f"\"cudaMalloc {leaf.name}\");")
        for i, value in enumerate(plan.consts):
            src += [f"  CK(cudaMalloc((void **)&d_const[{i}], {max(value.nbytes, 1)}), \"cudaMalloc constant {i}\");",
                    f"  CK(cudaMemcpy(d_const[{i}], const_bytes_{i}, {value.nbytes}, cudaMemcpyHostToDevice), "
                    f"\"upload constant {i}\");"]
        src += ["  allocated = 1;", "  return 0;", "}", "",
                "__attribute__((destructor)) static void release(void) {",
                "  if (!allocated) return;",
                "  cudaFree(d_ws);"]
        for group, name in (("params", "d_param"), ("state", "d_state")):
            src += [f"  cudaFree({name}[{i}]);" for i in range(len(getattr(layout, group)))]
        src += [f"  cudaFree(d_const[{i}]);" for i in range(C)]
        src += ["}", "",
                "static int run(int64_t T, int refresh, DLTensor **P, DLTensor **S, DLTensor **IN, DLTensor **OUT, "
                "char **d_in, char **d_out) {",
                "  if (allocate() != 0) return -1;",
                "  const int64_t t = 0; (void)t;     /* parameter-only kernels read no input */",
                "  if (refresh) {"]
        for i, leaf in enumerate(layout.params):
            src.append(f"    CK(cudaMemcpy(d_param[{i}], DATA(P[{i}]), {self._bytes('params', i)}, cudaMemcpyHostToDevice), "
                       f"\"upload {leaf.name}\");")
        for call in plan.calls:
            if call.invariant:
                src += self._launches(call, "    ")
        src.append("  }")
        for i, leaf in enumerate(layout.state):
            src.append(f"  CK(cudaMemcpy(d_state[{i}], DATA(S[{i}]), {self._bytes('state', i)}, cudaMemcpyHostToDevice), "
                       f"\"upload {leaf.name}\");")
        for group, name, pointer in (("inputs", "IN", "d_in"), ("outputs", "OUT", "d_out")):
            for i, leaf in enumerate(getattr(layout, group)):
                src.append(f"  CK(cudaMalloc((void **)&{pointer}[{i}], T * {self._bytes(group, i)}LL), "
                           f"\"cudaMalloc {leaf.name}\");")
                if group == "inputs":
                    src.append(f"  CK(cudaMemcpy(d_in[{i}], DATA(IN[{i}]), T * {self._bytes(group, i)}LL, "
                               f"cudaMemcpyHostToDevice), \"upload {leaf.name}\");")
        src.append("  for (int64_t t = 0; t < T; ++t) {")
        for call in plan.calls:
            if not call.invariant:
                src += self._launches(call, "    ")
        for o, leaf in enumerate(layout.outputs):
            nb = self._bytes("outputs", o)
            src.append(f"    CK(cudaMemcpyAsync(d_out[{o}] + t * {nb}LL, {self._pointer(plan.results[S + o])}, {nb}, "
                       f"{D2D}, 0), \"output {leaf.name}\");")
        for i, ref in loop.staged.items():
            src.append(f"    CK(cudaMemcpyAsync(d_ws + {loop.stage_slots[i]}, d_state[{ref.index}], "
                       f"{self._bytes('state', i)}, {D2D}, 0), \"stage {layout.state[i].name}\");")
        for i, leaf in enumerate(layout.state):
            ref = plan.results[i]
            if ref.kind == "state" and ref.index == i:
                continue
            origin = f"d_ws + {loop.stage_slots[i]}" if i in loop.staged else self._pointer(ref)
            src.append(f"    CK(cudaMemcpyAsync(d_state[{i}], {origin}, {self._bytes('state', i)}, {D2D}, 0), "
                       f"\"new {leaf.name}\");")
        src.append("  }")
        for i, leaf in enumerate(layout.state):
            src.append(f"  CK(cudaMemcpy(DATA(S[{i}]), d_state[{i}], {self._bytes('state', i)}, cudaMemcpyDeviceToHost), "
                       f"\"download {leaf.name}\");")
        for o, leaf in enumerate(layout.outputs):
            src.append(f"  CK(cudaMemcpy(DATA(OUT[{o}]), d_out[{o}], T * {self._bytes('outputs', o)}LL, "
                       f"cudaMemcpyDeviceToHost), \"download {leaf.name}\");")
        src += ["  CK(cudaDeviceSynchronize(), \"synchronize\");", "  return 0;", "}", "",
                "extern \"C\" __attribute__((visibility(\"default\")))",
                "int32_t __tvm_ffi_aotsnn_run(void *self, const TVMFFIAny *args, int32_t num_args, TVMFFIAny *result) {",
                *entry_arguments(layout),
                "  (void)ws;      /* host scratch is not needed: the workspace lives on the device */",
                "  if (T == 0) return 0;",
                f"  char *d_in[{counts['inputs']}] = {{0}}, *d_out[{counts['outputs']}] = {{0}};",
                "  int rc = run(T, refresh, P, S, IN, OUT, d_in, d_out);",
                f"  for (int i = 0; i < {len(layout.inputs)}; ++i) cudaFree(d_in[i]);",
                f"  for (int i = 0; i < {len(layout.outputs)}; ++i) cudaFree(d_out[i]);",
                "  return rc;", "}"]
        return "\n".join(src) + "\n"


def build_cuda_library(plan: Plan, funcs: tvm.IRModule, layout: Layout, tvm_target: dict, arches: tuple[str, ...],
                       nvcc: str, workdir: Path, extra_sources: list[Path] = ()) -> tuple[Path, int]:
    """Schedule, generate and nvcc-compile `workdir/model.so` (its source kept as driver.cu, plus
    `extra_sources`); returns (library, workspace bytes of the host-side argument)."""
    target = tvm.target.Target({**tvm_target, "arch": arches[0]}, host="llvm")
    scheduled = schedule_cuda(funcs, target)
    try:
        kernels_cuda = tvm.compile(scheduled, target=target).mod.imports[0].inspect_source("cuda")
    except Exception as exc:
        raise ExportError(f"TVM could not generate CUDA for the kernels: {exc}") from exc
    driver = CudaDriver(plan, layout, launch_table(scheduled, target))
    (workdir / "driver.cu").write_text(driver.source(kernels_cuda))
    library = workdir / "model.so"
    gencode = [flag for arch in arches for flag in ("-gencode", f"arch=compute_{arch[3:]},code={arch}")]
    command = [nvcc, *NVCC_FLAGS, *gencode, f"-I{tvm_ffi.libinfo.find_include_path()}",
               f"-I{tvm_ffi.libinfo.find_dlpack_include_path()}", str(workdir / "driver.cu"),
               *map(str, extra_sources), "-o", str(library)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ExportError(f"nvcc failed on {workdir / 'driver.cu'}:\n{result.stderr[-4000:]}")
    return library, driver.loop.workspace_bytes
