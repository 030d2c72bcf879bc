"""Monitors of Session.run (host and C bundle): record=, every=, chunk= and streamed inputs give
exactly what a plain full run gives, reduced; bad arguments are refused (docs/errors.md)."""
from __future__ import annotations

import numpy as np
import pytest

from aotsnn.demo import build_ei_network, demo_inputs
from aotsnn.export import compile_network
from aotsnn.runtime.harness import load_any

T, EVERY, CHUNK = 250, 7, 60          # chunks and bins that do not divide T or each other


@pytest.fixture(scope="module")
def sessions(tmp_path_factory):
    root = tmp_path_factory.mktemp("monitors")
    small = dict(n_exc=40, n_inh=10, p_conn=0.2)
    return {"poisson-host": load_any(compile_network(build_ei_network(**small, drive="poisson", counter=True),
                                                     root / "p-host.aot", target="host")),
            "poisson-c": load_any(compile_network(build_ei_network(**small, drive="poisson", counter=True),
                                                  root / "p-c.aot", target="c")),
            "current-host": load_any(compile_network(build_ei_network(**small, batch=2), root / "i-host.aot",
                                                     target="host"))}


def expected(full: np.ndarray, dt: float) -> dict[str, np.ndarray]:
    """The monitors of one port, computed from the full (T, batch, n) run."""
    n = full.shape[2]
    bins = [full[b:b + EVERY].astype(np.float64) for b in range(0, T, EVERY)]
    t, b, j = np.nonzero(full)
    return {"dense": full[::EVERY], "events": np.stack([t, b, j], axis=1),
            "rate": np.stack([x.sum(axis=(0, 2)) * 1e3 / (n * dt * x.shape[0]) for x in bins]),
            "count": full.astype(np.float64).sum(axis=0)}


@pytest.mark.parametrize("which", ["poisson-host", "poisson-c", "current-host"])
def test_monitors_equal_the_full_run(which, sessions):
    session = sessions[which]
    inputs = {k: v.astype(np.float32) for k, v in demo_inputs(build_ei_network(40, 10, batch=2), T).items()} \
        if which.startswith("current") else {}
    s0 = session.init_state()
    full_state, full = session.run(s0, inputs, steps=T)
    assert full["exc.spikes"].sum() > 0
    record = ["exc.spikes", "exc.spikes:events", "exc.spikes:rate", "inh.spikes:count"]
    state, rec = session.run(s0, inputs, steps=T, record=record, every=EVERY, chunk=CHUNK)
    assert sorted(rec) == sorted(record)
    for name in full_state:
        np.testing.assert_array_equal(state[name], full_state[name], err_msg=name)
    want = expected(full["exc.spikes"], session.dt)
    np.testing.assert_array_equal(rec["exc.spikes"], want["dense"])
    np.testing.assert_array_equal(rec["exc.spikes:events"], want["events"])
    assert rec["exc.spikes:events"].dtype == np.int64
    np.testing.assert_array_equal(rec["exc.spikes:rate"], want["rate"])
    np.testing.assert_array_equal(rec["inh.spikes:count"], expected(full["inh.spikes"], session.dt)["count"])
    if "count_exc.counts" in state:        # the SpikeCounter in the state agrees with the monitor
        np.testing.assert_array_equal(state["count_exc.counts"], want["count"])


def test_streamed_inputs_equal_the_full_run(sessions):
    session = sessions["current-host"]
    inputs = {k: v.astype(np.float32) for k, v in demo_inputs(build_ei_network(40, 10, batch=2), T).items()}
    full_state, full = session.run(session.init_state(), inputs)
    asked = []

    def stream(start: int, n: int) -> dict[str, np.ndarray]:
        asked.append((start, n))
        return {k: v[start:start + n].copy() for k, v in inputs.items()}

    state, rec = session.run(session.init_state(), stream, steps=T, chunk=CHUNK)
    assert asked == [(s, min(CHUNK, T - s)) for s in range(0, T, CHUNK)]
    for name in full:
        np.testing.assert_array_equal(rec[name], full[name], err_msg=name)
    for name in full_state:
        np.testing.assert_array_equal(state[name], full_state[name], err_msg=name)


def test_zero_steps_and_nothing_recorded(sessions):
    session = sessions["poisson-host"]
    s0 = session.init_state()
    state, rec = session.run(s0, steps=0, record=["exc.spikes", "exc.spikes:events", "exc.spikes:rate"])
    assert rec["exc.spikes"].shape == (0, 1, 40) and rec["exc.spikes:events"].shape == (0, 3)
    assert rec["exc.spikes:rate"].shape == (0, 1)
    state, rec = session.run(s0, steps=100, record=[], chunk=30)
    assert rec == {} and state["count_exc.counts"].sum() == session.run(s0, steps=100)[0]["count_exc.counts"].sum()


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(record="exc.spikes"), TypeError, "`record` must be a list of output names"),
    (dict(record=["exc.v"]), ValueError, "'exc.v' is not an output of 'ei_demo'"),
    (dict(record=["exc.spikes:hist"]), ValueError, "asks for kind 'hist'"),
    (dict(record=["exc.spikes:rate", "exc.spikes:rate"]), ValueError, "names 'exc.spikes:rate' twice"),
    (dict(every=0), ValueError, "`every` must be a positive integer"),
    (dict(chunk=2.5), ValueError, "`chunk` must be a positive integer"),
])
def test_bad_monitor_arguments_are_refused(sessions, kwargs, error, message):
    session = sessions["poisson-host"]
    with pytest.raises(error, match=message):
        session.run(session.init_state(), steps=10, **kwargs)


def test_streamed_inputs_need_steps(sessions):
    session = sessions["current-host"]
    with pytest.raises(ValueError, match="inputs given as a function need steps=T"):
        session.run(session.init_state(), lambda start, n: {})
