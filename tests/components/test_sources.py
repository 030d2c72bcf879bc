"""Sources with random numbers inside the compiled step: bit-exact spike trains, integer state, save/resume."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aotsnn.components.monitors import SpikeCounter
from aotsnn.components.somas.exponential import ExponentialSoma
from aotsnn.components.sources import ConstantCurrent, OUNoise, PoissonSource, SpikeGenerator
from aotsnn.components.synapses.conductance import ExponentialSynapse
from aotsnn.components.synapses.dense import DenseSynapse
from aotsnn.export import compile_network
from aotsnn.network import Network
from aotsnn.runtime.harness import load_any

T = 300


def source_network() -> Network:
    """Driven only by its own sources: Poisson -> conductance synapse, given spikes, OU current."""
    net = Network("src", dt=0.1, batch=2)
    net.add(PoissonSource("pois", 20, rate=300.0, seed=3))
    net.add(SpikeGenerator("gen", 20, [0, 3, 5, 19], [0.0, 0.3, 1.0, 2.5], dt=0.1))
    net.add(OUNoise("ou", 10, mean=20.0, std=10.0, tau=5.0, seed=4))
    net.add(DenseSynapse("rel", (20, 10), p_release_mean=0.5, seed=5))
    net.add(ExponentialSynapse("syn", (20, 10), tau_decay=5.0, g_syn_bar=0.5, syn_rest=0.0, p_conn=0.5, seed=1))
    net.add(ExponentialSynapse("gsyn", (20, 10), tau_decay=5.0, g_syn_bar=0.5, syn_rest=0.0, seed=2))
    net.add(ExponentialSoma("pop", 10))
    net.add(SpikeCounter("count", 10))
    net.project("pois", "syn", "pop")
    net.connect("gen.spikes", "gsyn.s"); net.connect("pop.v", "gsyn.v"); net.connect("gsyn.i", "pop.i")
    net.connect("ou.i", "pop.i"); net.connect("pois.spikes", "rel.x"); net.connect("rel.out", "pop.i")
    net.connect("pop.spikes", "count.s")
    net.record("pois.spikes", "gen.spikes", "pop.spikes", "ou.i", "count.rate")
    return net


def reference(net: Network, steps: int):
    state = net.cast(net.init_state(), jnp.float32)
    return jax.jit(lambda s, p: net.run(s, None, p, steps=steps))(state, net.cast(net.params, jnp.float32))


def test_integer_state_leaves_keep_their_dtype():
    state = source_network().init_state()
    assert state["pois.key"].dtype == np.uint32 and state["pois.key"].shape == (2, 2)
    assert state["rel.key"].dtype == np.uint32 and state["gen.t"].dtype == np.int32
    assert state["pop.v_rel"].dtype == np.float64


def test_run_without_inputs_needs_steps():
    net = source_network()
    with pytest.raises(ValueError, match="has no inputs: pass steps=T"):
        net.run(net.init_state())


# c with -m slow: the conformance network `sources` checks the same draws bit-exact on every C target
@pytest.mark.parametrize("target", ["host", pytest.param("c", marks=pytest.mark.slow)])
def test_spike_trains_bit_exact_and_resume_exact(target, tmp_path):
    net = source_network()
    ref_state, ref = reference(net, T)
    assert 0 < float(np.sum(ref["pois.spikes"])) and float(np.sum(ref["gen.spikes"])) == 4 * 2      # 4 given spikes, in each batch row
    session = load_any(compile_network(net, tmp_path / "src.aot", target=target))
    s0 = session.init_state()
    final, out = session.run(s0, {}, steps=T)
    for name in ("pois.spikes", "gen.spikes", "pop.spikes"):
        np.testing.assert_array_equal(out[name], np.asarray(ref[name]), err_msg=f"{target} {name}")
    for name in ("pois.key", "ou.key", "rel.key", "gen.t"):
        assert final[name].dtype == s0[name].dtype
        np.testing.assert_array_equal(final[name], np.asarray(ref_state[name]), err_msg=name)
    np.testing.assert_array_equal(final["count.counts"], out["pop.spikes"].sum(axis=0))
    # N(0, 1) = sqrt(2) erfinv(2u - 1): u is bit-exact, but one ulp of float32 rounding in 2u - 1
    # (6e-8 near 1) moves xi by sqrt(pi/2) exp(xi^2 / 2) * 6e-8: 3e-3 at xi = 4.6 (seen on c),
    # 0.012 at xi = 4.9, i.e. 0.025 pA of OU current (sigma sqrt(1 - e^{-2dt/tau}) = 2 pA per xi);
    # these 6000 draws reach 4.6 (|xi| > 5: p = 6e-7 per draw).
    np.testing.assert_allclose(out["ou.i"], np.asarray(ref["ou.i"]), rtol=1e-4, atol=0.05)
    # save mid-run, load, continue: the same as the uninterrupted run, bit for bit
    mid, first = session.run(s0, {}, steps=100)
    session.save_state(mid, tmp_path / "mid.npz")
    rest_state, rest = session.run(session.load_state(tmp_path / "mid.npz"), {}, steps=T - 100)
    for name in final:
        np.testing.assert_array_equal(rest_state[name], final[name], err_msg=name)
    for name in out:
        np.testing.assert_array_equal(np.concatenate([first[name], rest[name]]), out[name], err_msg=name)


def test_poisson_rate_is_a_runtime_parameter(tmp_path):
    net = Network("pois_only", dt=0.1)
    net.add(PoissonSource("p", 50, rate=100.0, seed=9))
    net.record("p.spikes")
    session = load_any(compile_network(net, tmp_path / "p.aot", target="host"))
    _, low = session.run(session.init_state(), {}, steps=2000)
    session.set_params(**{"p.rate": 1000.0})
    _, high = session.run(session.init_state(), {}, steps=2000)
    assert 5 * low["p.spikes"].sum() < high["p.spikes"].sum()       # ~1000 vs ~10000 spikes
    net.set_params(**{"p.rate": 1000.0})
    _, ref = jax.jit(lambda s, p: net.run(s, None, p, steps=2000))(net.cast(net.init_state(), jnp.float32),
                                                                     net.cast(net.params, jnp.float32))
    np.testing.assert_array_equal(high["p.spikes"], np.asarray(ref["p.spikes"]))
    with pytest.raises(ValueError, match="rate"):
        session.set_params(**{"p.rate": -1.0})


def dc_network(drive: str, amplitude, batch: int = 3) -> Network:
    """A soma driven by a ConstantCurrent (`drive="dc"`) or by an input of the same value."""
    net = Network(f"dc_{drive}", dt=0.1, batch=batch)
    if drive == "dc":
        net.add(ConstantCurrent("dc", 40, amplitude=amplitude))
        net.record("dc.i")
    else:
        net.add_input("i", (40,))
    net.add(ExponentialSoma("pop", 40))
    net.connect("dc.i" if drive == "dc" else "i", "pop.i")
    net.record("pop.spikes", "pop.v")
    return net


def test_constant_current_equals_an_input_of_that_value():
    """The drive is the same for every sample (broadcast over the batch) and steps exactly like a
    constant input; recording it gives (batch, n)."""
    amplitude = np.linspace(0.0, 120.0, 40)
    dc, given = dc_network("dc", amplitude), dc_network("input", amplitude)
    steps = 400
    _, want = given.run(given.init_state(), {"i": np.broadcast_to(amplitude, (steps, 3, 40))})
    _, got = dc.run(dc.init_state(), {}, steps=steps)
    assert np.asarray(got["dc.i"]).shape == (steps, 3, 40)
    drive = np.asarray(got["dc.i"])
    np.testing.assert_array_equal(drive, np.broadcast_to(amplitude.astype(drive.dtype), (steps, 3, 40)))
    assert 0 < np.asarray(want["pop.spikes"]).sum() < steps * 3 * 40
    for port in ("pop.spikes", "pop.v"):
        np.testing.assert_array_equal(np.asarray(got[port]), np.asarray(want[port]))


def test_constant_current_amplitude_is_a_runtime_parameter(tmp_path):
    net = dc_network("dc", 30.0, batch=1)
    session = load_any(compile_network(net, tmp_path / "dc.aot", target="host"))
    assert session.layout["inputs"] == []
    _, low = session.run(session.init_state(), {}, steps=1000)
    session.set_params(**{"dc.amplitude": 100.0})
    _, high = session.run(session.init_state(), {}, steps=1000)
    assert low["pop.spikes"].sum() < high["pop.spikes"].sum()
    net.set_params(**{"dc.amplitude": 100.0})
    _, ref = reference_with_inputs(net, 1000)
    np.testing.assert_array_equal(high["pop.spikes"], np.asarray(ref["pop.spikes"]))
    np.testing.assert_array_equal(high["dc.i"], np.full((1000, 1, 40), 100.0, np.float32))


def reference_with_inputs(net: Network, steps: int):
    state = net.cast(net.init_state(), jnp.float32)
    return jax.jit(lambda s, p: net.run(s, {}, p, steps=steps))(state, net.cast(net.params, jnp.float32))


def test_bad_source_arguments_are_refused():
    with pytest.raises(ValueError, match="`n` must be a positive integer"):
        ConstantCurrent("c", 0)
    with pytest.raises(ValueError, match="`amplitude` must be a scalar or have shape"):
        ConstantCurrent("c", 4, amplitude=[1.0, 2.0])
    with pytest.raises(ValueError, match="`amplitude` must be finite"):
        ConstantCurrent("c", 4, amplitude=float("nan"))
    with pytest.raises(ValueError, match="unit 1 has two spikes in step 3"):
        SpikeGenerator("g", 4, [1, 1], [0.3, 0.31], dt=0.1)
    with pytest.raises(ValueError, match="`indices` must be integers in"):
        SpikeGenerator("g", 4, [4], [0.3], dt=0.1)
    with pytest.raises(ValueError, match="`rate` must be >= 0 Hz"):
        PoissonSource("p", 3, rate=-5.0)
    with pytest.raises(ValueError, match="p_release_mean"):
        DenseSynapse("d", (3, 3), p_release_mean=1.5)


def test_seeds_give_each_component_its_own_stream():
    """Streams derive from (seed, component name): one seed, two names -> independent trains; the
    same name and seed in another network -> the same train (aotsnn.components.random)."""
    def trains(*names: str, seed: int = 0) -> dict:
        net = Network("seeds", dt=0.1)
        for name in names:
            net.add(PoissonSource(name, 50, rate=500.0, seed=seed))
            net.record(f"{name}.spikes")
        return reference(net, 200)[1]
    both = trains("a", "b")
    assert both["a.spikes"].sum() > 100 and not np.array_equal(both["a.spikes"], both["b.spikes"])
    np.testing.assert_array_equal(trains("a")["a.spikes"], both["a.spikes"])
    assert not np.array_equal(trains("a", seed=1)["a.spikes"], both["a.spikes"])


def test_release_probability_zero_is_stochastic_not_full_release():
    syn = DenseSynapse("d", (200, 3), p_release_mean=0.0)
    assert syn.stochastic and float(np.mean(syn.default_params()["p_release"])) < 0.05
