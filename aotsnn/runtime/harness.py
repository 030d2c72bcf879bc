"""Run a C bundle artifact through its test harness: natively, under qemu-user or bare metal
under qemu-system. Imports only the standard library, numpy and aotsnn.targets.

    session = load("net.aot")                        # an artifact of a "c-bundle" target
    state, outputs = session.run(session.init_state(), inputs)     # inputs: (T, batch, ...)

The interface is that of aotsnn.runtime.Session, with its checks and messages (init_state,
params, set_params, run, step, save_state and load_state: aotsnn.runtime.checks and
aotsnn.runtime.statefile, shared with it), so aotsnn.verify and `aotsnn run` treat every target
the same way. What cannot apply is refused with an ArtifactError that says why: setting
`threads` (a bundle has no thread pool; reading it gives 1) and `stepper()` (a bundle's state
does not outlive a call). Beyond the Session interface:

- `trajectory(state, inputs)`: the state after every step (T calls of `<model>_step` in one
  launch of the harness), which the one-step check needs;
- `last_run_seconds`: the harness's own clock around `<model>_run` in the last `run`, without
  process start and file I/O (under an emulator: emulated speed, not the device's).

Each call writes the parameters (each float leaf's stored values: `build.param_storage`; integer
synapse indices are compiled into the bundle and not sent), the state and the inputs as the
packed structs of `<model>.h` (leaves in layout order, artifact precision) to a temporary
directory, runs the harness there (`job.bin` says what to do) and reads its results back.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

from aotsnn.runtime.artifact import Artifact, open_artifact
from aotsnn.runtime.checks import LayoutChecks, integer_leaves_of, integer_state_of
from aotsnn.runtime.format import (MANIFEST, SEAL, ArtifactError, arrays_from_file, manifest_digest, sha256_of)
from aotsnn.runtime.monitors import Recording
from aotsnn.runtime.params import STORAGE_KINDS, ParamChecker, stored_values
from aotsnn.runtime.statefile import StateFiles
from aotsnn.targets import require

RUN, TRACE = 0, 1
HARNESS_SECONDS = 600
GROUPS = ("params", "state", "inputs", "outputs")


class HarnessSession(Recording, LayoutChecks, StateFiles):
    """A C bundle artifact and its parameters; every run launches the harness once."""

    def __init__(self, artifact: Artifact) -> None:
        self.artifact = artifact
        m = artifact.manifest
        self.name, self.dt, self.precision = m["model"], float(m["dt"]), m["precision"]
        self.dtype = np.dtype(self.precision)
        self.layout = {g: [(leaf["name"], tuple(leaf["shape"])) for leaf in m["layout"][g]] for g in GROUPS}
        self.integer_state, self.integer_params = integer_state_of(m), integer_leaves_of(m, "params")
        self.param_rules = m.get("param_rules", {})
        self.topology = m.get("topology", {})
        self.target = require(m["target"]["name"])
        self.harness = artifact.path / "c" / "harness"
        self.last_run_seconds: float | None = None
        self._checker = ParamChecker(m)
        self._stored = self._param_storage(m)
        try:
            self._params = self._checker.stage(self._read_arrays("params.npz", "params"))
        except (ValueError, TypeError) as exc:      # e.g. a mask that is not the compiled connectivity
            raise ArtifactError(f"params.npz of {artifact.path}: {exc}") from exc

    # -- parameters and state -------------------------------------------------------------------
    @property
    def params(self) -> dict[str, np.ndarray]:
        return {k: v.copy() for k, v in self._params.items()}

    def set_params(self, **values: object) -> None:
        """Change parameters by leaf name, by the rules of `aotsnn.runtime.Session.set_params`
        (aotsnn.runtime.params: shape, precision, range, finiteness, topology); either every value
        is taken or none is."""
        self._params = {**self._params, **self._checker.stage(values)}

    def as_float(self, array: np.ndarray) -> np.ndarray:
        """The values of an array of the artifact dtype as float64."""
        return self._checker.as_float(array)

    # -- what a bundle cannot offer ---------------------------------------------------------------
    @property
    def threads(self) -> int:
        """1: a C bundle's kernels have no thread pool (one thread, in the harness)."""
        return 1

    @threads.setter
    def threads(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"`threads` must be an integer >= 1, got {n!r}.")
        raise ArtifactError(f"{self.artifact.path} is a '{self.target.name}' C bundle: its kernels run in one thread "
                            "(no thread pool), so `threads` cannot be set; compile for target 'host' to use threads.")

    def stepper(self, state: Mapping[str, np.ndarray] | None = None, *, check_finite: bool = True) -> None:
        """Refused: a Stepper keeps the state in the runtime's buffers between calls, and a bundle's
        state lives in a harness process that ends with each call."""
        raise ArtifactError(f"{self.artifact.path} is a '{self.target.name}' C bundle: it has no live stepper (each "
                            "call runs the harness once, from the state it is given); use step(state, inputs), or "
                            "run(state, inputs) over T steps.")

    # -- state ----------------------------------------------------------------------------------
    def init_state(self) -> dict[str, np.ndarray]:
        """The initial state stored in the artifact (a fresh copy)."""
        return self._read_arrays("state.npz", "state")

    def _read_arrays(self, file: str, group: str) -> dict[str, np.ndarray]:
        arrays = arrays_from_file(self.artifact.path / file)
        self._check_tree(arrays, group, f"{file} of {self.artifact.path}", ArtifactError)
        return {n: arrays[n].copy() for n, _ in self.layout[group]}

    # -- packing: the structs of <model>.h --------------------------------------------------------
    def _param_storage(self, manifest: Mapping) -> dict[str, tuple[str, str | None]]:
        """leaf -> (storage, mask) from `build.param_storage` (aotsnn.export.codegen.param_storage);
        absent (an older bundle): every parameter dense."""
        where = f"{MANIFEST} of {self.artifact.path}"
        table = manifest["build"].get("param_storage")
        if table is None:
            return {name: ("dense", None) for name, _ in self.layout["params"]}
        stored = {}
        for name, shape in self.layout["params"]:
            entry = table.get(name) if isinstance(table, dict) else None
            kind = entry.get("storage") if isinstance(entry, dict) else None
            mask = entry.get("mask") if isinstance(entry, dict) else None
            if kind not in STORAGE_KINDS or (kind == "packed" and mask not in self.topology) \
                    or (kind == "indices") != (name in self.integer_params):
                raise ArtifactError(f"{where}: `build.param_storage.{name}` must say how the bundle stores "
                                    f"'{name}' (dense, packed at a topology mask, compiled, or indices for an "
                                    f"integer leaf), got {entry!r}.")
            stored[name] = (kind, mask)
        return stored

    def _pack_params(self) -> bytes:
        """params.bin: each float parameter's stored values in id order: all of them, those at its
        mask's non-zeros (row by row), or none (a mask compiled into the kernels). Integer indices
        are compiled in (topology: ParamChecker refused any other value)."""
        parts = []
        for name, _ in self.layout["params"]:
            kind, mask = self._stored[name]
            if kind == "indices":
                continue
            parts.append(stored_values(np.asarray(self._params[name], self.dtype), kind, self._params.get(mask)))
        return np.concatenate(parts).tobytes() if parts else b""

    def _pack(self, group: str, tree: Mapping[str, np.ndarray], steps: int | None = None) -> bytes:
        """Leaves packed in layout order; with `steps`, one struct per step. An empty struct is
        one byte (C has no empty structs)."""
        rows = 1 if steps is None else steps
        if not self.layout[group]:
            return bytes(rows)
        flat = [np.ascontiguousarray(tree[n], self.leaf_dtype(group, n)).reshape(rows, -1).view(np.uint8)
                for n, _ in self.layout[group]]
        return np.concatenate(flat, axis=1).tobytes()

    def _unpack(self, group: str, data: bytes, steps: int | None = None) -> dict[str, np.ndarray]:
        rows = 1 if steps is None else steps
        if not self.layout[group]:
            return {}
        table = np.frombuffer(data, dtype=np.uint8).reshape(rows, -1)
        out, column = {}, 0
        for name, shape in self.layout[group]:
            dtype = self.leaf_dtype(group, name)
            size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
            block = table[:, column:column + size].copy().view(dtype).reshape((rows, *shape))
            out[name] = block[0].copy() if steps is None else block
            column += size
        return out

    def _launch(self, mode: int, state: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray],
                steps: int) -> dict[str, bytes]:
        with tempfile.TemporaryDirectory(prefix="aotsnn-harness-") as tmp:
            work = Path(tmp)
            (work / "job.bin").write_bytes(np.array([mode, steps], np.int64).tobytes())
            (work / "params.bin").write_bytes(self._pack_params())
            (work / "vars.bin").write_bytes(self._pack("state", state))
            (work / "inputs.bin").write_bytes(self._pack("inputs", inputs, steps))
            command = [*self.target.runner, str(self.harness.resolve())]
            try:
                done = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=HARNESS_SECONDS)
            except subprocess.TimeoutExpired as exc:
                raise RuntimeError(f"the '{self.target.name}' harness of {self.artifact.path} ran longer than "
                                   f"{HARNESS_SECONDS} s for {steps} steps") from exc
            if done.returncode != 0:
                raise RuntimeError(f"the '{self.target.name}' harness of {self.artifact.path} failed (exit "
                                   f"{done.returncode}): {(done.stderr + done.stdout).strip()[-2000:]}")
            names = ("outputs.bin", "vars_out.bin", "seconds.bin") if mode == RUN else ("outputs.bin", "trace.bin")
            return {name: (work / name).read_bytes() for name in names}

    # -- running --------------------------------------------------------------------------------
    # `run` (aotsnn.runtime.monitors.Recording), the host Session's interface: one launch, or one
    # launch per chunk with monitors.
    def _run_once(self, state: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray], steps: int | None,
                  check_finite: bool) -> tuple[dict, dict]:
        """T steps in one `<model>_run`; inputs (T, batch, ...) -> outputs (T, batch, ...)."""
        steps = self._check_run(state, inputs, steps, check_finite)
        if steps == 0:      # no step to take (and C has no zero-length arrays for the harness to read)
            return {k: v.copy() for k, v in state.items()}, self._empty_outputs()
        files = self._launch(RUN, state, inputs, steps)
        self.last_run_seconds = float(np.frombuffer(files["seconds.bin"], np.float64)[0])
        return self._unpack("state", files["vars_out.bin"]), self._unpack("outputs", files["outputs.bin"], steps)

    def _empty_outputs(self) -> dict[str, np.ndarray]:
        return {name: np.empty((0, *shape), self.dtype) for name, shape in self.layout["outputs"]}

    def trajectory(self, state: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray],
                   *, check_finite: bool = True) -> tuple[list[dict], list[dict]]:
        """([s_0, ..., s_T], [outputs of step 0, ...]): T calls of `<model>_step` from `state`."""
        steps = self._check_run(state, inputs, None, check_finite)
        if steps == 0:
            return [dict(state)], []
        files = self._launch(TRACE, state, inputs, steps)
        trace = self._unpack("state", files["trace.bin"], steps)
        outputs = self._unpack("outputs", files["outputs.bin"], steps)
        states = [dict(state)] + [{k: v[t] for k, v in trace.items()} for t in range(steps)]
        return states, [{k: v[t] for k, v in outputs.items()} for t in range(steps)]


def open_bundle(path: str | Path) -> Artifact:
    """Validate a C bundle artifact: everything `open_artifact` checks of a manifest (format
    version, seal, fields), that it is a C bundle, and the SHA-256 of every file it lists."""
    artifact = open_artifact(path, check_hashes=False)      # the files differ from a library's: below
    manifest, where = artifact.manifest, artifact.path / MANIFEST
    if manifest.get(SEAL) != manifest_digest(manifest):
        raise ArtifactError(f"{where} does not match its seal `{SEAL}` (corrupt or edited by hand); "
                            "rebuild the artifact.")
    if manifest["target"].get("artifact") != "c-bundle":
        raise ArtifactError(f"{artifact.path} is not a C bundle artifact; load it with aotsnn.runtime.load.")
    for name, expected in manifest["files"].items():
        file = artifact.path / name
        if not file.is_file() or sha256_of(file) != expected:
            raise ArtifactError(f"{artifact.path}: {name} is missing or does not match its hash in the manifest.")
    return artifact


def load(path: str | Path) -> HarnessSession:
    """Open a C bundle artifact; TargetUnavailableError when its toolchain or emulator is missing."""
    return HarnessSession(open_bundle(path))


def _kind(path: str | Path) -> str:
    try:
        target = json.loads((Path(path) / MANIFEST).read_text()).get("target", {})
        return target.get("artifact", "library") if isinstance(target, dict) else "library"
    except (OSError, ValueError, AttributeError):
        return "library"           # open_artifact says what is wrong with it


def open_any(path: str | Path) -> Artifact:
    """Validate any artifact: `open_bundle` for C bundles, `open_artifact` for libraries."""
    return open_bundle(path) if _kind(path) == "c-bundle" else open_artifact(path)


def load_any(path: str | Path):
    """A session for any artifact: the in-process runtime for libraries, the harness for C bundles."""
    if _kind(path) == "c-bundle":
        return load(path)
    from aotsnn.runtime.session import load as load_library
    return load_library(path)
