"""Relax -> fused TIR kernels: the TVM half of compilation.

    relax main --FoldConstant, LegalizeOps, AnnotateTIROpPattern, FuseOps, FuseTIR--> fused main
    fused main --extract_plan--> Plan (kernel calls as data)
    PrimFuncs --dlight CPU rules (GEMV, Reduction) where they apply--> tvm.compile(target)

The result is a TIR-only module: its functions are exported as `__tvm_ffi_<kernel>` and need
nothing from TVM at run time beyond `TVMFFIErrorSetRaisedFromCStrParts` (libtvm_ffi).
"""
from __future__ import annotations

from dataclasses import dataclass

import tvm
from tvm import relax, tirx, topi
from tvm.s_tir import dlight

from aotsnn.export.errors import ExportError
from aotsnn.export.frontend.lower import Layout
from aotsnn.export.kernels.plan import Plan, extract_plan
from aotsnn.export.kernels.cpu_schedules import VectorizeElementwise
from aotsnn.export.kernels.merge_elementwise import merge_elementwise


def legalize_cumsum(bb: relax.BlockBuilder, call: relax.Call) -> relax.Expr:
    """relax.cumsum as topi's scan: TVM's LegalizeOps has no rule for it, and the ONNX path's
    CumSum (a sparse synapse's pre(s), aotsnn.export.frontend.to_onnx) needs one."""
    attrs = call.attrs
    return bb.call_te(topi.cumsum, call.args[0], axis=None if attrs.axis is None else int(attrs.axis),
                      dtype=None if attrs.dtype is None else str(attrs.dtype), exclusive=bool(attrs.exclusive))


GROUPING_PASSES = (
    relax.transform.FoldConstant(),
    relax.transform.LegalizeOps(customize_legalize_map={"relax.cumsum": legalize_cumsum}),
    relax.transform.AnnotateTIROpPattern(),
    relax.transform.FoldConstant(),
    relax.transform.FuseOps(),
)
KERNEL_PASSES = (
    relax.transform.FuseTIR(),
    relax.transform.DeadCodeElimination(),
)


@dataclass
class Kernels:
    plan: Plan
    library: object          # tvm.runtime.Executable of the TIR-only module
    tir_module: tvm.IRModule


def fuse(mod: tvm.IRModule, merge_params: int | None = None) -> tvm.IRModule:
    """Legalize every Relax op to TIR and fuse them; main becomes a line of call_tir. With
    `merge_params` (how many leading arguments are parameters), a population's element-wise
    kernels are merged into one (aotsnn.export.kernels.merge_elementwise)."""
    try:
        grouped = tvm.transform.Sequential(list(GROUPING_PASSES))(mod)
        if merge_params is not None:
            grouped = merge_elementwise(grouped, merge_params)
        return tvm.transform.Sequential(list(KERNEL_PASSES))(grouped)
    except Exception as exc:
        raise ExportError(f"TVM could not legalize/fuse the step: {exc}") from exc


def schedule(funcs: tvm.IRModule, target: tvm.target.Target) -> tvm.IRModule:
    """Apply dlight's CPU rules and ours (aotsnn.export.kernels.cpu_schedules) to the kernels they recognise."""
    if target.kind.name != "llvm":
        return funcs
    # Kernels of random bits (jax.random's threefry: uint32 blocks) stay as their blocks: each round
    # reads its values twice, so inlining the chain (what the rules do first) duplicates the
    # expression at every round, exponentially (a 20-unit Poisson source did not compile in 10 min).
    bits = {gv: f for gv, f in funcs.functions.items() if has_random_bits(f)}
    rest = tvm.IRModule({gv: f for gv, f in funcs.functions.items() if gv not in bits})
    with target:
        scheduled = dlight.ApplyDefaultSchedule(VectorizeElementwise(), dlight.cpu.GEMV(), dlight.cpu.Reduction())(rest)
    for gv, f in bits.items():
        scheduled[gv] = f
    return scheduled


def has_random_bits(func) -> bool:
    """True for a kernel with uint32 values (random bits: aotsnn.components.random). Such a kernel
    always reads or writes a uint32 tensor (the key, or bits), so its parameters tell; printing
    the kernel as TVMScript to search it cost 10 ms per kernel."""
    return any(str(param.dtype) == "uint32" for param in func.params)


def plan_kernels(relax_mod: tvm.IRModule, layout: Layout, *, merge: bool = False) -> tuple[Plan, tvm.IRModule]:
    """Fuse the step; (its plan, the unscheduled PrimFuncs the plan calls, by kernel name).
    `merge`: merge each population's element-wise kernels (for targets whose schedule runs a
    merged kernel's outputs in one loop: host)."""
    fused = fuse(relax_mod, len(layout.params) if merge else None)
    plan = extract_plan(fused, layout)
    used = {call.kernel for call in plan.calls}
    return plan, tvm.IRModule({gv.name_hint: f.with_attr("global_symbol", gv.name_hint)
                               for gv, f in fused.functions.items()
                               if isinstance(f, tirx.PrimFunc) and gv.name_hint in used})


def build_kernels(plan: Plan, funcs: tvm.IRModule, target: tvm.target.Target) -> Kernels:
    """Schedule and compile the kernels of `plan_kernels` for `target`."""
    tir_module = schedule(funcs, target)
    try:
        library = tvm.compile(tir_module, target=target)
    except Exception as exc:
        raise ExportError(f"TVM could not build the kernels for {target}: {exc}") from exc
    return Kernels(plan, library, tir_module)
