"""Generate the C drivers: the time loop around the fused kernels, for two entry points.

Both entry points walk the same Plan with the same workspace layout (`TimeLoop`); they differ
only in where the leaves come from and how errors are reported.

1. `driver_source` (host artifacts): one C function with TVM's FFI calling convention, so
   `tvm_ffi.load_module` finds it as `aotsnn_run` next to the kernels (`__tvm_ffi_<kernel>`),
   and `aotsnn_threads(n)`, the thread count of the kernels' parallel loops (csrc/thread_pool.c):

       aotsnn_run(T, refresh, *params, *state, *inputs, *outputs, workspace)

   - refresh: 1 when the parameters changed since the last call on this workspace (or it is
     the first): the parameter-only kernels run again; 0 reuses their results in the workspace;

   - params: read only; state: read and updated in place (after T steps it holds the new state);
   - inputs[i]: (T, *step_shape), outputs[o]: (T, *step_shape), all C-contiguous;
   - workspace: a uint8 buffer of at least WORKSPACE_BYTES, 64-byte aligned, owned by the caller
     (so two sessions never share scratch memory).
   Every tensor is checked for dtype, shape and 64-byte alignment first.

2. `c_api_source` (C bundles, aotsnn.export.artifact.bundle): `<model>_run(state*, T, inputs*, outputs*)`
   on the plain structs of `<model>.h` (aotsnn.export.codegen.capi); the leaves are struct members, so
   their shapes and dtypes are fixed by the types and need no checks.

Per step: point at step t of every input (copied into an aligned slot first when it is not
64-byte aligned: the kernels assume aligned buffers), call the kernels in plan order,
copy the outputs into outputs[t], then write the new state: a leaf that a kernel computes into
a temp of its own trades buffers with that temp (no copy; plan.swapped), the others are copied
(through a staging slot when a new-state leaf is another leaf's old value). Kernels that read
only parameters run before the loop: on every call of the C API, and on the host when the
caller says parameters changed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

import numpy as np

from aotsnn.export.codegen.capi import CApi
from aotsnn.export.codegen.param_storage import packed_gathers
from aotsnn.export.frontend.lower import Layout
from aotsnn.export.kernels.plan import ALIGN, KernelCall, Plan, Ref, dtype_numpy

DLPACK_DTYPES = {"float32": (2, 32), "float64": (2, 64), "float16": (2, 16), "bfloat16": (4, 16),
                 "bool": (6, 8), "int32": (0, 32), "int64": (0, 64), "int8": (0, 8), "uint8": (1, 8),
                 "int16": (0, 16), "uint16": (1, 16), "uint32": (1, 32), "uint64": (1, 64)}
C_SCALARS = {"float32": "float", "float64": "double", "int32": "int32_t", "int64": "int64_t",
             "int8": "int8_t", "uint8": "uint8_t", "bool": "uint8_t", "float16": "uint16_t", "bfloat16": "uint16_t",
             "int16": "int16_t", "uint16": "uint16_t", "uint32": "uint32_t", "uint64": "uint64_t"}
GROUPS = ("params", "state", "inputs", "outputs")
TABLE_PREFIX = {"params": "param", "state": "state", "inputs": "input", "outputs": "output"}


def _nbytes(shape, dtype: str) -> int:
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype_numpy(dtype)).itemsize


def _aligned(nbytes: int) -> int:
    return (nbytes + ALIGN - 1) // ALIGN * ALIGN


def _c_array(name: str, values, ctype: str = "int64_t") -> str:
    body = ", ".join(str(int(v)) for v in values) or "0"
    return f"static const {ctype} {name}[] = {{{body}}};"


def _const_literal(value: np.ndarray, dtype: str) -> str:
    flat = value.reshape(-1)
    if dtype in ("float16", "bfloat16"):
        flat = flat.astype(dtype_numpy(dtype)).view(np.uint16)
        return ", ".join(str(int(x)) for x in flat)
    if dtype.startswith("float"):
        return ", ".join(repr(float(x)) for x in flat)
    return ", ".join(str(int(x)) for x in flat)


def _tensor_init(target: str, data: str, shape: str, ndim: int, dtype: str) -> str:
    code, bits = DLPACK_DTYPES[dtype]
    return (f"  {target}.data = (void *)({data}); {target}.device.device_type = kDLCPU; {target}.device.device_id = 0;"
            f" {target}.ndim = {ndim}; {target}.dtype.code = {code}; {target}.dtype.bits = {bits}; {target}.dtype.lanes = 1;"
            f" {target}.shape = (int64_t *){shape}; {target}.strides = NULL; {target}.byte_offset = 0;")


@dataclass(frozen=True)
class LeafAccess:
    """C expressions through which an entry point hands its leaves to the loop (`t`: the step)."""

    tensor: Callable[[Ref], str]        # DLTensor * of a param or state leaf
    state_data: Callable[[int], str]    # char * to the data of state leaf i
    input_step: Callable[[int], str]    # const char * to step t of input i
    output_step: Callable[[int], str]   # char * to step t of output o


class TimeLoop:
    """The plan as C: workspace layout, constant and shape tables, kernel calls and the loop.

    `kernel_symbol(name)` is the C symbol of a fused kernel; `kernel_signature` its parameter
    list (TVM's FFI calling convention either way: self, args, num_args, result).
    """

    def __init__(self, plan: Plan, layout: Layout, kernel_symbol: Callable[[str], str],
                 kernel_signature: str) -> None:
        self.plan, self.layout = plan, layout
        self.kernel_symbol, self.kernel_signature = kernel_symbol, kernel_signature
        # aligned slots after the plan's temps: one per input step, one per staged state leaf
        offset = _aligned(plan.workspace_bytes)
        self.input_slots = []
        for leaf in layout.inputs:
            self.input_slots.append(offset)
            offset += _aligned(_nbytes(leaf.shape, leaf.dtype))
        self.staged = {i: ref for i, ref in enumerate(plan.results[:len(layout.state)])
                       if ref.kind == "state" and ref.index != i}
        self.stage_slots = {}
        for i in self.staged:
            self.stage_slots[i] = offset
            offset += _aligned(_nbytes(layout.state[i].shape, layout.state[i].dtype))
        self.workspace_bytes = offset

    def declarations(self, groups: tuple[str, ...] = GROUPS) -> list[str]:
        """Kernel prototypes, constant data and the shape tables of temps, constants and the leaves
        of `groups` (static, read only; the loop needs those of params, state and inputs)."""
        out = ["#define DATA(t) ((char *)(t)->data + (t)->byte_offset)",
               "/* Kernels compiled for wide vectors load constants with aligned instructions. */",
               "#if defined(__GNUC__) || defined(__clang__)",
               f"#define AOTSNN_ALIGNED __attribute__((aligned({ALIGN})))",
               "#else", "#define AOTSNN_ALIGNED", "#endif", ""]
        out += [f"int32_t {self.kernel_symbol(k)}({self.kernel_signature});"
                for k in sorted({c.kernel for c in self.plan.calls})]
        out.append("")
        for i, value in enumerate(self.plan.consts):
            dtype = str(value.dtype)
            out.append(f"static const {C_SCALARS[dtype]} const_data_{i}[] AOTSNN_ALIGNED = "
                       f"{{{_const_literal(value, dtype)}}};")
            out.append(_c_array(f"const_shape_{i}", value.shape))
        for i, temp in enumerate(self.plan.temps):
            out.append(_c_array(f"temp_shape_{i}", temp.shape))
        for group in groups:
            for i, leaf in enumerate(getattr(self.layout, group)):
                out.append(_c_array(f"{TABLE_PREFIX[group]}_shape_{i}", leaf.shape))
        return out

    def body(self, access: LeafAccess, workspace: str, refresh: str = "1",
             substitutes: dict[int, Callable[[Callable[[Ref], str]], list[str]]] | None = None,
             refreshed: str = "") -> list[str]:
        """Statements of the entry point after its leaves are in hand: the T-step loop.

        `workspace` is a `char *` expression of WORKSPACE_BYTES of scratch; `T` must be in scope.
        The parameter-only kernels run first when the C condition `refresh` holds (their results
        stay in the workspace for later calls otherwise). A failing kernel's status is returned.
        `substitutes` replaces parameter-only calls by the driver's own C: call index -> a function
        of the buffer expressions (`tensor(ref)`: a DLTensor *) that returns the statements;
        `refreshed` is a statement that ends the parameter-only block once those kernels ran.
        """
        substitutes = substitutes or {}
        plan, layout = self.plan, self.layout
        live = {i: k for k, i in enumerate(plan.swapped)}      # swapped state leaf -> its slot in live[]

        def tensor(ref: Ref) -> str:
            if ref.kind == "state" and ref.index in live:
                return f"&live[{live[ref.index]}]"
            return {"input": f"&in_step[{ref.index}]", "temp": f"&tmp[{ref.index}]",
                    "const": f"&cst[{ref.index}]"}.get(ref.kind) or access.tensor(ref)

        data = lambda ref: f"DATA({tensor(ref)})"
        state_data = lambda i: f"(char *)live[{live[i]}].data" if i in live else access.state_data(i)
        L = [f"  DLTensor tmp[{max(len(plan.temps), 1)}], cst[{max(len(plan.consts), 1)}], "
             f"in_step[{max(len(layout.inputs), 1)}], live[{max(len(live), 1)}];",
             f"  char *wsp = {workspace};"]
        for i, k in live.items():      # the state leaves whose buffer trades places with a temp each step
            L.append(f"  live[{k}] = *{access.tensor(Ref('state', i))}; live[{k}].data = {access.state_data(i)}; "
                     f"live[{k}].byte_offset = 0;")
        for i, temp in enumerate(plan.temps):
            L.append(_tensor_init(f"tmp[{i}]", f"wsp + {temp.offset}", f"temp_shape_{i}", len(temp.shape), temp.dtype))
        for i, value in enumerate(plan.consts):
            L.append(_tensor_init(f"cst[{i}]", f"const_data_{i}", f"const_shape_{i}", value.ndim, str(value.dtype)))
        for i, leaf in enumerate(layout.inputs):
            L.append(_tensor_init(f"in_step[{i}]", f"wsp + {self.input_slots[i]}", f"input_shape_{i}",
                                  len(leaf.shape), leaf.dtype))
        for n, call in enumerate(plan.calls):
            if n in substitutes:
                continue
            items = ", ".join(f"{{.type_index = kTVMFFIDLTensorPtr, .v_ptr = {tensor(r)}}}" for r in call.args)
            L.append(f"  TVMFFIAny call{n}[{len(call.args)}] = {{{items}}};")
        L.append("  TVMFFIAny ret; int32_t rc;")
        L.append(f"  if ({refresh}) {{")
        for n, call in enumerate(plan.calls):
            if n in substitutes:
                L += ["    " + line for line in substitutes[n](tensor)]
            elif call.invariant:
                L += self._call(n, call, "    ")
        if refreshed:
            L.append(f"    {refreshed}")
        L.append("  }")
        L.append("  for (int64_t t = 0; t < T; ++t) {")
        for i, leaf in enumerate(layout.inputs):     # read in place when aligned, else from an aligned copy
            L += [f"    {{ const char *step_in = {access.input_step(i)};",
                  f"      if (((uintptr_t)step_in & {ALIGN - 1}) == 0) in_step[{i}].data = (void *)step_in;",
                  f"      else {{ in_step[{i}].data = wsp + {self.input_slots[i]}; "
                  f"memcpy(in_step[{i}].data, step_in, {_nbytes(leaf.shape, leaf.dtype)}); }} }}"]
        for n, call in enumerate(plan.calls):
            if not call.invariant:
                L += self._call(n, call, "    ")
        results, S = plan.results, len(layout.state)
        for o, leaf in enumerate(layout.outputs):
            L.append(f"    memcpy({access.output_step(o)}, {data(results[S + o])}, {_nbytes(leaf.shape, leaf.dtype)});")
        for i, ref in self.staged.items():
            nb = _nbytes(layout.state[i].shape, layout.state[i].dtype)
            L.append(f"    memcpy(wsp + {self.stage_slots[i]}, {state_data(ref.index)}, {nb});")
        for i, leaf in enumerate(layout.state):
            ref = results[i]
            if (ref.kind == "state" and ref.index == i) or i in live:
                continue
            src = f"wsp + {self.stage_slots[i]}" if i in self.staged else data(ref)
            L.append(f"    memcpy({state_data(i)}, {src}, {_nbytes(leaf.shape, leaf.dtype)});")
        for i, k in live.items():      # the new value becomes the state; the old buffer, next step's scratch
            j = plan.swapped[i]
            L.append(f"    {{ void *old = live[{k}].data; live[{k}].data = tmp[{j}].data; tmp[{j}].data = old; }}")
        L.append("  }")
        for i, k in live.items():      # after an odd number of steps the state is in the workspace
            nb = _nbytes(layout.state[i].shape, layout.state[i].dtype)
            L.append(f"  if (live[{k}].data != (void *)({access.state_data(i)})) "
                     f"memcpy({access.state_data(i)}, live[{k}].data, {nb});")
        return L

    def _call(self, n: int, call: KernelCall, indent: str) -> list[str]:
        return [f"{indent}ret.type_index = kTVMFFINone;",
                f"{indent}rc = {self.kernel_symbol(call.kernel)}(NULL, call{n}, {len(call.args)}, &ret);",
                f"{indent}if (rc != 0) return rc;"]


# -- 1. the host entry point: TVM FFI calling convention ----------------------------------------

_CHECKED = r"""static const char* leaf_names[] = {%s};

static void *raise_error(const char *kind, const char *message) {
  TVMFFIErrorSetRaisedFromCStr(kind, message);
  return NULL;
}

/* The DLTensor of argument `a`, checked against a dtype, an optional time axis of
   length T (T >= 0) and the per-step shape; NULL (with the error raised) otherwise. Leaves
   the kernels read in place (not timed: parameters, state, workspace) must be 64-byte aligned;
   inputs and outputs are copied step by step and may have any alignment. */
static DLTensor *checked(const TVMFFIAny *a, const char *name, uint8_t code, uint8_t bits,
                         int64_t T, const int64_t *shape, int ndim) {
  char msg[256];
  DLTensor *t = NULL;
  if (a->type_index == kTVMFFIDLTensorPtr) t = (DLTensor *)a->v_ptr;
  else if (a->type_index == kTVMFFITensor) t = (DLTensor *)((char *)a->v_obj + sizeof(TVMFFIObject));
  if (t == NULL) { snprintf(msg, sizeof msg, "'%%s' is not a tensor", name); return (DLTensor *)raise_error("TypeError", msg); }
  int lead = T >= 0 ? 1 : 0;
  if (t->dtype.code != code || t->dtype.bits != bits || t->dtype.lanes != 1) {
    snprintf(msg, sizeof msg, "'%%s' has the wrong dtype", name); return (DLTensor *)raise_error("TypeError", msg); }
  if (t->ndim != ndim + lead || (lead && t->shape[0] != T)) {
    snprintf(msg, sizeof msg, "'%%s' has the wrong rank or number of steps", name); return (DLTensor *)raise_error("ValueError", msg); }
  for (int d = 0; d < ndim; ++d) if (t->shape[d + lead] != shape[d]) {
    snprintf(msg, sizeof msg, "'%%s' has the wrong shape at axis %%d", name, d + lead); return (DLTensor *)raise_error("ValueError", msg); }
  int64_t elements = 1; for (int d = 0; d < t->ndim; ++d) elements *= t->shape[d];
  /* An empty tensor (T = 0) is contiguous whatever its strides (numpy gives it zero strides). */
  if (t->strides != NULL && elements > 0) { int64_t expect = 1; for (int d = t->ndim - 1; d >= 0; --d) {
      if (t->shape[d] != 1 && t->strides[d] != expect) { snprintf(msg, sizeof msg, "'%%s' is not contiguous", name); return (DLTensor *)raise_error("ValueError", msg); }
      expect *= t->shape[d]; } }
  if (!lead && ((uintptr_t)((char *)t->data + t->byte_offset)) %% ALIGN != 0) {
    snprintf(msg, sizeof msg, "'%%s' is not 64-byte aligned", name); return (DLTensor *)raise_error("ValueError", msg); }
  if (t->device.device_type != kDLCPU) {
    snprintf(msg, sizeof msg, "'%%s' is not in host memory", name); return (DLTensor *)raise_error("ValueError", msg); }
  return t;
}
"""


_THREADS = r"""/* Parallel loops in the kernels call through these pointers (TVM's convention); tvm_ffi leaves
   them unset, so aotsnn_run installs the thread pool of thread_pool.c. */
void *__TVMBackendParallelLaunch __attribute__((weak)) = NULL;
void *__TVMBackendParallelBarrier __attribute__((weak)) = NULL;
int32_t aotsnn_parallel_launch(void *flambda, void *cdata, int32_t num_task);
int32_t aotsnn_parallel_barrier(int task_id, void *penv);
int aotsnn_threads(void);
void aotsnn_set_threads(int n);
void aotsnn_pool_run_begin(void);          /* times runs to choose the pool or one thread */
void aotsnn_pool_run_end(int64_t steps);

/* aotsnn_threads(n): use n threads in parallel kernels (n >= 1); n = 0 only asks. Returns the count. */
int32_t __tvm_ffi_aotsnn_threads(void *self, const TVMFFIAny *args, int32_t num_args, TVMFFIAny *result) {
  (void)self;
  if (num_args != 1 || args[0].type_index != kTVMFFIInt || args[0].v_int64 < 0) {
    raise_error("ValueError", "aotsnn_threads takes one integer >= 0"); return -1; }
  if (args[0].v_int64 > 0) aotsnn_set_threads((int)args[0].v_int64);
  result->type_index = kTVMFFIInt;
  result->v_int64 = aotsnn_threads();
  return 0;
}
"""


def checked_leaves_source(layout: Layout) -> str:
    """C: `leaf_names`, `raise_error` and `checked` (a DLTensor argument against dtype and shape)."""
    return _CHECKED % ", ".join(f'"{leaf.name}"' for g in GROUPS for leaf in getattr(layout, g))


def entry_arguments(layout: Layout) -> list[str]:
    """C statements that open `aotsnn_run(T, refresh, *params, *state, *inputs, *outputs, workspace)`:
    every argument checked (a TVM FFI error raised otherwise) into `T`, `refresh`, `P[]`, `S[]`,
    `IN[]`, `OUT[]` and `ws`. Needs `checked_leaves_source` and WORKSPACE_BYTES above it."""
    P, S, I, O = (len(getattr(layout, g)) for g in GROUPS)
    out = ["  (void)self; (void)result;",
           f"  if (num_args != {3 + P + S + I + O}) {{ raise_error(\"TypeError\", \"aotsnn_run takes T, refresh, params, "
           "state, inputs, outputs and workspace\"); return -1; }",
           "  if (args[0].type_index != kTVMFFIInt || args[0].v_int64 < 0) { raise_error(\"ValueError\", "
           "\"T must be a non-negative integer\"); return -1; }",
           "  if (args[1].type_index != kTVMFFIInt) { raise_error(\"TypeError\", \"refresh must be 0 or 1\"); return -1; }",
           "  const int64_t T = args[0].v_int64;",
           "  const int refresh = args[1].v_int64 != 0;",
           f"  DLTensor *P[{max(P, 1)}], *S[{max(S, 1)}], *IN[{max(I, 1)}], *OUT[{max(O, 1)}];"]
    arg, base = 2, 0
    for group, dest, timed in (("params", "P", False), ("state", "S", False), ("inputs", "IN", True),
                               ("outputs", "OUT", True)):
        for i, leaf in enumerate(getattr(layout, group)):
            code, bits = DLPACK_DTYPES[leaf.dtype]
            out.append(f"  if (!({dest}[{i}] = checked(&args[{arg}], leaf_names[{base + i}], {code}, {bits}, "
                       f"{'T' if timed else '-1'}, {TABLE_PREFIX[group]}_shape_{i}, {len(leaf.shape)}))) return -1;")
            arg += 1
        base += len(getattr(layout, group))
    return out + ["  static const int64_t ws_shape[1] = {WORKSPACE_BYTES};",
                  f"  DLTensor *ws = checked(&args[{arg}], \"workspace\", 1, 8, -1, ws_shape, 1);",
                  "  if (!ws) return -1;"]


def driver_source(plan: Plan, layout: Layout) -> tuple[str, int]:
    """(C source of the host driver `aotsnn_run`, workspace bytes it needs)."""
    loop = TimeLoop(plan, layout, lambda k: f"__tvm_ffi_{k}", "void*, const TVMFFIAny*, int32_t, TVMFFIAny*")
    out = ["/* Generated by aotsnn: the time loop around the fused TVM kernels. Do not edit. */",
           "#include <stdint.h>", "#include <string.h>", "#include <stdio.h>", "#include <tvm/ffi/c_api.h>", "",
           f"#define WORKSPACE_BYTES {loop.workspace_bytes}LL", f"#define ALIGN {ALIGN}", "",
           *loop.declarations(),
           checked_leaves_source(layout),
           _THREADS,
           "int32_t __tvm_ffi_aotsnn_run(void *self, const TVMFFIAny *args, int32_t num_args, TVMFFIAny *result) {",
           "  __TVMBackendParallelLaunch = (void *)aotsnn_parallel_launch;",
           "  __TVMBackendParallelBarrier = (void *)aotsnn_parallel_barrier;",
           *entry_arguments(layout),
           "  aotsnn_pool_run_begin();"]
    step_bytes = lambda group, i: _nbytes(getattr(layout, group)[i].shape, getattr(layout, group)[i].dtype)
    access = LeafAccess(
        tensor=lambda ref: {"param": f"P[{ref.index}]", "state": f"S[{ref.index}]"}[ref.kind],
        state_data=lambda i: f"DATA(S[{i}])",
        input_step=lambda i: f"DATA(IN[{i}]) + t * {step_bytes('inputs', i)}LL",
        output_step=lambda o: f"DATA(OUT[{o}]) + t * {step_bytes('outputs', o)}LL")
    out += loop.body(access, "DATA(ws)", "refresh")
    out += ["  aotsnn_pool_run_end(T);", "  return 0;", "}"]
    return "\n".join(out) + "\n", loop.workspace_bytes


def identity_source(identity: dict) -> str:
    """C of `aotsnn_identity()`, linked into model.so: the JSON of `identity`
    (aotsnn.runtime.format.library_identity), which `load` checks against the manifest."""
    data = json.dumps(identity, sort_keys=True).encode()        # ASCII: json escapes the rest
    return "\n".join([
        "/* Generated by aotsnn: what this library was built for (checked at load). Do not edit. */",
        "#include <stdint.h>", "#include <tvm/ffi/c_api.h>",
        "#ifdef __cplusplus", 'extern "C" {', "#endif",
        _c_array("identity_json", data, "char"),
        "int32_t __tvm_ffi_aotsnn_identity(void *self, const TVMFFIAny *args, int32_t num_args, TVMFFIAny *result) {",
        "  (void)self; (void)args; (void)num_args;",
        f"  TVMFFIByteArray bytes = {{identity_json, {len(data)}}};",
        "  return TVMFFIStringFromByteArray(&bytes, result);",
        "}", "#ifdef __cplusplus", "}", "#endif", ""])


# -- 2. the plain C entry point of a C bundle ------------------------------------------------------

def _gather_source(api: CApi, n: int, weights: int, mask_values: np.ndarray,
                   values: Ref) -> Callable[[Callable[[Ref], str]], list[str]]:
    """The driver's own CSR gather for a packed weight leaf (aotsnn.export.codegen.param_storage):
    values[p] = W_packed[p] * M[r_p, c_p], the products TVM's gather kernel computes, in its order.
    `mask_values` are M's non-zeros; unless all are 1, they are the table `gather_mask_<n>`."""
    name, nnz = api.layout.params[weights].name, len(mask_values)

    def statements(tensor: Callable[[Ref], str]) -> list[str]:
        T = f"{api.prefix}_param_t"
        out = f"(({T} *)DATA({tensor(values)}))"
        if nnz == 0:
            return [f"/* {name}: no connection, nothing to gather */"]
        if np.all(mask_values == 1):            # x * 1 is x: a copy gives the same bits
            return [f"memcpy({out}, s->param[{weights}], {nnz} * sizeof({T}));   /* {name} */"]
        return [f"for (long p = 0; p < {nnz}; ++p) {out}[p] = s->param[{weights}][p] * gather_mask_{n}[p];"]

    return statements


def c_api_source(plan: Plan, api: CApi, topology: dict[str, np.ndarray], arena: bool = False) -> tuple[str, int]:
    """(C source of `<model>.c`: init, run, step and last_error on the structs of `<model>.h`,
    workspace bytes it needs). The kernels are `<model>_k_<kernel>` in `<model>_kernels.c`;
    with `arena`, they take TVM's workspace from `<model>_arena_*` there (aotsnn.export.kernels.arena),
    which every run resets first. The gathers of packed weights are the driver's own
    (`_gather_source`); the parameter-only kernels run when `s->refresh` is set. A parameter's
    tensor points at `s->param[i]`, an integer one's at its compiled-in array (`CApi.param_data`)."""
    layout, p = api.layout, api.prefix
    loop = TimeLoop(plan, layout, lambda k: f"{p}_k_{k}", "void*, void*, int32_t, void*")
    P, S = len(layout.params), len(layout.state)
    substitutes, mask_tables = {}, []
    for n, (w, m) in packed_gathers(plan, layout, dict(api.storage)).items():
        mask, dtype = np.asarray(topology[layout.params[m].name]), layout.params[m].dtype
        nonzero = mask[np.nonzero(mask)]
        substitutes[n] = _gather_source(api, n, w, nonzero, plan.calls[n].args[-1])
        if len(nonzero) and not np.all(nonzero == 1):
            mask_tables.append(f"static const {p}_param_t gather_mask_{n}[] = "
                               f"{{{_const_literal(nonzero.astype(dtype), dtype)}}};")
    out = [f"/* Generated by aotsnn: the time loop of '{api.model}' around its fused TVM kernels. Do not edit. */",
           f'#include "{p}.h"', '#include "aotsnn_ffi.h"', "#include <stddef.h>", "#include <string.h>", "",
           api.layout_check(),
           f"static char last_error[{api.error_bytes}];", "",
           f"const char *{p}_last_error(void) {{ return last_error; }}", "",
           "/* Kernels report failed checks here (TVMFFIErrorSetRaisedFromCStrParts, renamed). */",
           f"void {p}_error_from_parts(const char *kind, const char **parts, int32_t n) {{",
           "  size_t used = 0;",
           "  for (int32_t i = -1; i < n; ++i) {",
           "    const char *part = i < 0 ? kind : parts[i];",
           "    for (; part != NULL && *part != '\\0' && used + 1 < sizeof last_error; ++part) last_error[used++] = *part;",
           "    if (i < 0 && used + 2 < sizeof last_error) { last_error[used++] = ':'; last_error[used++] = ' '; }",
           "  }",
           "  last_error[used] = '\\0';",
           "}", "",
           *([f"void {p}_arena_reset(void);"] if arena else []),
           *loop.declarations(("params", "state", "inputs")), *mask_tables, "",
           f"void {p}_init({p}_state *s) {{",
           f"  s->vars = {p}_initial_vars;",
           f"  for (int i = 0; i <= {p.upper()}_N_PARAMS; ++i) s->param[i] = {p}_default_param[i];",
           "  s->refresh = 1;",
           "}", "",
           f"int {p}_run({p}_state *s, int64_t T, const {p}_inputs *in, {p}_outputs *out) {{",
           f"  if (T < 0) {{ static const char *msg[1] = {{\"T must be >= 0\"}}; {p}_error_from_parts(\"ValueError\", msg, 1); "
           "return -1; }",
           f"  DLTensor P[{max(P, 1)}], S[{max(S, 1)}];",
           *([f"  {p}_arena_reset();"] if arena else [])]
    for i, leaf in enumerate(layout.params):
        out.append(_tensor_init(f"P[{i}]", api.param_data(i), f"param_shape_{i}", len(leaf.shape), leaf.dtype))
    for i, leaf in enumerate(layout.state):
        out.append(_tensor_init(f"S[{i}]", f"&s->vars.{api.member(leaf)}", f"state_shape_{i}", len(leaf.shape),
                                leaf.dtype))
    local = {"param": "P", "state": "S"}
    access = LeafAccess(
        tensor=lambda ref: f"&{local[ref.kind]}[{ref.index}]",
        state_data=lambda i: f"(char *)&s->vars.{api.member(layout.state[i])}",
        input_step=lambda i: f"(const char *)&in[t].{api.member(layout.inputs[i])}",
        output_step=lambda o: f"(char *)&out[t].{api.member(layout.outputs[o])}")
    out += loop.body(access, "(char *)s->workspace", "s->refresh", substitutes, refreshed="s->refresh = 0;")
    out += ["  return 0;", "}", "",
            f"int {p}_step({p}_state *s, const {p}_inputs *in, {p}_outputs *out) {{ return {p}_run(s, 1, in, out); }}"]
    return "\n".join(out) + "\n", loop.workspace_bytes
