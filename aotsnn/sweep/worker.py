"""The part of a sweep that runs on a worker: numpy and the thin runtime only (no jax, no TVM).

The artifact reaches a worker as the bytes of a tar of its directory (`artifact_blob`) together
with its content hash, the manifest's self-seal. It is unpacked once per machine and loaded once
per worker thread (`load` checks every file hash and the seal against the expected one); the
thread keeps the Session and runs
every task it gets on it: a task is a pack of runs that share parameters; with a batch-B artifact
up to B of them (different seeds, and different values of the artifact's per-sample parameters,
`Network.per_sample`) run side by side in one call, one sample each.
"""
from __future__ import annotations

import io
import json
import shutil
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from aotsnn.runtime import Session, bfloat16_bits, bfloat16_values, load
from aotsnn.runtime.format import MANIFEST, SEAL
from aotsnn.sweep.inputs import make_inputs

# Per thread (a Dask worker may run several tasks at once; a task's set_params and run must not
# interleave with another's): digest -> (session, its build-time params), digest -> overrides set.
_LOCAL = threading.local()


def _cache(name: str) -> dict:
    if not hasattr(_LOCAL, name):
        setattr(_LOCAL, name, {})
    return getattr(_LOCAL, name)


def artifact_digest(path: str | Path) -> str:
    """The artifact's content hash: the seal of its manifest (which hashes every file)."""
    return json.loads((Path(path) / MANIFEST).read_text())[SEAL]


def artifact_blob(path: str | Path) -> bytes:
    """The artifact directory as tar bytes (regular files at its top level only)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for file in sorted(Path(path).iterdir()):
            if file.is_file() and not file.is_symlink():
                tar.add(file, arcname=file.name, recursive=False)
    return buffer.getvalue()


def session_for(digest: str, blob: bytes, threads: int) -> tuple[Session, dict[str, np.ndarray]]:
    """This thread's Session of the artifact `digest`, unpacked and loaded on first use."""
    sessions = _cache("sessions")
    if digest not in sessions:
        session = load(unpacked(digest, blob), threads=threads)
        sessions[digest] = (session, session.params)
    return sessions[digest]


def unpacked(digest: str, blob: bytes) -> Path:
    """The artifact's directory on this machine: <tmp>/aotsnn-sweep/<digest>/model.aot, shared by
    every worker process and every later sweep of the same artifact (one copy per artifact, not
    one per process). Unpacked next to it and renamed into place, so a reader never sees half of
    it; whoever loses a race to rename drops its copy. `load` checks every file against the seal."""
    home = Path(tempfile.gettempdir()) / "aotsnn-sweep" / digest
    final = home / "model.aot"
    if not (final / MANIFEST).is_file():
        home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix="unpacking-", dir=home))
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
            tar.extractall(staging, filter="data")      # refuses absolute paths, '..', links out of it
        try:
            staging.rename(final)
        except OSError:                                 # another process put it there first
            shutil.rmtree(staging, ignore_errors=True)
    found = artifact_digest(final)
    if found != digest:
        raise RuntimeError(f"sweep worker: {final} has seal {found}, expected {digest}; remove that directory.")
    return final


def apply_params(digest: str, session: Session, defaults: dict[str, np.ndarray], overrides: dict[str, Any]) -> None:
    """Set `overrides` on the session and put back the defaults of the previous run's other
    overrides; parameters no run touched are never re-sent (set_params casts and checks each)."""
    applied = _cache("applied")
    previous = applied.get(digest, {})
    restore = {name: defaults[name] for name in previous if name not in overrides}
    changed = {name: value for name, value in overrides.items()
               if name not in previous or not np.array_equal(previous[name], value)}
    session.set_params(**restore, **changed)       # all or nothing: on an error `previous` still holds
    applied[digest] = dict(overrides)


def reduce_output(values: np.ndarray, reduction: str) -> np.ndarray:
    """(steps, *shape) -> what the monitor keeps: sum/mean over time, the last step, or all of it."""
    return {"sum": lambda v: v.sum(axis=0), "mean": lambda v: v.mean(axis=0),
            "last": lambda v: v[-1], "full": lambda v: v}[reduction](values)


def run_packs(digest: str, blob: bytes, packs: list[list[dict[str, Any]]], steps: int, recipe: dict[str, Any],
              monitors: dict[str, str], threads: int = 1) -> list[dict[str, Any]]:
    """`run_pack` for each pack of one task, the records in order."""
    return [record for pack in packs for record in run_pack(digest, blob, pack, steps, recipe, monitors, threads)]


def run_pack(digest: str, blob: bytes, runs: list[dict[str, Any]], steps: int, recipe: dict[str, Any],
             monitors: dict[str, str], threads: int = 1) -> list[dict[str, Any]]:
    """Run `runs` (same params, different seeds; at most the artifact's batch) and reduce their
    outputs. Returns one record per run: run_id, status ("ok", "failed", "non-finite"), message,
    values (monitor leaf -> float64 array)."""
    session, defaults = session_for(digest, blob, threads)
    try:
        apply_params(digest, session, defaults, pack_params(session, defaults, runs))
    except (ValueError, TypeError) as exc:
        return [failed(run, "failed", str(exc)) for run in runs]
    layout = [(name, shape[1:]) for name, shape in session.layout["inputs"]]
    made = [make_inputs(recipe, layout, steps, run["seed"]) for run in runs]
    spare = [made[0]] * (batch_of(session) - len(runs))          # unused samples repeat the first run
    joined = made[0] if len(made + spare) == 1 else \
        {name: np.concatenate([m[name] for m in made + spare], axis=1) for name, _ in layout}
    inputs = {name: cast(session, joined[name]) for name, _ in layout}
    try:
        final, outputs = session.run(session.init_state(), inputs)
    except (ValueError, ArithmeticError) as exc:
        return [failed(run, "failed", str(exc)) for run in runs]
    records = []
    for sample, run in enumerate(runs):
        values = {leaf: decode(session, outputs[leaf][:, sample]) for leaf in monitors}
        finite = all(np.isfinite(decode(session, v[sample])).all() for v in final.values())
        if not finite or not all(np.isfinite(v).all() for v in values.values()):
            records.append(failed(run, "non-finite", "the state or a monitored output became NaN or Inf"))
            continue
        records.append({"run_id": run["run_id"], "status": "ok", "message": "",
                        "values": {leaf: reduce_output(v, monitors[leaf]) for leaf, v in values.items()}})
    return records


def pack_params(session: Session, defaults: dict[str, np.ndarray], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The overrides of one call: the runs' shared ones (those of the first run), and for each
    per-sample parameter a run sets, its values stacked along the batch axis (a run's value, or the
    default of its sample; unused samples repeat the first run)."""
    per_sample = per_sample_of(session)
    overrides = {k: v for k, v in runs[0]["params"].items() if k not in per_sample}
    batch = batch_of(session)
    for name in sorted({k for run in runs for k in run["params"] if k in per_sample}):
        samples = [run["params"].get(name, defaults[name][b]) for b, run in enumerate(runs)]
        samples += [samples[0]] * (batch - len(runs))
        shapes = {np.shape(value) for value in samples}
        if shapes != {defaults[name].shape[1:]}:
            raise ValueError(f"parameter '{name}' is per sample: a run gives one sample's value, of shape "
                             f"{defaults[name].shape[1:]}, got {sorted(shapes)}.")
        overrides[name] = np.stack([np.asarray(value, np.float64) for value in samples])
    return overrides


def per_sample_of(session: Session) -> tuple[str, ...]:
    """The artifact's per-sample parameters (one value per sample along the batch axis)."""
    return tuple(session.artifact.manifest.get("per_sample_params", []))


def batch_of(session: Session) -> int:
    """Samples per call: the leading axis of the artifact's inputs (1 without inputs)."""
    return session.layout["inputs"][0][1][0] if session.layout["inputs"] else 1


def failed(run: dict[str, Any], status: str, message: str) -> dict[str, Any]:
    return {"run_id": run["run_id"], "status": status, "message": message, "values": {}}


def cast(session: Session, values: np.ndarray) -> np.ndarray:
    """Inputs in the artifact's dtype (bfloat16 as bit patterns)."""
    if session.precision == "bfloat16":
        return bfloat16_bits(values)
    return values.astype(session.dtype)


def decode(session: Session, values: np.ndarray) -> np.ndarray:
    """Artifact values as float64 (bfloat16 bit patterns decoded)."""
    return (bfloat16_values(values) if session.precision == "bfloat16" else values).astype(np.float64)
