"""A live simulation: state kept in the runtime's own buffers, stepped one tick at a time.

    live = session.stepper()                       # the artifact's initial state (or state=...)
    for tick in sensor_stream:
        live.inputs["drive_exc"][...] = tick        # the stepper's own input buffers
        out = live.advance()                        # one step; out: name -> (batch, ...) views
        act(out["exc.spikes"])
    out = live.advance({"drive_exc": my_array})     # or arrays of your own (checked once each)
    v = live.pull("exc.v_rel"); live.push("exc.v_rel", v * 0)

`Session.step` is functional (state in, new state out) and pays for it on every call: fresh
aligned copies of every state leaf, every input checked and wrapped, new output arrays.
A Stepper does that work once:
- the state lives in aligned buffers it owns, and the compiled step updates them in place;
- the DLPack tensors of the state, of its output buffers and of every input buffer it has seen
  are built once; an input array is checked (dtype, shape, layout) the first time it is passed
  and then recognised by identity, so keep passing the same arrays and change their contents;
- outputs land in buffers it owns (returned as views, valid until the next `advance`: copy what
  you keep) or in arrays given as `out=` (checked once each, like inputs).
What still runs per call is the finiteness check (`check_finite=False` skips it): one BLAS dot
product over the inputs before the step (over each given input array, or over the stepper's own
input block) and one over the state and the outputs after it (they share one block), so a step
that makes anything NaN or Inf raises at once. The step is bit-identical to `Session.run`.
numpy + tvm_ffi only, like the rest of the runtime.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Mapping

import numpy as np
import tvm_ffi

from aotsnn.runtime.dlpack import tensor
from aotsnn.runtime.format import ALIGN, aligned_empty

if TYPE_CHECKING:
    from aotsnn.runtime.session import Session



def carve(layout: list[tuple[str, tuple[int, ...]]], dtype: np.dtype) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One zeroed block holding every leaf of `layout`, each starting 64-byte aligned (the
    kernels' aligned loads need it): (block, name -> view). One pass over the block sees them all."""
    per_align = max(ALIGN // np.dtype(dtype).itemsize, 1)
    sizes = [math.prod(shape) for _, shape in layout]
    padded = [-(-size // per_align) * per_align for size in sizes]
    block = aligned_empty((sum(padded),), dtype)
    block[...] = 0
    starts = np.cumsum([0, *padded])
    return block, {name: block[start:start + size].reshape(shape)
                   for (name, shape), start, size in zip(layout, starts, sizes)}


class Stepper:
    """One live state of a Session's network, advanced in place (see the module docstring)."""

    def __init__(self, session: "Session", state: Mapping[str, np.ndarray] | None = None, *,
                 check_finite: bool = True) -> None:
        self.session, self.check_finite = session, check_finite
        self._blas = session.dtype in (np.float32, np.float64)
        self._scales: dict[int, np.ndarray] = {}
        # The state and the outputs share one block (one pass checks both after a step); the
        # stepper's own input buffers (`inputs`) another (one pass before).
        # Integer state leaves (random keys) have buffers of their own dtype, outside that check.
        state_layout = session.layout["state"]
        out_layout = [(f"out:{name}", (1, *shape)) for name, shape in session.layout["outputs"]]
        floats = [(name, shape) for name, shape in state_layout if name not in session.integer_state]
        self._written_block, leaves = carve(floats + out_layout, session.dtype)
        for name, shape in state_layout:
            if name in session.integer_state:
                leaves[name] = carve([(name, shape)], session.integer_state[name])[1][name]
        self._state = {name: leaves[name] for name, _ in state_layout}
        self._state_tensors = [tensor(self._state[name], session.leaf_precision("state", name))
                               for name, _ in state_layout]
        self._out_tensors = [tensor(leaves[name], session.precision) for name, _ in out_layout]
        self._views = {name: leaves[f"out:{name}"][0] for name, _ in session.layout["outputs"]}
        self._input_block, own = carve(session.layout["inputs"], session.dtype)
        self.inputs: dict[str, np.ndarray] = own
        """The stepper's own input buffers, name -> (batch, ...): fill them and call advance()."""
        self._own_input_tensors = [tensor(own[name].reshape(1, *shape), session.precision)
                                   for name, shape in session.layout["inputs"]]
        self._own_inputs_check = {"inputs": self._input_block}
        self._written_check = {"state, outputs": self._written_block}
        self._seen: dict[int, tuple[np.ndarray, object]] = {}     # id -> (array kept alive, its tensor)
        self._workspace = tvm_ffi.from_dlpack(session._workspace)
        self.reset(state)

    # -- state ------------------------------------------------------------------------------
    def reset(self, state: Mapping[str, np.ndarray] | None = None) -> None:
        """Start again from `state` (checked as Session.run checks it), or the initial state."""
        state = self.session.init_state() if state is None else state
        self.session._check_names(state, "state", "state")
        self.session._check_tree(state, "state", "state")
        if self.check_finite:
            self.session._check_finite(state, "state")
        for name, buffer in self._state.items():
            buffer[...] = state[name]

    def state(self) -> dict[str, np.ndarray]:
        """A copy of the whole state (e.g. for Session.save_state)."""
        return {name: buffer.copy() for name, buffer in self._state.items()}

    def pull(self, name: str) -> np.ndarray:
        """A copy of one state leaf."""
        return self._leaf(name).copy()

    def push(self, name: str, value: np.ndarray) -> None:
        """Overwrite one state leaf with `value` (exactly its dtype and shape, finite if checked)."""
        buffer = self._leaf(name)
        self.session._check_leaf(name, value, buffer.shape, "push", dtype=self.session.leaf_dtype("state", name))
        if self.check_finite:
            self.session._check_finite({name: value}, "state")
        buffer[...] = value

    def _leaf(self, name: str) -> np.ndarray:
        if name not in self._state:
            raise KeyError(f"'{self.session.name}' has no state leaf '{name}'; leaves: {', '.join(self._state)}.")
        return self._state[name]

    def input_shape(self, name: str) -> tuple[int, ...]:
        """The per-step shape (batch, ...) of input `name`."""
        shapes = dict(self.session.layout["inputs"])
        if name not in shapes:
            raise KeyError(f"'{self.session.name}' has no input '{name}'; inputs: {', '.join(shapes)}.")
        return shapes[name]

    # -- stepping ---------------------------------------------------------------------------
    def advance(self, inputs: Mapping[str, np.ndarray] | None = None, out: Mapping[str, np.ndarray] | None = None
                ) -> dict[str, np.ndarray]:
        """One step in place; inputs name -> (batch, ...) arrays of the artifact dtype, or None
        for the stepper's own buffers `self.inputs` (the fastest: one check covers them all).

        Returns the outputs, name -> (batch, ...): views of the stepper's buffers, or the arrays
        of `out` (which must hold every output) when given."""
        session = self.session
        layout = session.layout
        if inputs is None:
            inputs, input_tensors, given = self.inputs, self._own_input_tensors, self._own_inputs_check
        else:
            if len(inputs) != len(layout["inputs"]):
                session._check_names(inputs, "inputs", "inputs")
            input_tensors = [self._tensor_of(inputs, name, shape, "inputs") for name, shape in layout["inputs"]]
            given = inputs
        if out is None:
            out_tensors, results, written = self._out_tensors, self._views, self._written_check
        else:
            out_tensors = [self._tensor_of(out, name, shape, "out") for name, shape in layout["outputs"]]
            results = dict(out)
            written = {"state, outputs": self._written_block, **results}
        if self.check_finite and not self._finite(given):
            session._check_finite(inputs, "inputs")
        with session._lock:
            session._run(1, int(session._derived_stale), *session._param_tensors, *self._state_tensors,
                         *input_tensors, *out_tensors, self._workspace)
            session._derived_stale = False
        if self.check_finite and not self._finite(written):
            session._check_finite({**self._state, **results}, "after this step (the state or an output became NaN "
                                  "or Inf; reset() or push() to go on)")
        return results

    def _finite(self, arrays: Mapping[str, np.ndarray]) -> bool:
        """True proves every value finite; False means "look closer" (Session._check_finite).

        x . w with every w_i = 2**-64 is finite only if every x_i is (NaN and Inf propagate), and
        costs one BLAS call: less than isfinite, or entering np.errstate for a sum. The scale
        keeps the sum of any finite float32/float64 values far from overflow (no warning, no false
        alarm); products that underflow to 0 do not matter."""
        if not self._blas:
            return False
        for array in arrays.values():
            flat = array if array.ndim == 1 else array.reshape(-1)
            scale = self._scales.get(flat.size)
            if scale is None:
                scale = self._scales[flat.size] = np.full(flat.size, 2.0 ** -64, self.session.dtype)
            if not math.isfinite(flat.dot(scale)):
                return False
        return True

    def _tensor_of(self, arrays: Mapping[str, np.ndarray], name: str, shape: tuple[int, ...], what: str):
        """The tensor of arrays[name] seen as one step (1, *shape); checked once per array object."""
        try:
            array = arrays[name]
        except KeyError:
            raise ValueError(f"{what}: missing '{name}'; expected {', '.join(n for n, _ in self._group(what))}.") \
                from None
        seen = self._seen.get(id(array))
        if seen is not None and seen[0] is array:
            return seen[1]
        self.session._check_leaf(name, array, shape, what)
        if not array.flags.c_contiguous:
            raise ValueError(f"{what}: '{name}' must be C-contiguous (it is read or written in place): "
                             "pass np.ascontiguousarray(x) once and keep using that array.")
        if what == "out" and not array.flags.writeable:
            raise ValueError(f"out: '{name}' must be writeable.")
        made = tensor(array.reshape(1, *shape), self.session.precision)
        if len(self._seen) > 1024:              # a caller making new arrays every call: no cache
            self._seen.clear()
        self._seen[id(array)] = (array, made)
        return made

    def _group(self, what: str) -> list[tuple[str, tuple[int, ...]]]:
        return self.session.layout["inputs" if what == "inputs" else "outputs"]
