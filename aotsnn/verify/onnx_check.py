"""The artifact's step.onnx run by onnxruntime: a third, independent implementation of the step.

    onnxruntime_steps(session, states, inputs) -> (new states, outputs), stacked over steps, or None

Step t starts from the artifact's own state s_t (as the one-step check does), so the result can
be held against the same float64 JAX reference. None when onnxruntime is not installed, the
artifact has no step.onnx, or the precision is not float32/float64 (onnxruntime's CPU kernels).
OnnxRuntimeError says why onnxruntime refused a model it should run (e.g. a missing kernel).
"""
from __future__ import annotations

import importlib.util

import numpy as np

PRECISIONS = ("float32", "float64")


class OnnxRuntimeError(RuntimeError):
    """onnxruntime could not load or run step.onnx."""


def onnxruntime_steps(session, states: list[dict], inputs: dict[str, np.ndarray]) \
        -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]] | None:
    """Run step.onnx once per step t from `states[t]` with `inputs[name][t]`."""
    path = session.artifact.file("step.onnx")
    if importlib.util.find_spec("onnxruntime") is None or not path.is_file() or session.precision not in PRECISIONS:
        return None
    import onnxruntime

    try:
        runner = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:      # onnxruntime raises its own pybind error types
        raise OnnxRuntimeError(f"onnxruntime cannot load step.onnx: {exc}") from exc
    state_names = [n for n, _ in session.layout["state"]]
    output_names = [n for n, _ in session.layout["outputs"]]
    fetch = [f"{n}:next" for n in state_names] + output_names
    params = session.params
    results = []
    for t, state in enumerate(states):
        feed = {**params, **state, **{k: v[t] for k, v in inputs.items()}}
        results.append(runner.run(fetch, {k: np.asarray(v) for k, v in feed.items()}))
    stacked = [np.stack([r[i] for r in results]) for i in range(len(fetch))]
    return dict(zip(state_names, stacked[:len(state_names)])), dict(zip(output_names, stacked[len(state_names):]))
