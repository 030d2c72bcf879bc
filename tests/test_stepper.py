"""The stateful fast path (Session.stepper / Stepper.advance): bit-identical to Session.run in
every precision, in place, inputs recognised by identity, outputs in reused or given buffers,
per-leaf push/pull, and NaN/Inf still refused on every call."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import reliability_support as support
from aotsnn.runtime import load

STEPS = 120


def advance_all(live, inputs, steps, out=None, own=False):
    """advance() over the time axis of `inputs`, refilling the same input buffers each step: the
    stepper's own (`live.inputs`, advance()) or arrays of ours (advance(buffers))."""
    buffers = live.inputs if own else {k: np.empty(v.shape[1:], v.dtype) for k, v in inputs.items()}
    trace = {}
    for t in range(steps):
        for k, buffer in buffers.items():
            buffer[...] = inputs[k][t]
        for k, v in (live.advance(out=out) if own else live.advance(buffers, out=out)).items():
            trace.setdefault(k, []).append(v.copy())
    return {k: np.stack(v) for k, v in trace.items()}


@pytest.mark.parametrize("own", [False, True], ids=["given-inputs", "own-inputs"])
@pytest.mark.parametrize("precision", support.PRECISIONS)
def test_advancing_step_by_step_equals_one_run(precision, own):
    session = load(support.artifact(precision))
    inputs = support.inputs(STEPS, precision)
    final, outputs = session.run(session.init_state(), inputs)
    live = session.stepper()
    trace = advance_all(live, inputs, STEPS, own=own)
    assert outputs["exc.spikes"].sum() > 0
    for name, values in outputs.items():
        np.testing.assert_array_equal(trace[name], values, err_msg=name)
    for name, value in final.items():
        np.testing.assert_array_equal(live.pull(name), value, err_msg=name)


def test_outputs_go_into_given_buffers_and_state_moves_in_place(small_artifact, small_inputs):
    session = load(small_artifact)
    _, outputs = session.run(session.init_state(), small_inputs)
    live = session.stepper()
    out = {name: np.full(shape, -1.0, np.float32) for name, shape in session.layout["outputs"]}
    trace = advance_all(live, small_inputs, STEPS, out=out)
    for name, values in outputs.items():
        np.testing.assert_array_equal(trace[name], values[:STEPS])
        np.testing.assert_array_equal(out[name], values[STEPS - 1])      # the given arrays hold the last step


def test_reset_push_pull_and_state(small_artifact, small_inputs):
    session = load(small_artifact)
    live = session.stepper()
    start = live.state()
    advance_all(live, small_inputs, 50)
    middle = live.state()
    assert any(not np.array_equal(middle[k], start[k]) for k in start)
    live.reset(middle)                                           # a saved state resumes exactly
    a = advance_all(live, {k: v[50:] for k, v in small_inputs.items()}, 50)
    _, b = session.run(middle, {k: v[50:100] for k, v in small_inputs.items()})
    np.testing.assert_array_equal(a["exc.spikes"], b["exc.spikes"])
    leaf = "exc.v_rel"
    live.push(leaf, np.full_like(live.pull(leaf), 5.0))
    assert np.all(live.pull(leaf) == 5.0)
    pulled = live.pull(leaf)
    pulled[...] = 0.0                                            # a pulled leaf is a copy
    assert np.all(live.pull(leaf) == 5.0)
    with pytest.raises(KeyError, match="no state leaf 'exc.v'"):
        live.pull("exc.v")
    with pytest.raises(ValueError, match="push: 'exc.v_rel' must have shape"):
        live.push(leaf, np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="must have dtype float32"):
        live.push(leaf, np.zeros_like(pulled, dtype=np.float64))
    live.reset()
    for k, v in start.items():
        np.testing.assert_array_equal(live.pull(k), v)


def test_an_input_buffer_is_read_afresh_every_step(small_artifact):
    """Inputs are recognised by identity (checked once), but their contents are read each call."""
    session = load(small_artifact)
    live = session.stepper()
    drive = {name: np.zeros(shape, np.float32) for name, shape in session.layout["inputs"]}
    quiet = sum(live.advance(drive)["exc.spikes"].sum() for _ in range(100))
    for buffer in drive.values():
        buffer[...] = 5000.0
    loud = sum(live.advance(drive)["exc.spikes"].sum() for _ in range(100))
    assert quiet == 0 and loud > 0


def test_bad_inputs_and_non_finite_values_are_refused(small_artifact):
    session = load(small_artifact)
    live = session.stepper()
    drive = {name: np.zeros(shape, np.float32) for name, shape in session.layout["inputs"]}
    with pytest.raises(ValueError, match="inputs: missing drive_inh"):
        live.advance({"drive_exc": drive["drive_exc"]})
    with pytest.raises(TypeError, match="must have dtype float32"):
        live.advance({**drive, "drive_exc": drive["drive_exc"].astype(np.float64)})
    with pytest.raises(ValueError, match="must have shape"):
        live.advance({**drive, "drive_exc": np.zeros((2, 40), np.float32)})
    strided = np.zeros((1, 80), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="must be C-contiguous"):
        live.advance({**drive, "drive_exc": strided})
    drive["drive_exc"][0, 3] = np.nan
    with pytest.raises(ValueError, match="'drive_exc' contains NaN or Inf"):
        live.advance(drive)
    drive["drive_exc"][0, 3] = 0.0
    live.advance(drive)                                          # the same buffer, finite again
    live.inputs["drive_inh"][0, 1] = np.inf
    with pytest.raises(ValueError, match="'drive_inh' contains NaN or Inf"):
        live.advance()                                           # the stepper's own buffers too
    live.inputs["drive_inh"][0, 1] = 0.0
    with pytest.raises(ValueError, match="contains NaN or Inf"):
        live.push("exc.v_rel", np.full((1, 40), np.inf, np.float32))
    session.set_params(**{"exc.resistance": 1e38})
    drive["drive_exc"][...] = -3e38
    with pytest.raises(ValueError, match="became NaN or Inf"):
        for _ in range(5):
            live.advance(drive)
    unchecked = session.stepper(check_finite=False)
    unchecked.push("exc.v_rel", np.full((1, 40), np.nan, np.float32))
    unchecked.advance(drive)                                     # lets it through, as check_finite=False does


def test_steppers_of_one_session_share_nothing_but_the_library(small_artifact, small_inputs):
    session = load(small_artifact)
    _, want = session.run(session.init_state(), small_inputs)
    results = {}

    def work(key):
        results[key] = advance_all(session.stepper(), small_inputs, STEPS)["exc.spikes"]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for trace in results.values():
        np.testing.assert_array_equal(trace, want["exc.spikes"][:STEPS])
