"""Sinabs 3.1.3 graphs (tests/data/nir/sinabs_*, made by make_sinabs_graphs.py with `sinabs.to_nir`)
against Sinabs' own float64 simulation: in JAX float64, and compiled (float32) on the host library
and a C bundle. Sinabs' time constants are in time steps, hence dt = 1 (time_unit="ms": tau = 20
is read as 20 ms at dt = 1 ms); its LIF (norm_input=True) is NIR's LIF under exact integration."""
from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pytest

nir = pytest.importorskip("nir")

from aotsnn.nir import from_nir  # noqa: E402

DATA = Path(__file__).parents[1] / "data" / "nir"
# name: (reset, Sequential index of each spiking layer -> its node in the imported network)
SINABS = {
    "sinabs_lif": ("subtract", {"1": "n_1", "3": "n_3"}),      # Linear, LIF, Linear, LIF; MembraneSubtract
    "sinabs_if": ("zero", {"1": "n_1", "3": "n_3"}),           # Linear, IAF, Linear, IAF; MembraneReset(0)
    "sinabs_conv": ("subtract", {"1": "n_1", "5": "n_5"}),     # Conv2d, LIF, SumPool2d, Flatten, Linear, LIF
}


def load(name: str, reset: str | None = None):
    default, layers = SINABS.get(name, ("subtract", {"1": "n_1", "3": "n_3"}))
    net = from_nir(DATA / f"{name}.nir", dt=1.0, integration="exact", reset=reset or default, time_unit="ms")
    for node in layers.values():
        if f"{node}.spikes" not in net.recorded:
            net.record(f"{node}.spikes")
    return net, layers, np.load(DATA / f"{name}.npz")


@pytest.mark.parametrize("name", sorted(SINABS))
def test_sinabs_graph_matches_sinabs_in_float64(name):
    """Every layer's spikes identical to Sinabs' run; v_mem after each step within 1e-12 (both float64:
    they differ only in rounding, alpha v + (1 - alpha) I here against I + (v - I) alpha; seen 1.8e-15)."""
    net, layers, ref = load(name)
    with jax.enable_x64(True):
        step = jax.jit(net.apply)
        params, state = net.cast(net.params, np.float64), net.cast(net.init_state(), np.float64)
        for t in range(ref["inputs"].shape[0]):
            state, out = step(state, {"input": ref["inputs"][t]}, params)
            for index, node in layers.items():
                expected = ref[f"{index}.v_mem"][t]
                got = np.asarray(state[f"{node}.v_mem"]).reshape(expected.shape)
                np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, err_msg=f"step {t}, {node}.v_mem")
                spiked = np.asarray(out[f"{node}.spikes"]).reshape(expected.shape)
                assert np.array_equal(spiked, ref[f"{index}.spikes"][t]), f"step {t}, {node}.spikes"
    for index in layers:
        assert ref[f"{index}.spikes"].sum() > 0, f"layer {index} never spikes: the comparison would prove little"


def test_a_sinabs_graph_needs_the_reset_sinabs_used():
    """The file says nothing about the reset (nir 1.0.4, which Sinabs pins, resets by subtraction;
    nir 1.0.8 reads the same file as a reset to v_reset = 0): the option decides, and the wrong one shows."""
    net, _, ref = load("sinabs_lif", reset="zero")
    with jax.enable_x64(True):
        _, out = net.run(net.cast(net.init_state(), np.float64), {"input": ref["inputs"]}, net.cast(net.params, np.float64))
    assert not np.array_equal(np.asarray(out["n_1.spikes"]).reshape(ref["1.spikes"].shape), ref["1.spikes"])


def test_sinabs_synaptic_neuron_is_exported_without_its_synapse():
    """Sinabs' LIF(tau_syn=...) (i_syn = alpha_syn (i_syn + x)) is written as a plain NIR LIF: tau_syn is
    lost, so the graph does not compute what Sinabs simulated and no option of from_nir can restore it."""
    graph = nir.read(DATA / "sinabs_synaptic.nir", type_check=False)
    assert {type(n).__name__ for n in graph.nodes.values()} >= {"LIF"}
    assert not any(isinstance(n, (nir.CubaLIF, nir.CubaLI)) for n in graph.nodes.values())
    net, _, ref = load("sinabs_synaptic")
    with jax.enable_x64(True):
        _, out = net.run(net.cast(net.init_state(), np.float64), {"input": ref["inputs"]}, net.cast(net.params, np.float64))
    assert ref["1.i_syn"].std() > 0
    assert not np.array_equal(np.asarray(out["n_1.spikes"]).reshape(ref["1.spikes"].shape), ref["1.spikes"])


@pytest.mark.parametrize("target", ["host", "c"])
@pytest.mark.parametrize("name", sorted(SINABS))
def test_sinabs_graph_compiled_matches_sinabs(name, target, tmp_path):
    """float32 artifact: every layer's spikes identical to Sinabs' float64 run over the whole input, and
    the one-step check against JAX float64 passes (the target's tolerance)."""
    from aotsnn import export
    from aotsnn.runtime.harness import load_any
    from aotsnn.targets import get
    from aotsnn.verify import compare

    ok, why = get(target).runs_here()
    if not ok:
        pytest.skip(why)
    net, layers, ref = load(name)
    session = load_any(export.compile_network(net, tmp_path / f"{name}.aot", target=target))
    _, out = session.run(session.init_state(), {"input": ref["inputs"].astype(np.float32)})
    for index, node in layers.items():
        expected = ref[f"{index}.spikes"]
        assert np.array_equal(np.asarray(out[f"{node}.spikes"]).reshape(expected.shape), expected), f"{node}.spikes"
    report = compare(session, net, {"input": ref["inputs"]})
    assert report.passed, report.failures()
