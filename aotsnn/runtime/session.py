"""Run an artifact: the thin runtime. Imports only the standard library, numpy and tvm_ffi.

    session = aotsnn.runtime.load("net.aot")
    state = session.init_state()
    state, outputs = session.run(state, inputs)      # inputs: name -> (T, batch, ...)
    state, outputs = session.step(state, inputs)     # inputs: name -> (batch, ...)

State and parameters are dicts of numpy arrays keyed by leaf name, in the artifact precision
(bfloat16 leaves as their uint16 bit patterns: see `bfloat16_bits`, `bfloat16_values`).
Inputs and state must have exactly that dtype and shape; NaN/Inf in them are refused (policy:
reject at the boundary; `check_finite=False` lets them propagate). Parameters must be finite in
the artifact precision and obey the model's range rules. Every error names the leaf and what
was expected (docs/errors.md lists them). A Session is safe to share between threads (calls
are serialised); independent sessions of one artifact share nothing.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Mapping

import numpy as np
import tvm_ffi

from aotsnn.runtime.artifact import Artifact, open_artifact
from aotsnn.runtime.checks import LayoutChecks, integer_leaves_of, integer_state_of
from aotsnn.runtime.dlpack import tensor
from aotsnn.runtime.format import ArtifactError, aligned_empty, arrays_from_file, is_aligned, numpy_dtype
from aotsnn.runtime.library import check_identity, load_library
from aotsnn.runtime.monitors import Recording
from aotsnn.runtime.params import ParamChecker
from aotsnn.runtime.statefile import StateFiles
from aotsnn.runtime.stepper import Stepper

def aligned_copy(array: np.ndarray) -> np.ndarray:
    out = aligned_empty(array.shape, array.dtype)
    out[...] = array
    return out


class Session(Recording, LayoutChecks, StateFiles):
    """A loaded artifact with its parameters; runs steps from any state the caller gives."""

    def __init__(self, artifact: Artifact) -> None:
        self.artifact = artifact
        m = artifact.manifest
        self.name, self.dt, self.precision = m["model"], float(m["dt"]), m["precision"]
        self.dtype = numpy_dtype(self.precision)
        self.layout = {g: [(l["name"], tuple(l["shape"])) for l in m["layout"][g]]
                       for g in ("params", "state", "inputs", "outputs")}
        self.integer_state, self.integer_params = integer_state_of(m), integer_leaves_of(m, "params")
        self.param_rules = m.get("param_rules", {})
        self.topology = m.get("topology", {})
        self._checker = ParamChecker(m)
        self._module = load_library(artifact.library, m["files"].get("model.so") if artifact.hashes_checked else None,
                                    m.get("file_bytes", {}).get("model.so"))
        check_identity(self._module, m, artifact.path)
        try:
            self._run = self._module["aotsnn_run"]
        except Exception as exc:
            raise ArtifactError(f"{artifact.path}: model.so has no function aotsnn_run: {exc}") from exc
        self._threads = self._module.get_function("aotsnn_threads") if self._module.implements_function(
            "aotsnn_threads") else None
        try:
            self._workspace = aligned_empty((m["build"]["workspace_bytes"],), np.uint8)
        except MemoryError as exc:
            raise ArtifactError(f"{artifact.path}: cannot allocate the workspace of "
                                f"{m['build']['workspace_bytes']} bytes the manifest asks for.") from exc
        self._lock = threading.Lock()
        self._params: dict[str, np.ndarray] = {}
        try:        # read aligned, so the checked values are the kernels' tensors: one copy in memory
            self._install({name: array if is_aligned(array) else aligned_copy(array) for name, array
                           in self._checker.stage(self._read_arrays("params.npz", "params")).items()})
        except (ValueError, TypeError) as exc:      # e.g. a mask that is not the compiled connectivity
            raise ArtifactError(f"params.npz of {artifact.path}: {exc}") from exc
        self._initial_state = self._read_arrays("state.npz", "state")     # read once: checked at load

    # -- threads ------------------------------------------------------------------------------
    @property
    def threads(self) -> int:
        """Threads of the kernels' parallel loops (default: AOTSNN_NUM_THREADS, else every CPU
        this process may use). Per session; results do not depend on it: every element is computed
        the same way by whichever thread computes it."""
        return 1 if self._threads is None else int(self._threads(0))

    @threads.setter
    def threads(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"`threads` must be an integer >= 1, got {n!r}.")
        if self._threads is None:
            raise ArtifactError(f"{self.artifact.path}: model.so has no thread pool (built by an older aotsnn); "
                                "recompile the artifact to set `threads`.")
        with self._lock:
            self._threads(int(n))

    # -- parameters ---------------------------------------------------------------------------
    @property
    def params(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self._params.items()}

    def set_params(self, **values: object) -> None:
        """Change parameters by leaf name, e.g. `set_params(**{"exc.potential_tau": 10.0})`.

        Values (real numbers, any shape-matching array or scalar) are cast to the artifact
        precision (for bfloat16, uint16 arrays are taken as bit patterns); shapes must match; the
        cast values must be finite and obey the model's range rules (e.g. tau > 0; see
        aotsnn.runtime.params). Either every value is taken or none is, and concurrent calls from
        several threads each take effect whole (none is lost). No recompilation happens.
        """
        self._install({name: aligned_copy(array) for name, array in self._checker.stage(values).items()})

    def _install(self, staged: dict[str, np.ndarray]) -> None:
        """Make checked, aligned parameter arrays (owned by the session) the kernels' tensors."""
        with self._lock:
            merged = {**self._params, **staged}
            tensors = [tensor(merged[n], self.leaf_precision("params", n)) for n, _ in self.layout["params"]] \
                if len(merged) == len(self.layout["params"]) else None
            self._params, self._param_tensors = merged, tensors
            self._derived_stale = True      # the kernels that read only parameters must run again

    def as_float(self, array: np.ndarray) -> np.ndarray:
        """The values of an array of the artifact dtype as float64 (decodes bfloat16 bits)."""
        return self._checker.as_float(array)

    # -- state ----------------------------------------------------------------------------------
    def init_state(self) -> dict[str, np.ndarray]:
        """The initial state stored in the artifact (a fresh copy)."""
        return {k: v.copy() for k, v in self._initial_state.items()}

    def _read_arrays(self, file: str, group: str) -> dict[str, np.ndarray]:
        arrays = arrays_from_file(self.artifact.file(file))
        self._check_tree(arrays, group, f"{file} of {self.artifact.path}", ArtifactError)
        return {n: arrays[n] for n, _ in self.layout[group]}      # fresh arrays: no copy needed

    # -- running --------------------------------------------------------------------------------
    # `run` (aotsnn.runtime.monitors.Recording): one call, or chunks with monitors.
    def _run_once(self, state: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray], steps: int | None,
                  check_finite: bool) -> tuple[dict, dict]:
        """T steps in one compiled call: every output (T, batch, ...)."""
        steps = self._check_run(state, inputs, steps, check_finite)
        new_state = {n: aligned_copy(state[n]) for n, _ in self.layout["state"]}
        ins = [np.ascontiguousarray(inputs[n]) for n, _ in self.layout["inputs"]]   # any alignment: read step by step
        outs = {n: np.empty((steps, *s), self.dtype) for n, s in self.layout["outputs"]}
        args = [*(tensor(new_state[n], self.leaf_precision("state", n)) for n, _ in self.layout["state"]),
                *(tensor(x, self.precision) for x in ins), *(tensor(x, self.precision) for x in outs.values())]
        with self._lock:
            self._run(int(steps), int(self._derived_stale), *self._param_tensors, *args,
                      tvm_ffi.from_dlpack(self._workspace))
            self._derived_stale = False
        return new_state, outs

    def stepper(self, state: Mapping[str, np.ndarray] | None = None, *, check_finite: bool = True) -> "Stepper":
        """A live simulation from `state` (default: the initial state), stepped in place with
        `advance`: the fast path for one step at a time (see aotsnn.runtime.stepper)."""
        return Stepper(self, state, check_finite=check_finite)


def load(path: str | Path, *, check_hashes: bool = True, threads: int | None = None) -> Session:
    """Open, validate and load an artifact directory; `threads` sets `Session.threads`."""
    session = Session(open_artifact(path, check_hashes=check_hashes))
    if threads is not None:
        session.threads = threads
    return session
