"""Merge a population's element-wise kernels into one: fewer passes over its arrays per step.

TVM's FuseOps joins an op into its consumer only where every path from it meets again (its
post-dominator). A soma's new potential is read by the spike test, the reset and the
refractory update, whose results leave the step by different paths (new state, spikes), so
one LIF population came out as six kernels per step (refractory mask, potential, spike test,
spike cast, counter, reset), each streaming whole-population arrays through memory.

This pass runs between FuseOps and FuseTIR. It walks the step's calls in order and joins
element-wise calls of the same output shape into one group function, to be fused by FuseTIR
into one kernel with several outputs:

    m1 = fused_a(x);  other = ...;  m2 = fused_b(m1, y)   ->   other = ...;  (m2,) = merged(x, y)

A call may join the open group of its shape when it is element-wise (every op in it
element-wise, broadcast or injective; the step's whole-population tensors of one shape, the rest
at most one element), reads no random bits (uint32: aotsnn.export.kernels.fusion keeps those
kernels unscheduled) and is not invariant (reads state or inputs, so it is not hoisted out of
the time loop). A group is emitted just before the first other binding that reads one of its
results, so every input of every member is computed before it and no cycle can form. Results
read only inside the group become the kernel's intermediates (never written to memory).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import tvm
from tvm import relax, tirx

# AnnotateTIROpPattern's kinds: element-wise 0, broadcast 1, injective 2 (reshape); 3 and up are
# reductions and opaque kernels.
MAX_OP_PATTERN = 2


@dataclass
class _Group:
    members: list[relax.VarBinding] = field(default_factory=list)
    results: set = field(default_factory=set)      # Vars bound by the members


def merge_elementwise(mod: tvm.IRModule, n_params: int) -> tvm.IRModule:
    """`mod` after FuseOps, with calls merged as the module docstring says; `n_params`: how many
    leading arguments of `main` are parameters (their values are invariant over a run)."""
    main = mod["main"]
    if not isinstance(main.body, relax.SeqExpr) or len(main.body.blocks) != 1:
        return mod
    bindings = list(main.body.blocks[0].bindings)
    result_expr = main.body.body
    readers = _readers(bindings, result_expr)
    invariant = set(main.params[:n_params])
    for binding in bindings:
        if _reads(binding.value) <= invariant:
            invariant.add(binding.var)

    open_groups: dict[tuple[int, ...], _Group] = {}
    emitted: list = []            # ("binding", b) or ("group", group), in the new order
    item_bindings = {b.var for b in bindings if isinstance(b.value, relax.TupleGetItem)}
    for binding in bindings:
        read = _reads(binding.value)
        shape = _elementwise_shape(mod, binding, invariant)
        if shape is not None and isinstance(binding.var.ty, relax.TupleType) \
                and not readers[binding.var] <= item_bindings:
            shape = None      # a tuple read whole (not item by item): it stays one call
        if isinstance(binding.value, relax.TupleGetItem):
            shape = next((k for k, g in open_groups.items() if binding.value.tuple_value in g.results), None)
        for key in [k for k, g in open_groups.items() if k != shape and read & g.results]:
            emitted.append(("group", open_groups.pop(key)))     # emitted before their first reader
        if shape is None:
            emitted.append(("binding", binding))
        else:
            open_groups.setdefault(shape, _Group())
            open_groups[shape].members.append(binding)
            open_groups[shape].results.add(binding.var)
    emitted.extend(("group", g) for g in open_groups.values())
    if not any(kind == "group" and len(g.members) > 1 for kind, g in emitted):
        return mod

    builder = relax.BlockBuilder(mod)
    new_bindings: list[relax.Binding] = []
    for index, (kind, item) in enumerate(emitted):
        if kind == "binding":
            new_bindings.append(item)
            continue
        escaping = [b.var for b in item.members if readers[b.var] - item.results]
        if len(item.members) == 1 or any(isinstance(v.ty, relax.TupleType) for v in escaping):
            new_bindings.extend(item.members)     # alone, or a tuple read whole outside: as they were
        else:
            inputs = _external_inputs(item)
            call = relax.Call(_group_function(builder, mod, item, inputs, escaping, f"fused_merged_{index}"), inputs)
            if len(escaping) == 1:
                new_bindings.append(relax.VarBinding(escaping[0], call))
            else:
                packed = relax.DataflowVar(f"merged_{index}", relax.TupleType([v.ty for v in escaping]))
                new_bindings.append(relax.VarBinding(packed, call))
                for k, var in enumerate(escaping):
                    new_bindings.append(relax.VarBinding(var, relax.TupleGetItem(packed, k)))
    body = relax.SeqExpr([relax.DataflowBlock(new_bindings)], result_expr)
    builder.update_func(mod.get_global_var("main"), relax.Function(main.params, body, main.ret_ty, attrs=main.attrs))
    merged = builder.get()
    return relax.transform.DeadCodeElimination()(relax.transform.Normalize()(merged))


def _group_function(builder: relax.BlockBuilder, mod: tvm.IRModule, group: _Group, inputs: list,
                    escaping: list, name: str) -> tvm.ir.GlobalVar:
    """A Primitive function of `inputs` (_external_inputs) whose body is every member's calls in
    order, returning `escaping`."""
    params = [relax.Var(f"p{i}", x.ty) for i, x in enumerate(inputs)]
    outer = dict(zip(inputs, params))
    with builder.function(name, params, attrs={"Primitive": True}, private=True):
        with builder.dataflow():
            for binding in group.members:
                if isinstance(binding.value, relax.TupleGetItem):
                    item = relax.TupleGetItem(outer[binding.value.tuple_value], binding.value.index)
                    outer[binding.var] = builder.emit(item)
                    continue
                args = [outer.get(a, a) for a in _call_arguments(binding.value)]
                outer[binding.var] = _inline_call(builder, mod, binding.value, args)
            outputs = [outer[v] for v in escaping]
            result = builder.emit_output(outputs[0] if len(outputs) == 1 else relax.Tuple(outputs))
        return builder.emit_func_output(result)


def _inline_call(builder: relax.BlockBuilder, mod: tvm.IRModule, call: relax.Call, args: list) -> relax.Var:
    """Emit `call` with `args`: a call_tir as itself, a FuseOps group as its body's calls."""
    if _is_call_tir(call):
        return builder.emit(relax.Call(call.op, [call.args[0], relax.Tuple(args)], call.attrs, call.ty_args))
    callee = mod[call.op]
    inner = dict(zip(callee.params, args))
    for binding in callee.body.blocks[0].bindings:
        value = _substitute(binding.value, inner)
        inner[binding.var] = builder.emit(value)
    return inner[callee.body.body]


def _elementwise_shape(mod: tvm.IRModule, binding: relax.VarBinding, invariant: set) -> tuple[int, ...] | None:
    """The output shape of a call this pass may merge (the module docstring), else None."""
    call = binding.value
    if not isinstance(call, relax.Call) or binding.var in invariant:
        return None
    shapes = _tensor_shapes(binding.var.ty)
    if not shapes or len(set(shapes)) != 1 or math.prod(shapes[0]) <= 1:
        return None
    shape = _without_unit_axes(shapes[0])
    if _is_call_tir(call):
        calls = [call]
    elif isinstance(call.op, tvm.ir.GlobalVar) and isinstance(mod[call.op], relax.Function):
        inner = [b.value for b in mod[call.op].body.blocks[0].bindings]
        calls = [c for c in inner if not isinstance(c, (relax.Tuple, relax.TupleGetItem))]
        if not all(isinstance(c, relax.Call) and _is_call_tir(c) for c in calls):
            return None
    else:
        return None
    for inner in calls:
        func = mod[inner.args[0]]
        if not isinstance(func, tirx.PrimFunc) or int(func.attrs.get("op_pattern", 99)) > MAX_OP_PATTERN:
            return None
        for tensor in [*inner.args[1].fields, inner]:
            tensor_shapes = _tensor_shapes(tensor.ty, allow_uint32=False)
            if tensor_shapes is None or any(math.prod(s) > 1 and _without_unit_axes(s) != shape
                                            for s in tensor_shapes):
                return None
    return shape


def _without_unit_axes(shape: tuple[int, ...]) -> tuple[int, ...]:
    """`shape` without its axes of length 1: (1, 3200) and (3200,) list elements in one order."""
    return tuple(d for d in shape if d != 1)


def _tensor_shapes(ty, allow_uint32: bool = True) -> list[tuple[int, ...]] | None:
    """The static shapes of a tensor or a tuple of tensors; None for anything else (or a uint32
    tensor, unless allowed)."""
    tensors = list(ty.fields) if isinstance(ty, relax.TupleType) else [ty]
    if not all(isinstance(t, relax.TensorType) and t.shape is not None for t in tensors):
        return None
    if not allow_uint32 and any(str(t.dtype) == "uint32" for t in tensors):
        return None
    return [tuple(int(d) for d in t.shape.values) for t in tensors]


def _external_inputs(group: _Group) -> list:
    """The members' arguments that no member computes, in first-use order, each once."""
    seen: list = []
    for binding in group.members:
        for arg in _call_arguments(binding.value):
            if arg not in group.results and not any(arg.same_as(s) for s in seen):
                seen.append(arg)
    return seen


def _call_arguments(value) -> list:
    if isinstance(value, relax.TupleGetItem):
        return [value.tuple_value]
    return list(value.args[1].fields) if _is_call_tir(value) else list(value.args)


def _is_call_tir(expr) -> bool:
    return isinstance(expr, relax.Call) and getattr(expr.op, "name", "") == "relax.call_tir"


def _reads(expr) -> set:
    """The Vars `expr` reads (a call's arguments, a tuple's fields, an alias)."""
    if isinstance(expr, relax.Var):
        return {expr}
    if isinstance(expr, relax.Tuple):
        return set().union(*(_reads(f) for f in expr.fields)) if expr.fields else set()
    if isinstance(expr, relax.TupleGetItem):
        return _reads(expr.tuple_value)
    if isinstance(expr, relax.Call):
        return set().union(*(_reads(a) for a in expr.args)) if expr.args else set()
    return set()


def _readers(bindings: list, result_expr) -> dict:
    """Var -> the set of Vars bound by bindings that read it; the step's result reads as None."""
    readers: dict = {b.var: set() for b in bindings}
    for binding in bindings:
        for var in _reads(binding.value):
            readers.setdefault(var, set()).add(binding.var)
    for var in _reads(result_expr):
        readers.setdefault(var, set()).add(None)
    return readers


def _substitute(expr, remap: dict):
    """`expr` with Vars replaced per `remap` (calls, tuples, tuple items; anything else as is)."""
    if isinstance(expr, relax.Var):
        return remap.get(expr, expr)
    if isinstance(expr, relax.Tuple):
        return relax.Tuple([_substitute(f, remap) for f in expr.fields])
    if isinstance(expr, relax.TupleGetItem):
        return relax.TupleGetItem(_substitute(expr.tuple_value, remap), expr.index)
    if isinstance(expr, relax.Call):
        return relax.Call(expr.op, [_substitute(a, remap) for a in expr.args], expr.attrs, expr.ty_args)
    return expr
