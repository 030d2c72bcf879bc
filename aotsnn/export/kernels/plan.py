"""The kernel plan: which fused kernel runs when, on which buffers.

After fusion the Relax `main` of a step is a straight line of `call_tir`s. The plan records it
as data (kernel names and buffer references), which is all a driver needs to run the step in a
loop: the generated C driver, and tests that check it.

Buffer references are (kind, index): "param", "state", "input" index the positional leaves of
the layout; "temp" indexes the plan's intermediates; "const" its constant tensors.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tvm
from tvm import relax
from tvm.ir.expr import GenericConst as Constant

from aotsnn.export.errors import ExportError
from aotsnn.export.frontend.lower import Layout

ALIGN = 64


@dataclass(frozen=True)
class Ref:
    kind: str          # "param" | "state" | "input" | "temp" | "const"
    index: int

    def to_json(self) -> list:
        return [self.kind, self.index]


@dataclass(frozen=True)
class Temp:
    shape: tuple[int, ...]
    dtype: str
    offset: int        # byte offset in the workspace

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(dtype_numpy(self.dtype)).itemsize


@dataclass(frozen=True)
class KernelCall:
    kernel: str
    args: tuple[Ref, ...]          # inputs then outputs, as the PrimFunc takes them
    n_outputs: int = 1
    invariant: bool = False        # reads only parameters/constants: run once per call, not per step


@dataclass
class Plan:
    calls: list[KernelCall] = field(default_factory=list)
    temps: list[Temp] = field(default_factory=list)
    consts: list[np.ndarray] = field(default_factory=list)
    results: list[Ref] = field(default_factory=list)     # new state leaves, then outputs
    # state leaf -> the temp a kernel writes its new value into, when no other state leaf takes
    # that temp and it is not hoisted: the driver swaps the two buffers after each step instead of
    # copying (the temp's workspace bytes are reserved for the whole step)
    swapped: dict[int, int] = field(default_factory=dict)

    @property
    def workspace_bytes(self) -> int:
        return max((t.offset + t.nbytes for t in self.temps), default=0)


def dtype_numpy(dtype: str):
    """numpy dtype for a TVM dtype string (bfloat16 via ml_dtypes, which jax installs)."""
    if dtype == "bfloat16":
        import ml_dtypes
        return ml_dtypes.bfloat16
    return np.dtype(dtype)


def _shape_dtype(ty) -> tuple[tuple[int, ...], str]:
    if not isinstance(ty, relax.TensorType) or ty.shape is None:
        raise ExportError(f"kernel results must be statically shaped tensors, got {ty}")
    return tuple(int(d) for d in ty.shape.values), str(ty.dtype)


def extract_plan(mod: tvm.IRModule, layout: Layout) -> Plan:
    """Read the fused `main` of `mod` into a Plan; temps get first-fit workspace offsets."""
    main = mod["main"]
    n_params, n_state = len(layout.params), len(layout.state)
    if len(main.params) != len(layout.arguments):
        raise ExportError(f"the compiled step takes {len(main.params)} arguments but the layout has "
                          f"{len(layout.arguments)}: an argument was dropped during lowering")
    refs: dict = {}
    for i, param in enumerate(main.params):
        kind, index = ("param", i) if i < n_params else ("state", i - n_params) if i < n_params + n_state \
            else ("input", i - n_params - n_state)
        refs[param] = Ref(kind, index)
    plan = Plan()
    temp_specs: list[tuple[tuple[int, ...], str]] = []
    tuples: dict = {}
    invariant_temps: set[Ref] = set()

    const_index: dict[tuple, int] = {}      # equal constants (the CSR tables of a gather and its scatter) stored once

    def ref_of(expr) -> Ref:
        if isinstance(expr, Constant):
            value = expr.value.numpy()
            key = (value.dtype.str, value.shape, value.tobytes())
            if key not in const_index:
                plan.consts.append(value)
                const_index[key] = len(plan.consts) - 1
            return Ref("const", const_index[key])
        if expr in refs:
            return refs[expr]
        raise ExportError(f"the fused step uses {type(expr).__name__} {expr} that is not a tensor the plan knows")

    def new_temp(ty) -> Ref:
        temp_specs.append(_shape_dtype(ty))
        return Ref("temp", len(temp_specs) - 1)

    if not isinstance(main.body, relax.SeqExpr):
        raise ExportError("the fused step is not a sequence of bindings")
    for block in main.body.blocks:
        for binding in block.bindings:
            value = binding.value
            if isinstance(value, relax.Call) and getattr(value.op, "name", "") == "relax.call_tir":
                kernel = value.args[0].name_hint if hasattr(value.args[0], "name_hint") else str(value.args[0].name)
                inputs = [ref_of(a) for a in value.args[1].fields]
                ty = binding.var.ty
                outs = [new_temp(t) for t in ty.fields] if isinstance(ty, relax.TupleType) else [new_temp(ty)]
                if isinstance(ty, relax.TupleType):
                    tuples[binding.var] = outs
                else:
                    refs[binding.var] = outs[0]
                invariant = all(r.kind in ("param", "const") or r in invariant_temps for r in inputs)
                if invariant:
                    invariant_temps.update(outs)
                plan.calls.append(KernelCall(kernel, tuple(inputs + outs), len(outs), invariant))
            elif isinstance(value, relax.TupleGetItem):
                refs[binding.var] = tuples[value.tuple_value][value.index]
            elif isinstance(value, relax.Tuple):
                tuples[binding.var] = [ref_of(f) for f in value.fields]
            elif isinstance(value, (relax.Var, Constant)):
                refs[binding.var] = ref_of(value)
            else:
                raise ExportError(f"cannot plan binding {binding.var} = {value}: only call_tir, tuples "
                                  "and aliases are expected after fusion")
    body = main.body.body
    plan.results = tuples[body] if body in tuples else [ref_of(f) for f in body.fields]
    if len(plan.results) != len(layout.results):
        raise ExportError(f"the step returns {len(plan.results)} tensors, the layout expects {len(layout.results)}")
    new_state = plan.results[:n_state]
    plan.swapped = {i: ref.index for i, ref in enumerate(new_state)
                    if ref.kind == "temp" and ref not in invariant_temps and new_state.count(ref) == 1}
    plan.temps = _assign_offsets(plan, temp_specs)
    return plan


def _assign_offsets(plan: Plan, specs: list[tuple[tuple[int, ...], str]]) -> list[Temp]:
    """First-fit workspace offsets: a temp's bytes are reused once its last reader has run.

    Temps that are results (new state, outputs) live to the end of the step; swapped ones (they
    hold a state leaf from one step to the next) for the whole step.
    """
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for step, call in enumerate(plan.calls):
        for ref in call.args:
            if ref.kind == "temp":
                first.setdefault(ref.index, step)
                last[ref.index] = step
    end = len(plan.calls)
    for ref in plan.results:
        if ref.kind == "temp":
            last[ref.index] = end
    for index in plan.swapped.values():
        first[index], last[index] = 0, end
    for call in plan.calls:          # hoisted results are read by every step of the loop
        if call.invariant:
            for ref in call.args[len(call.args) - call.n_outputs:]:
                first[ref.index], last[ref.index] = 0, end
    placed: list[tuple[int, int, int, int]] = []     # (offset, size, first, last)
    temps = []
    for index, (shape, dtype) in enumerate(specs):
        size = Temp(shape, dtype, 0).nbytes
        size = (size + ALIGN - 1) // ALIGN * ALIGN
        live = (first.get(index, 0), last.get(index, end))
        offset, moved = 0, True
        while moved:   # bump past every live-overlapping block until the range is free
            moved = False
            for other_offset, other_size, a, b in placed:
                overlaps_time = not (live[1] < a or b < live[0])
                if overlaps_time and offset < other_offset + other_size and other_offset < offset + size:
                    offset, moved = other_offset + other_size, True
        placed.append((offset, size, *live))
        temps.append(Temp(shape, dtype, offset))
    return temps
