"""Build an `opencl` artifact: TVM's OpenCL C kernels, embedded in a generated plain-C driver (model.so).

    fused kernels --gpu_launch.gpu_kernels (the GPU schedules of the cuda target)--> OpenCL C + launch table
    OpenCL C --exact_float_constants, FP_CONTRACT OFF--> kernel source, a string in driver.c
    driver.c (OpenCLDriver) + identity.c --cc -shared--> model.so (source kept: driver.c)

The library exports `aotsnn_run` with the host driver's signature and checks, so
`aotsnn.runtime.Session` runs it unchanged. It has no link-time dependency on OpenCL: on its
first run it opens the ICD loader (dlopen "libOpenCL.so.1", the library every OpenCL driver
installs), picks a device (AOTSNN_OPENCL_DEVICE "P:D", else the first GPU, else the first
device: aotsnn.runtime.opencl), builds the kernel source once for this process with
`-cl-fp32-correctly-rounded-divide-sqrt` (never `-cl-fast-relaxed-math`; a device that
refuses gets its build log into the error), creates one cl_kernel per launch with its
arguments set once, and allocates every buffer of the plan on the device. The same source
therefore cross-compiles for any Linux (aarch64 boards with Mali or Adreno GPUs) without an
OpenCL library of that architecture at build time.

Per call: parameters are uploaded and the parameter-only kernels run only when `refresh` is
set; the state stays on the device between calls and is uploaded only when the caller's
state differs from what the last call returned (compared with a host copy, leaf by leaf);
all T steps of inputs go up once; each step copies its input slice into the step buffer the
kernels read, launches the kernels and copies results device to device (DeviceLoop, shared
with the cuda driver); outputs and the new state come back once.
"""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import tvm
import tvm_ffi

from aotsnn.export.codegen.device_loop import DeviceLoop, Output, Stage
from aotsnn.export.codegen.driver import GROUPS, TABLE_PREFIX, _c_array, checked_leaves_source, entry_arguments
from aotsnn.export.errors import ExportError
from aotsnn.export.frontend.lower import Layout
from aotsnn.export.kernels.gpu_launch import GpuKernels, gpu_kernels
from aotsnn.export.kernels.plan import KernelCall, Plan, Ref

BUILD_OPTIONS = "-cl-fp32-correctly-rounded-divide-sqrt"
ICD_LOADER = "libOpenCL.so.1"
CL_HEADERS = Path("/usr/include/CL")       # Debian's opencl-c-headers (from ocl-icd-opencl-dev)
CL_FUNCTIONS = ("clGetPlatformIDs", "clGetDeviceIDs", "clGetDeviceInfo", "clCreateContext", "clCreateCommandQueue",
                "clCreateProgramWithSource", "clBuildProgram", "clGetProgramBuildInfo", "clCreateKernel",
                "clSetKernelArg", "clGetKernelWorkGroupInfo", "clCreateBuffer", "clEnqueueWriteBuffer",
                "clEnqueueReadBuffer", "clEnqueueCopyBuffer", "clEnqueueNDRangeKernel", "clFinish",
                "clReleaseMemObject", "clReleaseKernel", "clReleaseProgram", "clReleaseCommandQueue",
                "clReleaseContext")


# -- the kernel source ------------------------------------------------------------------------------

# TVM's OpenCL printer writes a float constant with `%e`: 7 significant digits, e.g.
# 3.333333e-01f for the float32 nearest 1/3, which reads back one ulp off (float32 needs 9).
_PRINTED_FLOAT = re.compile(r"(?<![\w.])(\d\.\d{6}e[+-]\d+)f")


def float_constants(scheduled: tvm.IRModule, dtype: str = "float32") -> set[float]:
    """Every `dtype` constant of the scheduled kernels (as TIR holds it: a double)."""
    found: set[float] = set()
    for func in scheduled.functions.values():
        tvm_ffi.structural_walk(func.body, [(tvm.tirx.FloatImm, lambda c: found.add(float(c.value))
                                             if str(c.ty) == dtype else None)], order="pre")
    return found


def check_float64_constants(scheduled: tvm.IRModule) -> None:
    """ExportError when a float64 constant would not survive TVM's 7-digit OpenCL printing (only
    float32 literals are rewritten exactly): a float64 artifact would silently compute with other
    constants than the other targets."""
    inexact = sorted(v for v in float_constants(scheduled, "float64") if np.isfinite(v) and float(f"{v:e}") != v)
    if inexact:
        raise ExportError(f"the opencl target writes float64 constants with 7 significant digits (TVM's OpenCL "
                          f"printer), which changes {len(inexact)} of this network's, e.g. {inexact[0]!r}; "
                          "compile with precision='float32' for opencl, or use the host or c target for float64")


def exact_float_constants(source: str, constants: set[float]) -> str:
    """`source` with every float32 literal that TVM printed inexactly replaced by
    `as_float(bits)` (OpenCL's bit reinterpretation: exact), found by matching the printed
    text against the kernels' own constants; literals that read back exactly stay as printed.
    ExportError when two different float32 constants print the same (the text cannot say which)."""
    exact: dict[str, np.float32] = {}
    for value in constants:
        if not np.isfinite(value):
            continue
        text, wanted = f"{abs(value):e}", np.float32(abs(value))
        if text in exact and exact[text] != wanted:
            raise ExportError(f"two float32 constants of the kernels, {exact[text]!r} and {wanted!r}, are both printed "
                              f"{text}f by TVM's OpenCL code generator; the opencl target cannot tell them apart")
        exact[text] = wanted

    def spell(match: re.Match) -> str:
        text = match[1]
        wanted = exact.get(text)
        if wanted is None or np.float32(float(text)) == wanted:
            return match[0]
        return f"as_float(0x{struct.unpack('<I', struct.pack('<f', wanted))[0]:08x}u)"

    return _PRINTED_FLOAT.sub(spell, source)


# OpenCL C forbids bool in kernel parameters (its size is the device's choice); TVM writes
# `__global bool*` for the plan's boolean temps, which the host stores as one byte each.
_BOOL_PARAM = re.compile(r"__global bool\* restrict")


def short_names(table: dict[str, list[dict]]) -> dict[str, str]:
    """Device symbol -> `aotsnn_k<n>`. TVM names a fused kernel after every op in it (over 500
    characters in the demo network); PoCL keeps each kernel in a cache directory of that name,
    and file names longer than 255 bytes make its final link fail."""
    symbols = dict.fromkeys(launch["symbol"] for launches in table.values() for launch in launches)
    return {symbol: f"aotsnn_k{n}" for n, symbol in enumerate(symbols)}


def kernel_source(kernels: GpuKernels) -> str:
    """The OpenCL C program of `kernels`: float32 constants exact, no FMA contraction (OpenCL C
    contracts by default), boolean buffers as `uchar` (one byte, as the host lays them out),
    kernels under their `short_names` (TVM's names in a comment above each)."""
    check_float64_constants(kernels.scheduled)
    body = exact_float_constants(kernels.source, float_constants(kernels.scheduled))
    body = _BOOL_PARAM.sub("__global uchar* restrict", body)
    names = short_names(kernels.table)
    if names:
        body = re.sub(r"\b(" + "|".join(map(re.escape, names)) + r")\b", lambda m: names[m[1]], body)
    legend = "".join(f"/* {short}: {symbol} */\n" for symbol, short in names.items())
    return "/* TVM's OpenCL C kernels (aotsnn). */\n#pragma OPENCL FP_CONTRACT OFF\n" + legend + body


def _c_string(text: str) -> str:
    """`text` as a C string literal, one source line per line of text."""
    lines = []
    for line in text.splitlines(keepends=True):
        escaped = line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
        lines.append(f'  "{escaped}"')
    return "\n".join(lines) or '  ""'


# -- the driver ---------------------------------------------------------------------------------

class OpenCLDriver:
    """The plain-C host driver of a plan: ICD loader, device, program, buffers, the T-step loop."""

    def __init__(self, plan: Plan, layout: Layout, table: dict[str, list[dict]]) -> None:
        self.plan, self.layout, self.table = plan, layout, table
        self.walk = DeviceLoop(plan, layout)
        self.loop = self.walk.loop
        self.launches = [(call, launch) for call in plan.calls for launch in table[call.kernel]]
        self.launch_index = {}
        n = 0
        for c, call in enumerate(plan.calls):
            self.launch_index[c] = list(range(n, n + len(table[call.kernel])))
            n += len(table[call.kernel])

    def _buffer(self, ref: Ref) -> str:
        return {"param": "d_param", "state": "d_state", "const": "d_const", "temp": "d_temp",
                "input": "d_in_step"}[ref.kind] + f"[{ref.index}]"

    def _place(self, place: Ref | Output | Stage) -> tuple[str, str]:
        """(cl_mem, byte offset) of a place of the step walk."""
        if isinstance(place, Output):
            return f"d_out[{place.index}]", f"(size_t)t * {self.walk.nbytes('outputs', place.index)}"
        if isinstance(place, Stage):
            return f"d_stage[{place.index}]", "0"
        return self._buffer(place), "0"

    def _enqueue(self, c: int, indent: str) -> list[str]:
        out = []
        short = short_names(self.table)
        for n in self.launch_index[c]:
            symbol = short[self.launches[n][1]["symbol"]]
            out.append(f"{indent}CK(p_clEnqueueNDRangeKernel(queue, kernel[{n}], 3, NULL, global_size[{n}], "
                       f"local_size[{n}], 0, NULL, NULL), \"launch {symbol}\");")
        return out

    def source(self, program: str) -> str:
        plan, layout, walk = self.plan, self.layout, self.walk
        P, S, I, O = (len(getattr(layout, g)) for g in GROUPS)
        C, K, L = len(plan.consts), len(plan.temps), len(self.launches)
        staged = sorted(self.loop.staged)
        src = ["/* Generated by aotsnn: TVM's OpenCL kernels and the time loop that launches them. Do not edit. */",
               "#define CL_TARGET_OPENCL_VERSION 120", "#define CL_USE_DEPRECATED_OPENCL_1_2_APIS",
               "#include <CL/cl.h>", "#include <dlfcn.h>", "#include <stdint.h>", "#include <stdio.h>",
               "#include <stdlib.h>", "#include <string.h>", "#include <tvm/ffi/c_api.h>", "",
               f"#define WORKSPACE_BYTES {self.loop.workspace_bytes}LL", "#define ALIGN 64",
               "#define DATA(t) ((char *)(t)->data + (t)->byte_offset)", "",
               "static const char program_source[] =", _c_string(program) + ";",
               f'static const char build_options[] = "{BUILD_OPTIONS}";', ""]
        src += [_c_array(f"const_bytes_{i}", value.tobytes(), "unsigned char") for i, value in enumerate(plan.consts)]
        src += [_c_array(f"{TABLE_PREFIX[group]}_shape_{i}", leaf.shape)
                for group in GROUPS for i, leaf in enumerate(getattr(layout, group))]
        short = short_names(self.table)
        names = ", ".join(f'"{short[launch["symbol"]]}"' for _, launch in self.launches) or "0"
        src += [checked_leaves_source(layout),
                f"static const char *kernel_names[{max(L, 1)}] = {{{names}}};",
                f"static const size_t global_size[{max(L, 1)}][3] = {{"
                + ", ".join("{%d, %d, %d}" % tuple(g * b for g, b in zip(l["grid"], l["block"])) for _, l in self.launches)
                + "};" if L else "static const size_t global_size[1][3] = {{1, 1, 1}};",
                f"static const size_t local_size[{max(L, 1)}][3] = {{"
                + ", ".join("{%d, %d, %d}" % tuple(l["block"]) for _, l in self.launches) + "};" if L else
                "static const size_t local_size[1][3] = {{1, 1, 1}};",
                "",
                "/* The OpenCL entry points, from the ICD loader opened at run time (no link-time dependency). */",
                *[f"static __typeof__(&{f}) p_{f};" for f in CL_FUNCTIONS],
                "",
                "/* This loaded library's device, program, kernels and buffers (every Session loads a private copy). */",
                "static void *icd;",
                "static cl_context context;", "static cl_command_queue queue;", "static cl_program program;",
                "static cl_device_id device;", "static char device_name[256];",
                f"static cl_kernel kernel[{max(L, 1)}];",
                f"static cl_mem d_param[{max(P, 1)}], d_state[{max(S, 1)}], d_const[{max(C, 1)}], d_temp[{max(K, 1)}], "
                f"d_in_step[{max(I, 1)}], d_stage[{max(S, 1)}];",
                f"static unsigned char *shadow[{max(S, 1)}];     /* the state the device holds, as last returned */",
                "static int ready, resident;", "static char setup_error[8192];", "", _ERRORS]
        src += [_SETUP_HEAD % {"loader": ICD_LOADER, "env": "AOTSNN_OPENCL_DEVICE"}]
        src += [f'  if (!(p_{f} = (__typeof__(&{f}))dlsym(icd, "{f}"))) return setup_fail("the OpenCL ICD loader lacks {f}");'
                for f in CL_FUNCTIONS]
        src += [_SETUP_DEVICE]
        def buffer(name: str, nbytes: int, what: str) -> str:
            return (f"  {name} = p_clCreateBuffer(context, CL_MEM_READ_WRITE, {max(nbytes, 1)}, NULL, &e); "
                    f"if (e != CL_SUCCESS) return setup_cl(e, \"clCreateBuffer {what}\");")
        for i, leaf in enumerate(layout.params):
            src.append(buffer(f"d_param[{i}]", walk.nbytes("params", i), leaf.name))
        for i, leaf in enumerate(layout.state):
            src.append(buffer(f"d_state[{i}]", walk.nbytes("state", i), leaf.name))
            src.append(f"  if (!(shadow[{i}] = (unsigned char *)malloc({max(walk.nbytes('state', i), 1)}))) "
                       f"return setup_fail(\"out of host memory\");")
        for i, leaf in enumerate(layout.inputs):
            src.append(buffer(f"d_in_step[{i}]", walk.nbytes("inputs", i), f"step of {leaf.name}"))
        for i, temp in enumerate(plan.temps):
            src.append(buffer(f"d_temp[{i}]", temp.nbytes, f"temp {i}"))
        for i in staged:
            src.append(buffer(f"d_stage[{i}]", walk.nbytes("state", i), f"stage of {layout.state[i].name}"))
        for i, value in enumerate(plan.consts):
            src += [buffer(f"d_const[{i}]", value.nbytes, f"constant {i}"),
                    f"  e = p_clEnqueueWriteBuffer(queue, d_const[{i}], CL_TRUE, 0, {value.nbytes}, const_bytes_{i}, 0, "
                    f"NULL, NULL); if (e != CL_SUCCESS) return setup_cl(e, \"upload constant {i}\");"]
        for n, (call, launch) in enumerate(self.launches):
            symbol = short_names(self.table)[launch["symbol"]]
            src += [f"  kernel[{n}] = p_clCreateKernel(program, \"{symbol}\", &e); "
                    f"if (e != CL_SUCCESS) return setup_cl(e, \"clCreateKernel {symbol}\");"]
            for j, a in enumerate(launch["args"]):
                src.append(f"  e = p_clSetKernelArg(kernel[{n}], {j}, sizeof(cl_mem), &{self._buffer(call.args[a])}); "
                           f"if (e != CL_SUCCESS) return setup_cl(e, \"clSetKernelArg {symbol}\");")
        src += [f"  for (int n = 0; n < {L}; ++n) if (check_work_group(n) != 0) return -1;",
                "  ready = 1;", "  return 0;", "}", ""]
        src += ["__attribute__((destructor)) static void release(void) {",
                "  if (!icd || !context) return;",
                "  if (queue) p_clFinish(queue);",
                f"  for (int n = 0; n < {max(L, 1)}; ++n) if (kernel[n]) p_clReleaseKernel(kernel[n]);"]
        for name, count in (("d_param", P), ("d_state", S), ("d_const", C), ("d_temp", K), ("d_in_step", I),
                            ("d_stage", S)):
            src.append(f"  for (int i = 0; i < {count}; ++i) if ({name}[i]) p_clReleaseMemObject({name}[i]);")
        src += [f"  for (int i = 0; i < {S}; ++i) free(shadow[i]);",
                "  if (program) p_clReleaseProgram(program);",
                "  if (queue) p_clReleaseCommandQueue(queue);",
                "  p_clReleaseContext(context);",
                "}", ""]
        src += ["static int run(int64_t T, int refresh, DLTensor **P, DLTensor **S, DLTensor **IN, DLTensor **OUT, "
                "cl_mem *d_in, cl_mem *d_out) {",
                "  cl_int e;",
                "  if (refresh) {"]
        for i, leaf in enumerate(layout.params):
            src.append(f"    CK(p_clEnqueueWriteBuffer(queue, d_param[{i}], CL_FALSE, 0, {walk.nbytes('params', i)}, "
                       f"DATA(P[{i}]), 0, NULL, NULL), \"upload {leaf.name}\");")
        for call in walk.refresh():
            src += self._enqueue(plan.calls.index(call), "    ")
        src.append("  }")
        for i, leaf in enumerate(layout.state):
            nb = walk.nbytes("state", i)
            src.append(f"  if (!resident || memcmp(shadow[{i}], DATA(S[{i}]), {nb}) != 0) "
                       f"CK(p_clEnqueueWriteBuffer(queue, d_state[{i}], CL_FALSE, 0, {nb}, DATA(S[{i}]), 0, NULL, NULL), "
                       f"\"upload {leaf.name}\");")
        src.append("  resident = 0;          /* until the new state is back */")
        for group, name, pointer in (("inputs", "IN", "d_in"), ("outputs", "OUT", "d_out")):
            for i, leaf in enumerate(getattr(layout, group)):
                nb = walk.nbytes(group, i)
                src.append(f"  {pointer}[{i}] = p_clCreateBuffer(context, CL_MEM_READ_WRITE, (size_t)T * {max(nb, 1)}, "
                           f"NULL, &e); CK(e, \"clCreateBuffer {leaf.name}\");")
                if group == "inputs" and nb:
                    src.append(f"  CK(p_clEnqueueWriteBuffer(queue, d_in[{i}], CL_FALSE, 0, (size_t)T * {nb}, "
                               f"DATA(IN[{i}]), 0, NULL, NULL), \"upload {leaf.name}\");")
        src.append("  for (int64_t t = 0; t < T; ++t) {")
        for i, leaf in enumerate(layout.inputs):
            nb = walk.nbytes("inputs", i)
            if nb:
                src.append(f"    CK(p_clEnqueueCopyBuffer(queue, d_in[{i}], d_in_step[{i}], (size_t)t * {nb}, 0, {nb}, "
                           f"0, NULL, NULL), \"step of {leaf.name}\");")
        for action in walk.step():
            if isinstance(action, KernelCall):
                src += self._enqueue(plan.calls.index(action), "    ")
            elif action.nbytes:
                (dst, dst_at), (origin, origin_at) = self._place(action.dst), self._place(action.src)
                src.append(f"    CK(p_clEnqueueCopyBuffer(queue, {origin}, {dst}, {origin_at}, {dst_at}, {action.nbytes}, "
                           f"0, NULL, NULL), \"{action.what}\");")
        src.append("  }")
        for i, leaf in enumerate(layout.state):
            src.append(f"  CK(p_clEnqueueReadBuffer(queue, d_state[{i}], CL_FALSE, 0, {walk.nbytes('state', i)}, "
                       f"DATA(S[{i}]), 0, NULL, NULL), \"download {leaf.name}\");")
        for o, leaf in enumerate(layout.outputs):
            nb = walk.nbytes("outputs", o)
            if nb:
                src.append(f"  CK(p_clEnqueueReadBuffer(queue, d_out[{o}], CL_FALSE, 0, (size_t)T * {nb}, DATA(OUT[{o}]), "
                           f"0, NULL, NULL), \"download {leaf.name}\");")
        src.append("  CK(p_clFinish(queue), \"clFinish\");")
        for i in range(S):
            src.append(f"  memcpy(shadow[{i}], DATA(S[{i}]), {walk.nbytes('state', i)});")
        src += ["  resident = 1;", "  return 0;", "}", "",
                "int32_t __tvm_ffi_aotsnn_run(void *self, const TVMFFIAny *args, int32_t num_args, TVMFFIAny *result) {",
                *entry_arguments(layout),
                "  (void)ws;      /* host scratch is not needed: the workspace lives on the device */",
                "  if (setup() != 0) return -1;",
                "  if (T == 0) return 0;",
                f"  cl_mem d_in[{max(I, 1)}] = {{0}}, d_out[{max(O, 1)}] = {{0}};",
                "  int rc = run(T, refresh, P, S, IN, OUT, d_in, d_out);",
                "  if (rc != 0) p_clFinish(queue);      /* nothing in flight reads the buffers released below */",
                f"  for (int i = 0; i < {I}; ++i) if (d_in[i]) p_clReleaseMemObject(d_in[i]);",
                f"  for (int i = 0; i < {O}; ++i) if (d_out[i]) p_clReleaseMemObject(d_out[i]);",
                "  return rc;", "}", "",
                "/* aotsnn_opencl_device(): the device this library runs on (set up on first use). */",
                "int32_t __tvm_ffi_aotsnn_opencl_device(void *self, const TVMFFIAny *args, int32_t num_args, "
                "TVMFFIAny *result) {",
                "  (void)self; (void)args; (void)num_args;",
                "  if (setup() != 0) return -1;",
                "  TVMFFIByteArray bytes = {device_name, strlen(device_name)};",
                "  return TVMFFIStringFromByteArray(&bytes, result);",
                "}"]
        return "\n".join(src) + "\n"


_ERRORS = r"""static const char *cl_error_name(cl_int e) {
  switch (e) {
    case -1: return "CL_DEVICE_NOT_FOUND"; case -2: return "CL_DEVICE_NOT_AVAILABLE";
    case -3: return "CL_COMPILER_NOT_AVAILABLE"; case -4: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case -5: return "CL_OUT_OF_RESOURCES"; case -6: return "CL_OUT_OF_HOST_MEMORY";
    case -11: return "CL_BUILD_PROGRAM_FAILURE"; case -30: return "CL_INVALID_VALUE";
    case -33: return "CL_INVALID_DEVICE"; case -36: return "CL_INVALID_COMMAND_QUEUE";
    case -38: return "CL_INVALID_MEM_OBJECT"; case -43: return "CL_INVALID_BUILD_OPTIONS";
    case -46: return "CL_INVALID_KERNEL_NAME"; case -48: return "CL_INVALID_KERNEL";
    case -52: return "CL_INVALID_KERNEL_ARGS"; case -54: return "CL_INVALID_WORK_GROUP_SIZE";
    case -61: return "CL_INVALID_BUFFER_SIZE"; case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "an OpenCL error";
  }
}

static int cl_fail(cl_int e, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "OpenCL error %d (%s) in %s on '%s'", (int)e, cl_error_name(e), what, device_name);
  TVMFFIErrorSetRaisedFromCStr("RuntimeError", msg);
  return -1;
}
#define CK(x, what) do { cl_int e_ = (x); if (e_ != CL_SUCCESS) return cl_fail(e_, what); } while (0)

/* Set up failed once: every later call reports the same reason. */
static int setup_fail(const char *why) {
  if (why != setup_error) snprintf(setup_error, sizeof setup_error, "%s", why);
  TVMFFIErrorSetRaisedFromCStr("RuntimeError", setup_error);
  return -1;
}
static int setup_cl(cl_int e, const char *what) {
  snprintf(setup_error, sizeof setup_error, "OpenCL error %d (%s) in %s on '%s'", (int)e, cl_error_name(e), what,
           device_name);
  return setup_fail(setup_error);
}
"""

_SETUP_HEAD = r"""/* The device named by AOTSNN_OPENCL_DEVICE ("P:D"), else the first GPU, else the first device. */
static int choose_device(void) {
  cl_platform_id platforms[16]; cl_uint np = 0;
  if (p_clGetPlatformIDs(16, platforms, &np) != CL_SUCCESS || np == 0)
    return setup_fail("no OpenCL platform (the ICD loader found no driver: install one, e.g. pocl-opencl-icd)");
  if (np > 16) np = 16;
  const char *wanted = getenv("%(env)s");
  if (wanted != NULL && *wanted != '\0') {
    unsigned p = 0, d = 0; char tail = 0;
    if (sscanf(wanted, "%%u:%%u%%c", &p, &d, &tail) != 2) {
      snprintf(setup_error, sizeof setup_error, "%(env)s='%%s' is not 'P:D' (platform and device index from 0, as "
               "`aotsnn targets` lists them); unset it to take the first GPU, else the first device", wanted);
      return setup_fail(setup_error);
    }
    cl_device_id devices[64]; cl_uint nd = 0;
    if (p >= np || p_clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 64, devices, &nd) != CL_SUCCESS || d >= nd) {
      snprintf(setup_error, sizeof setup_error, "%(env)s=%%s names no device (see `aotsnn targets`)", wanted);
      return setup_fail(setup_error);
    }
    device = devices[d];
    return 0;
  }
  for (cl_uint p = 0; p < np; ++p) {
    cl_uint nd = 0;
    if (p_clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_GPU, 1, &device, &nd) == CL_SUCCESS && nd > 0) return 0;
  }
  for (cl_uint p = 0; p < np; ++p) {
    cl_uint nd = 0;
    if (p_clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 1, &device, &nd) == CL_SUCCESS && nd > 0) return 0;
  }
  return setup_fail("the OpenCL platforms have no devices");
}

static int check_work_group(int n) {
  size_t most = 0;
  cl_int e = p_clGetKernelWorkGroupInfo(kernel[n], device, CL_KERNEL_WORK_GROUP_SIZE, sizeof most, &most, NULL);
  if (e != CL_SUCCESS) return setup_cl(e, "clGetKernelWorkGroupInfo");
  size_t want = local_size[n][0] * local_size[n][1] * local_size[n][2];
  if (want > most) {
    snprintf(setup_error, sizeof setup_error, "kernel %%s needs work-groups of %%zu work-items; '%%s' allows %%zu for it",
             kernel_names[n], want, device_name, most);
    return setup_fail(setup_error);
  }
  return 0;
}

/* Once per loaded library: ICD loader, device, context, queue, program, buffers, kernels. */
static int setup(void) {
  cl_int e;
  if (ready) return 0;
  if (setup_error[0]) return setup_fail(setup_error);
  icd = dlopen("%(loader)s", RTLD_NOW | RTLD_LOCAL);
  if (!icd) return setup_fail("no OpenCL ICD loader (%(loader)s not found: apt-get install ocl-icd-libopencl1 and a "
                              "driver, e.g. pocl-opencl-icd)");
"""

_SETUP_DEVICE = r"""  if (choose_device() != 0) return -1;
  p_clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof device_name - 1, device_name, NULL);
  context = p_clCreateContext(NULL, 1, &device, NULL, NULL, &e);
  if (e != CL_SUCCESS) return setup_cl(e, "clCreateContext");
  queue = p_clCreateCommandQueue(context, device, 0, &e);
  if (e != CL_SUCCESS) return setup_cl(e, "clCreateCommandQueue");
  const char *sources[1] = {program_source};
  size_t lengths[1] = {sizeof program_source - 1};
  program = p_clCreateProgramWithSource(context, 1, sources, lengths, &e);
  if (e != CL_SUCCESS) return setup_cl(e, "clCreateProgramWithSource");
  e = p_clBuildProgram(program, 1, &device, build_options, NULL, NULL);
  if (e != CL_SUCCESS) {
    char log[6144] = "";
    size_t n = 0;
    p_clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, sizeof log - 1, log, &n);
    log[sizeof log - 1] = '\0';
    snprintf(setup_error, sizeof setup_error, "'%s' refused the kernels: clBuildProgram with options '%s' failed "
             "with %d (%s); build log:\n%s", device_name, build_options, (int)e, cl_error_name(e), log);
    return setup_fail(setup_error);
  }
"""


def cl_include_dir(workdir: Path) -> Path:
    """A directory holding `CL/` (the Khronos headers, copied: the cross compilers have no sysroot
    path to /usr/include); ExportError naming the package when they are missing."""
    if not (CL_HEADERS / "cl.h").is_file():
        raise ExportError(f"the OpenCL headers are missing ({CL_HEADERS}/cl.h): apt-get install ocl-icd-opencl-dev "
                          "(or opencl-c-headers)")
    include = workdir / "cl-include"
    shutil.copytree(CL_HEADERS, include / "CL", dirs_exist_ok=True)
    return include


def build_opencl_library(plan: Plan, funcs: tvm.IRModule, layout: Layout, tvm_target: dict, cc: str,
                         cflags: tuple[str, ...], workdir: Path, extra_sources: list[Path] = ()) -> tuple[Path, int]:
    """Schedule (the shared GPU schedules), generate and compile `workdir/model.so` with `cc` (its
    source kept as driver.c, plus `extra_sources`); returns (library, workspace bytes of the
    host-side argument)."""
    target = tvm.target.Target(tvm_target, host="llvm")
    kernels = gpu_kernels(funcs, target)
    driver = OpenCLDriver(plan, layout, kernels.table)
    (workdir / "driver.c").write_text(driver.source(kernel_source(kernels)))
    include = cl_include_dir(workdir)
    library = workdir / "model.so"
    command = [cc, *cflags, "-shared", "-fPIC", f"-I{include}",
               f"-I{tvm_ffi.libinfo.find_include_path()}", f"-I{tvm_ffi.libinfo.find_dlpack_include_path()}",
               str(workdir / "driver.c"), *map(str, extra_sources), "-o", str(library), "-ldl"]
    result = subprocess.run(command, capture_output=True, text=True)
    shutil.rmtree(include, ignore_errors=True)
    if result.returncode != 0:
        raise ExportError(f"{cc} failed on {workdir / 'driver.c'}:\n{result.stderr[-4000:]}")
    return library, driver.loop.workspace_bytes
