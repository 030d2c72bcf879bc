"""A run of an artifact as `aotsnn run` and `aotsnn verify --plot` record it, and its .npz file.

    rec = record(session, session.init_state(), inputs, steps, trace=["exc.v_rel"], progress=None)
    save(rec, "run.npz")          # outputs/<leaf>, traces/<leaf> (T, batch, ...), meta (JSON)
    rec = load_recording("run.npz")

Without traces the run goes in chunks (one call when no progress is drawn, so the timing is that
of one compiled call); traced state leaves need the state after every step, so the run goes one
step per call (C bundles: one launch of the harness through `trajectory`). Runtime only: numpy.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from aotsnn.commands.errors import CliError
from aotsnn.commands.progress import task
from aotsnn.runtime.format import bfloat16_bits, bfloat16_values

CHUNKS = 50                     # run calls when progress is drawn
MEMBRANE = ("v", "v_rel", "v_mem")       # the last part of a state leaf that holds a membrane potential


@dataclass
class Recording:
    model: str
    dt: float
    steps: int
    outputs: dict[str, np.ndarray]                  # leaf -> (T, batch, ...) float64
    traces: dict[str, np.ndarray] = field(default_factory=dict)    # state leaf -> (T, batch, ...) after each step
    inputs: str = ""                                 # how the inputs were made
    seconds: float = 0.0
    final_state: dict[str, np.ndarray] = field(default_factory=dict)


def membrane_leaves(state_names: list[str]) -> list[str]:
    """The state leaves that hold membrane potentials (`exc.v_rel`, `lif.v`): the default traces."""
    return [n for n in state_names if n.rsplit(".", 1)[-1] in MEMBRANE]


def to_artifact(session, array: np.ndarray) -> np.ndarray:
    """A float64 array in the session's storage dtype (bfloat16: uint16 bit patterns)."""
    return bfloat16_bits(array) if session.precision == "bfloat16" else np.asarray(array).astype(session.dtype)


def to_float64(session, array: np.ndarray) -> np.ndarray:
    return bfloat16_values(array) if session.precision == "bfloat16" else np.asarray(array, np.float64)


def check_trace(names: list[str], state_names: list[str]) -> list[str]:
    """Refuse trace names that are not state leaves of the artifact."""
    unknown = [n for n in names if n not in state_names]
    if unknown:
        raise CliError(f"--trace: {', '.join(unknown)} is not a state leaf of this artifact; state leaves: "
                       f"{', '.join(state_names)}.")
    return names


def record(session, state: dict, inputs: dict[str, np.ndarray], steps: int, *, trace: list[str],
           progress, description: str = "") -> Recording:
    """Run `session` for `steps` from `state` on float64 `inputs`, recording outputs and `trace`."""
    stored = {k: to_artifact(session, v) for k, v in inputs.items()}
    out_names = [n for n, _ in session.layout["outputs"]]
    outputs: dict[str, list] = {n: [] for n in out_names}
    traces: dict[str, list] = {n: [] for n in trace}
    seconds = 0.0
    with task(progress, f"running {session.name}", total=steps) as advance:
        if trace and hasattr(session, "trajectory") and steps:
            start = time.perf_counter()
            states, outs = session.trajectory(state, stored)
            seconds = time.perf_counter() - start
            for n in trace:
                traces[n] = [s[n][None] for s in states[1:]]
            for n in out_names:
                outputs[n] = [o[n][None] for o in outs]
            state = states[-1]
            advance(steps)
        else:
            chunk = 1 if trace else (steps if progress is None else max(1, math.ceil(steps / CHUNKS)))
            for begin in range(0, max(steps, 1), max(chunk, 1)):
                n_steps = min(chunk, steps - begin)
                part = {k: v[begin:begin + n_steps] for k, v in stored.items()}
                start = time.perf_counter()
                state, outs = session.run(state, part, steps=n_steps)
                seconds += time.perf_counter() - start
                for n in out_names:
                    outputs[n].append(outs[n])
                for n in trace:
                    traces[n].append(state[n][None])
                advance(n_steps)
    shapes = dict(session.layout["outputs"]) | dict(session.layout["state"])
    stack = lambda parts, n: to_float64(session, np.concatenate(parts)) if parts else np.zeros((0, *shapes[n]))
    return Recording(session.name, session.dt, steps, {n: stack(p, n) for n, p in outputs.items()},
                     {n: stack(p, n) for n, p in traces.items()}, description, seconds, state)


def save(rec: Recording, path: str | Path) -> Path:
    """Write `rec` as an .npz that `aotsnn plot` reads."""
    meta = {"model": rec.model, "dt": rec.dt, "steps": rec.steps, "inputs": rec.inputs}
    arrays = {f"outputs/{k}": v for k, v in rec.outputs.items()} | {f"traces/{k}": v for k, v in rec.traces.items()}
    with open(path, "wb") as f:
        np.savez(f, meta=np.array(json.dumps(meta)), **arrays)
    return Path(path)


def load_recording(path: str | Path) -> Recording:
    """Read a run written by `save` (`aotsnn run --save-outputs`); refuses any other .npz."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise CliError(f"{path}: no such file; write one with aotsnn run ARTIFACT --save-outputs {path}.") from None
    except (OSError, ValueError) as exc:
        raise CliError(f"{path} is not a readable .npz: {exc}") from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
        dt, model = float(meta["dt"]), str(meta["model"])
    except (KeyError, ValueError, TypeError):
        raise CliError(f"{path} is not a run saved by aotsnn run --save-outputs (no meta record); "
                       f"write one with aotsnn run ARTIFACT --save-outputs {path}.") from None
    group = lambda prefix: {k[len(prefix):]: v.astype(np.float64) for k, v in arrays.items() if k.startswith(prefix)}
    outputs = group("outputs/")
    return Recording(model, dt, int(meta.get("steps", 0)), outputs, group("traces/"), str(meta.get("inputs", "")))
