"""NIR import/export: the LIF family against float64 NumPy, the analytic LIF, snnTorch's own
simulation of committed graphs (tests/data/nir, made by make_nir_graphs.py), the errors, a round trip."""
from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

nir = pytest.importorskip("nir")

from aotsnn.components import lif  # noqa: E402
from aotsnn.network import Network  # noqa: E402
from aotsnn.nir import from_nir, to_nir  # noqa: E402

DATA = Path(__file__).parents[1] / "data" / "nir"


def run64(net, inputs):
    with jax.enable_x64(True):
        state, out = net.run(net.cast(net.init_state(), np.float64), net.cast(inputs, np.float64),
                             net.cast(net.params, np.float64))
    return {k: np.asarray(v) for k, v in state.items()}, {k: np.asarray(v) for k, v in out.items()}


def reference(kind, p, x, dt, integration, reset):
    """float64 NumPy: the docstring's equations, written out independently of the component."""
    def relax(y, target, tau):
        return y + dt / tau * (target - y) if integration == "euler" else target + (y - target) * np.exp(-dt / tau)
    v, i_syn, spikes, vs = np.zeros(x.shape[1:]), np.zeros(x.shape[1:]), [], []
    for t in range(len(x)):
        drive, before = x[t], v
        if kind.synaptic:
            i_syn = drive = relax(i_syn, p["w_in"] * x[t], p["tau_syn"])
        v = relax(v, p["v_leak"] + p["r"] * drive, p[kind().tau_name] if False else p.get("tau", p.get("tau_mem"))) \
            if kind.leaky else v + dt * p["r"] * drive
        pending = kind.spiking and reset == "subtract_pending"
        owed = np.where(before > p["v_threshold"], p["v_threshold"], 0.0) if pending else 0.0
        s = v - owed > p.get("v_threshold", np.inf)
        if kind.spiking:
            v = np.where(s, v - p["v_threshold"] if reset != "zero" else p["v_reset"], v)
        spikes.append(s.astype(float))
        vs.append(v)
    return np.array(spikes), np.array(vs)


PARAMS = {"tau": 2.0, "tau_mem": 2.0, "tau_syn": 0.7, "r": 3.0, "v_leak": 0.1, "v_threshold": 1.0, "v_reset": -0.2,
          "w_in": 1.5}


@pytest.mark.parametrize("integration", ["euler", "exact"])
@pytest.mark.parametrize("reset", ["zero", "subtract", "subtract_pending"])
@pytest.mark.parametrize("kind", [lif.Integrator, lif.IntegrateAndFire, lif.LeakyIntegrator,
                                  lif.LeakyIntegrateAndFire, lif.CubaLeakyIntegrator, lif.CubaLIF])
def test_neuron_matches_float64_reference(kind, integration, reset):
    n, dt, steps = 7, 0.1, 300
    probe = kind.__new__(kind)
    names = kind.param_names(probe)
    params = {k: PARAMS[k] * (0.1 if k == "r" and not kind.leaky else 1) for k in names}
    options = {"reset": reset} if kind.spiking else {}
    net = Network("one", dt=dt)
    net.add_input("x", (n,))
    net.add(kind("cell", n, integration=integration, **options, **params))
    net.connect("x", "cell.i")
    net.record(*[f"cell.{p.name}" for p in net.components["cell"].outputs])
    x = np.random.default_rng(1).uniform(0, 1, (steps, 1, n))
    _, out = run64(net, {"x": x})
    spikes, v = reference(kind, params, x[:, 0], dt, integration, reset)
    np.testing.assert_allclose(out["cell.v"][:, 0], v, rtol=1e-12, atol=1e-12)   # float64 both: rounding only
    if kind.spiking:
        assert np.array_equal(out["cell.spikes"][:, 0], spikes) and 0 < spikes.sum() < spikes.size


def lif_graph(current: float, tau: float, threshold: float) -> nir.NIRGraph:
    node = nir.LIF(tau=np.array([tau]), r=np.array([1.0]), v_leak=np.array([0.0]), v_threshold=np.array([threshold]),
                   v_reset=np.array([0.0]))
    return nir.NIRGraph.from_list(nir.Input(input_type=np.array([1])), node, nir.Output(output_type=np.array([1])))


def analytic_spike_steps(current, tau, threshold, dt, steps):
    """v(t) = I (1 - exp(-t/tau)) from 0; the first step k with v(k dt) > threshold, then every k steps."""
    period = int(np.floor(-tau / dt * np.log(1 - threshold / current))) + 1
    return np.arange(period, steps + 1, period) - 1           # 0-based step indices


def test_single_lif_spikes_at_the_analytic_steps(tmp_path):
    from aotsnn.export import compile_network
    from aotsnn.runtime import load

    dt, steps, current, tau, threshold = 1e-4, 1000, 1.5, 5e-4, 1.0     # s; exact period 6 steps (t* = 5.49 dt), Euler 5
    net = from_nir(lif_graph(current, tau, threshold), dt=dt, integration="exact", reset="zero")
    inputs = {"input": np.full((steps, 1, 1), current)}
    expected = analytic_spike_steps(current, tau, threshold, dt, steps)
    _, out = run64(net, inputs)
    assert np.array_equal(np.flatnonzero(out[net.nir_outputs["output"]][:, 0, 0]), expected)
    session = load(compile_network(net, tmp_path / "lif.aot"))
    _, compiled = session.run(session.init_state(), {"input": inputs["input"].astype(np.float32)})
    assert np.array_equal(np.flatnonzero(compiled[net.nir_outputs["output"]][:, 0, 0]), expected)
    euler = from_nir(lif_graph(current, tau, threshold), dt=dt, integration="euler", reset="zero")
    _, out = run64(euler, inputs)                 # Euler is not the analytic solution: it fires earlier
    assert not np.array_equal(np.flatnonzero(out[euler.nir_outputs["output"]][:, 0, 0]), expected)


# snnTorch graphs (made by tests/data/nir/make_nir_graphs.py): name, reset, {aotsnn leaf: reference key}
SNNTORCH = {
    "snntorch_cubalif": ("zero", {"n_1.i_syn": "1.syn", "n_1.v_mem": "1.mem", "n_3.i_syn": "3.syn",
                                  "n_3.v_mem": "3.mem"}),
    "snntorch_conv": ("subtract", {"n_1.v_mem": "1.mem"}),
    "snntorch_lif": ("subtract_pending", {"n_1.v_mem": "1.mem", "n_3.v_mem": "3.mem"}),
    "snntorch_rlif": ("subtract_pending", {"n_1_lif.v_mem": "1.mem", "n_3.v_mem": "3.mem"}),
}


@pytest.mark.parametrize("name", sorted(SNNTORCH))
def test_snntorch_graph_matches_snntorch(name):
    """Spikes identical to snnTorch's float64 run; states within rtol = atol = 1e-6. Both run in float64, but
    snnTorch's exporter computes tau = dt/(1 - beta) and r = tau/dt in float32, so the graph's
    decay 1 - dt/tau differs from the simulated beta by ~1e-7 relative (seen: 1.0e-7 relative, 1.0e-6 at |v| = 10)."""
    reset, states = SNNTORCH[name]
    ref = np.load(DATA / f"{name}.npz")
    net = from_nir(DATA / f"{name}.nir", dt=1e-4, integration="euler", reset=reset)
    for leaf in states:
        net.record(leaf.rpartition(".")[0] + ".v")
    steps = ref["inputs"].shape[0]
    state = net.init_state()
    with jax.enable_x64(True):
        step = jax.jit(net.apply)
        params = net.cast(net.params, np.float64)
        state = net.cast(state, np.float64)
        for t in range(steps):
            state, out = step(params=params, state=state, inputs={"input": ref["inputs"][t]})
            for leaf, key in states.items():
                np.testing.assert_allclose(np.asarray(state[leaf]).reshape(ref[key][t].shape), ref[key][t], rtol=1e-6, atol=1e-6)
    spike_key = sorted(k for k in ref.files if k.endswith(".spikes"))[-1]
    _, out = run64(net, {"input": ref["inputs"]})
    got = out[net.nir_outputs["output"]].reshape(ref[spike_key].shape)
    assert np.array_equal(got, ref[spike_key]) and ref[spike_key].sum() > 0


def test_snntorchs_reset_by_subtraction_needs_the_pending_rule():
    """snnTorch (reset_delay=False) owes a neuron that ended a step above threshold one more
    threshold at its next test; plain "subtract" misses that and the recurrent graph diverges."""
    ref = np.load(DATA / "snntorch_rlif.npz")
    net = from_nir(DATA / "snntorch_rlif.nir", dt=1e-4, integration="euler", reset="subtract")
    _, out = run64(net, {"input": ref["inputs"]})
    got = out[net.nir_outputs["output"]].reshape(ref["3.spikes"].shape)
    assert not np.array_equal(got, ref["3.spikes"])


@pytest.mark.parametrize("target", ["host", "c"])
@pytest.mark.parametrize("name", sorted(SNNTORCH))
def test_snntorch_graph_compiled_matches_snntorch(name, target, tmp_path):
    """float32 artifact: output spikes identical to snnTorch's float64 run, one-step check against JAX float64 passes."""
    from aotsnn import export
    from aotsnn.runtime.harness import load_any
    from aotsnn.targets import get
    from aotsnn.verify import compare

    ok, why = get(target).runs_here()
    if not ok:
        pytest.skip(why)
    reset, _ = SNNTORCH[name]
    ref = np.load(DATA / f"{name}.npz")
    net = from_nir(DATA / f"{name}.nir", dt=1e-4, integration="euler", reset=reset)
    session = load_any(export.compile_network(net, tmp_path / f"{name}.aot", target=target))
    report = compare(session, net, {"input": ref["inputs"]})
    assert report.passed, report.failures()
    spike_key = sorted(k for k in ref.files if k.endswith(".spikes"))[-1]
    _, out = session.run(session.init_state(), {"input": ref["inputs"].astype(np.float32)})
    assert np.array_equal(np.asarray(out[net.nir_outputs["output"]]).reshape(ref[spike_key].shape), ref[spike_key])


def test_units_and_options_are_checked():
    graph = lif_graph(1.5, 2e-3, 1.0)
    with pytest.raises(ValueError, match=r"time_unit='ms' assumed.*pass time_unit='s'"):
        from_nir(graph, dt=0.1, integration="exact", reset="zero", time_unit="ms")   # tau 2e-3 ms < dt
    with pytest.raises(ValueError, match=r"20000 steps .*time_unit='s' assumed"):
        from_nir(lif_graph(1.5, 2.0, 1.0), dt=1e-4, integration="exact", reset="zero")  # tau 2 s
    net = from_nir(graph, dt=0.1, integration="exact", reset="zero", time_unit="ms", check_units=False)
    assert net.dt == 0.1
    with pytest.raises(ValueError, match="`integration` must be one of"):
        from_nir(graph, dt=1e-4, integration="rk4", reset="zero")
    with pytest.raises(ValueError, match="`dt` must be a positive number"):
        from_nir(graph, dt=-1.0, integration="exact", reset="zero")


def test_unsupported_node_is_named():
    class Custom(nir.Scale):
        pass

    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([3])), "odd": Custom(np.ones(3)),
                                "output": nir.Output(output_type=np.array([3]))},
                         edges=[("input", "odd"), ("odd", "output")], type_check=False)
    with pytest.raises(ValueError, match=r"NIR node 'odd' \(Custom\) is not supported"):
        from_nir(graph, dt=1e-4, integration="euler", reset="zero")


def test_round_trip_through_nir_file(tmp_path):
    ref = np.load(DATA / "snntorch_conv.npz")
    net = from_nir(DATA / "snntorch_conv.nir", dt=1e-4, integration="euler", reset="subtract")
    nir.write(tmp_path / "again.nir", to_nir(net))
    again = from_nir(tmp_path / "again.nir", dt=1e-4, integration="euler", reset="subtract")
    _, a = run64(net, {"input": ref["inputs"]})
    _, b = run64(again, {"input": ref["inputs"]})
    assert np.array_equal(a[net.nir_outputs["output"]], b[again.nir_outputs["output"]])


def test_to_nir_refuses_components_without_a_node():
    from aotsnn.demo import build_ei_network

    with pytest.raises(ValueError, match=r"to_nir: .*\(Exponential(Synapse|Soma)\) has no NIR node"):
        to_nir(build_ei_network(n_exc=8, n_inh=2))
