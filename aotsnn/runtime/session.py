"""Run an artifact: the thin runtime. Imports only the standard library, numpy and tvm_ffi.

    session = aotsnn.runtime.load("net.aot")
    state = session.init_state()
    state, outputs = session.run(state, inputs)      # inputs: name -> (T, batch, ...)
    state, outputs = session.step(state, inputs)     # inputs: name -> (batch, ...)

State and parameters are dicts of numpy arrays keyed by leaf name, in the artifact precision.
Inputs must have exactly that dtype and shape; NaN/Inf inputs are refused (policy: reject at
the boundary; set `check_finite=False` to let them propagate). A Session is safe to share
between threads (calls are serialised); independent sessions of one artifact share nothing.
"""
from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path
from typing import Mapping

import numpy as np
import tvm_ffi

from aotsnn.runtime.artifact import Artifact, open_artifact
from aotsnn.runtime.format import ArtifactError, arrays_from_file, numpy_dtype, write_atomic

ALIGN = 64


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data is 64-byte aligned (the kernels need it)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + ALIGN, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGN
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def aligned_copy(array: np.ndarray) -> np.ndarray:
    out = aligned_empty(array.shape, array.dtype)
    out[...] = array
    return out


class Session:
    """A loaded artifact with its parameters; runs steps from any state the caller gives."""

    def __init__(self, artifact: Artifact) -> None:
        self.artifact = artifact
        m = artifact.manifest
        self.name, self.dt, self.precision = m["model"], float(m["dt"]), m["precision"]
        self.dtype = numpy_dtype(self.precision)
        self.layout = {g: [(l["name"], tuple(l["shape"])) for l in m["layout"][g]]
                       for g in ("params", "state", "inputs", "outputs")}
        self.param_rules = m.get("param_rules", {})
        self.topology = m.get("topology", {})
        try:
            self._module = tvm_ffi.load_module(str(artifact.library))
            self._run = self._module["aotsnn_run"]
        except Exception as exc:
            raise ArtifactError(f"{artifact.path}: cannot load model.so: {exc}") from exc
        self._workspace = aligned_empty((m["build"]["workspace_bytes"],), np.uint8)
        self._lock = threading.Lock()
        self._params: dict[str, np.ndarray] = {}
        self.set_params(**self._read_arrays("params.npz", "params"))

    # -- parameters ---------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self._params.items()}

    def set_params(self, **values: object) -> None:
        """Change parameters by leaf name, e.g. `set_params(**{"exc.potential_tau": 10.0})`.

        Values are cast to the artifact precision; shapes must match; range rules from the
        model (e.g. tau > 0) are checked. No recompilation happens.
        """
        shapes = dict(self.layout["params"])
        staged = dict(self._params)
        for name, value in values.items():
            if name not in shapes:
                raise ValueError(f"'{self.name}' has no parameter '{name}'; parameters: {', '.join(shapes)}.")
            array = np.asarray(value)
            if array.dtype == self.dtype and self.precision == "bfloat16":
                pass
            elif not np.issubdtype(array.dtype, np.number):
                raise TypeError(f"parameter '{name}' must be numeric, got dtype {array.dtype}.")
            if array.shape != shapes[name]:
                raise ValueError(f"parameter '{name}' must have shape {shapes[name]}, got {array.shape}.")
            if name in self._params and name in self.topology:
                if hashlib.sha256(np.asarray(array, self.dtype).tobytes()).hexdigest() != self.topology[name]:
                    raise ValueError(f"parameter '{name}' is topology, fixed when '{self.name}' was compiled "
                                     "(kernels are specialised to it); recompile to change it.")
            if self.precision != "bfloat16":
                self._check_rule(name, array)
                array = array.astype(self.dtype)
            staged[name] = aligned_copy(array)
        self._params = staged
        self._param_tensors = [tvm_ffi.from_dlpack(self._params[n]) for n, _ in self.layout["params"]] \
            if len(staged) == len(shapes) else None

    def _check_rule(self, name: str, value: np.ndarray) -> None:
        rule = self.param_rules.get(name)
        if rule is None:
            return
        value = np.asarray(value, dtype=np.float64)
        bad = np.isnan(value)
        if rule["low"] is not None:
            bad |= value <= rule["low"] if rule["low_open"] else value < rule["low"]
        if rule["high"] is not None:
            bad |= value >= rule["high"] if rule["high_open"] else value > rule["high"]
        if np.any(bad):
            bounds = " and ".join(p for p in (
                None if rule["low"] is None else f"{'>' if rule['low_open'] else '>='} {rule['low']:g}",
                None if rule["high"] is None else f"{'<' if rule['high_open'] else '<='} {rule['high']:g}") if p)
            raise ValueError(f"parameter '{name}' must be {bounds} {rule.get('unit', '')}".rstrip() +
                             f", got {value[bad].ravel()[0]:g}.")

    # -- state ----------------------------------------------------------------------------------
    def init_state(self) -> dict[str, np.ndarray]:
        """The initial state stored in the artifact (a fresh copy)."""
        return self._read_arrays("state.npz", "state")

    def _read_arrays(self, file: str, group: str) -> dict[str, np.ndarray]:
        arrays = arrays_from_file(self.artifact.file(file))
        self._check_tree(arrays, group, f"{file} of {self.artifact.path}", ArtifactError)
        return {n: arrays[n].copy() for n, _ in self.layout[group]}

    def _check_tree(self, tree: Mapping[str, np.ndarray], group: str, what: str, error=ValueError,
                    steps: int | None = None) -> None:
        expected = self.layout[group]
        names = [n for n, _ in expected]
        missing = [n for n in names if n not in tree]
        extra = [n for n in tree if n not in names]
        if missing or extra:
            raise error(f"{what}: " + "; ".join(p for p in (
                f"missing {', '.join(missing)}" if missing else "", f"unknown {', '.join(extra)}" if extra else "") if p) + ".")
        for name, shape in expected:
            value = tree[name]
            if not isinstance(value, np.ndarray):
                raise TypeError(f"{what}: '{name}' must be a numpy array, got {type(value).__name__}.")
            full = shape if steps is None else (steps, *shape)
            if value.dtype != self.dtype:
                raise TypeError(f"{what}: '{name}' must have dtype {self.precision}, got {value.dtype} "
                                f"(use .astype(np.{self.dtype.name})).")
            if value.shape != full:
                raise ValueError(f"{what}: '{name}' must have shape {full}, got {value.shape}.")

    def save_state(self, state: Mapping[str, np.ndarray], path: str | Path) -> None:
        """Write `state` atomically (temp file + rename); a crash mid-save keeps the old file."""
        self._check_tree(state, "state", "state to save")
        buffer = io.BytesIO()
        np.savez(buffer, __model__=np.array(self.artifact.manifest.get("cache_key", self.name)),
                 **{n: state[n] for n, _ in self.layout["state"]})
        write_atomic(Path(path), buffer.getvalue())

    def load_state(self, path: str | Path) -> dict[str, np.ndarray]:
        """Read a state written by `save_state` for this model; bit-exact."""
        arrays = arrays_from_file(Path(path))
        key = arrays.pop("__model__", None)
        if key is None or str(key) != self.artifact.manifest.get("cache_key", self.name):
            raise ArtifactError(f"{path} is not a saved state of this artifact ('{self.name}').")
        self._check_tree(arrays, "state", f"state file {path}", ArtifactError)
        return arrays

    # -- running --------------------------------------------------------------------------------
    def run(self, state: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray], *,
            steps: int | None = None, check_finite: bool = True) -> tuple[dict, dict]:
        """Advance T steps in one compiled call; inputs (T, batch, ...) -> outputs (T, batch, ...).

        `steps` is required only when the model has no inputs. `state` is not modified.
        """
        if steps is None:
            if not self.layout["inputs"]:
                raise ValueError(f"'{self.name}' has no inputs: pass steps=T.")
            first = next(iter(inputs.values()), None) if inputs else None
            steps = int(np.shape(first)[0]) if first is not None and np.ndim(first) > 0 else -1
        if not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"`steps` must be a non-negative integer, got {steps!r}.")
        self._check_tree(state, "state", "state")
        self._check_tree(inputs, "inputs", "inputs", steps=steps)
        if check_finite and self.precision != "bfloat16":
            for name, value in inputs.items():
                if not np.all(np.isfinite(value)):
                    raise ValueError(f"inputs: '{name}' contains NaN or Inf (pass check_finite=False to allow).")
        new_state = {n: aligned_copy(state[n]) for n, _ in self.layout["state"]}
        ins = [aligned_copy(inputs[n]) for n, _ in self.layout["inputs"]]
        outs = {n: aligned_empty((steps, *s), self.dtype) for n, s in self.layout["outputs"]}
        args = [*self._param_tensors, *(tvm_ffi.from_dlpack(new_state[n]) for n, _ in self.layout["state"]),
                *(tvm_ffi.from_dlpack(x) for x in ins), *(tvm_ffi.from_dlpack(x) for x in outs.values())]
        with self._lock:
            self._run(int(steps), *args, tvm_ffi.from_dlpack(self._workspace))
        return new_state, outs

    def step(self, state: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray],
             *, check_finite: bool = True) -> tuple[dict, dict]:
        """One step; inputs (batch, ...) -> outputs (batch, ...)."""
        self._check_tree(inputs, "inputs", "inputs")
        new_state, outs = self.run(state, {k: np.asarray(v)[None] for k, v in inputs.items()},
                                   steps=1, check_finite=check_finite)
        return new_state, {k: v[0] for k, v in outs.items()}


def load(path: str | Path, *, check_hashes: bool = True) -> Session:
    """Open, validate and load an artifact directory."""
    return Session(open_artifact(path, check_hashes=check_hashes))
