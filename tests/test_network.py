import numpy as np
import pytest

from aotsnn.components.somas.exponential import ExponentialSoma
from aotsnn.components.synapses.conductance import ExponentialSynapse
from aotsnn.components.synapses.dense import DenseSynapse
from aotsnn.network import Network


def test_backward_edges_are_kept_in_state(small_net):
    state = small_net.init_state()
    assert {"exc.prev_spikes", "exc.prev_v", "inh.prev_spikes", "inh.prev_v"} <= set(state)
    np.testing.assert_array_equal(state["exc.prev_v"], -70.0)   # a soma's v starts at rest


def test_forward_edge_reads_this_steps_output():
    net = Network("ff", dt=0.1)
    net.add(ExponentialSoma("a", 2))
    net.add(DenseSynapse("w", (2, 2), weight_init=lambda s, r: np.eye(2) * 100.0))
    net.add(ExponentialSoma("b", 2))
    net.add_input("drive", (2,))
    net.connect("drive", "a.i"); net.connect("a.spikes", "w.x"); net.connect("w.out", "b.i")
    net.record("a.spikes", "b.v")
    state = net.init_state()
    assert not any(k.startswith("a.prev") for k in state)        # a -> w -> b is all forward
    state, out = net.step(state, {"drive": np.array([[1e5, 0.0]])})
    assert out["a.spikes"][0, 0] == 1.0
    # b received 100 pA from a's spike in the same step: v rose from rest by dt/tau * R * 100
    assert out["b.v"][0, 0] == pytest.approx(-70 + 0.1 / 5.0 * 0.5 * 100.0, abs=1e-3)


@pytest.mark.parametrize("source,target,message", [
    ("nope.spikes", "syn.s", "no component 'nope'"),
    ("soma.spikes", "syn.x", "has no input `x`"),
    ("soma.v", "syn.v", "cannot wire"),
])
def test_bad_wiring_names_the_port(source, target, message):
    net = Network("bad", dt=0.1)
    net.add(ExponentialSynapse("syn", (3, 4), tau_decay=5.0, g_syn_bar=1.0, syn_rest=0.0))
    net.add(ExponentialSoma("soma", 3))
    with pytest.raises(ValueError, match=message):
        net.connect(source, target)


def test_unwired_input_is_refused():
    net = Network("open", dt=0.1)
    net.add(ExponentialSoma("soma", 3))
    net.record("soma.spikes")
    with pytest.raises(ValueError, match="input 'soma.i'.*is not wired"):
        net.init_state()


def test_an_output_named_like_a_state_leaf_is_refused():
    """A component whose output port and state leaf share a name (e.g. `v`) cannot record that
    port: step.onnx names every leaf uniquely. Found writing examples/custom_component.py."""
    class Clash(ExponentialSoma):
        def init_state(self, batch):
            return {"v": np.zeros((batch, self.n))}

        def step(self, params, state, inputs, dt):
            new, out = super().step(params, {"v_rel": state["v"]}, inputs, dt)
            return {"v": new["v_rel"]}, out

    net = Network("clash", dt=0.1)
    net.add(Clash("soma", 3))
    net.add_input("drive", (3,))
    net.connect("drive", "soma.i")
    net.record("soma.spikes")
    net.init_state()                                         # recording only `spikes` is fine
    net.record("soma.v")
    with pytest.raises(ValueError, match="recorded output 'soma.v' has the name of a state leaf"):
        net.init_state()


def test_bad_network_arguments():
    with pytest.raises(ValueError, match="dt"):
        Network("n", dt=0)
    with pytest.raises(ValueError, match="identifier"):
        Network("not a name", dt=0.1)
    net = Network("n", dt=0.1)
    net.add(ExponentialSoma("s", 2))
    with pytest.raises(ValueError, match="already used"):
        net.add(ExponentialSoma("s", 2))
    with pytest.raises(ValueError, match="potential_tau"):
        net.set_params(**{"s.potential_tau": -1.0})


def test_project_wires_a_conductance_synapse_between_somas():
    net = Network("p", dt=0.1)
    net.add(ExponentialSynapse("syn", (3, 2), tau_decay=5.0, g_syn_bar=1.0, syn_rest=0.0))
    net.add(ExponentialSoma("a", 3))
    net.add(ExponentialSoma("b", 2))
    net.add_input("drive", (2,))
    net.connect("drive", "b.i")
    net.add_input("da", (3,))
    net.connect("da", "a.i")
    net.project("a", "syn", "b")
    assert {(w.source, w.target) for w in net.wires} >= {("a.spikes", "syn.s"), ("b.v", "syn.v"), ("syn.i", "b.i")}


# -- per-sample parameters ---------------------------------------------------------------------

def test_per_sample_parameters_step_each_sample_as_its_own_network():
    """Sample b of a batch-3 network whose tau and g_syn_bar are per sample equals a batch-1
    network with parameters[b] (JAX float64, every state leaf and output, bit for bit)."""
    import jax

    from aotsnn.demo import build_ei_network, demo_inputs

    taus, gs = np.array([6.0, 9.0, 14.0]), np.array([0.0, 0.03, 0.06])
    net = build_ei_network(n_exc=40, n_inh=10, batch=3, p_conn=0.2)
    net.per_sample("exc.potential_tau", "ee.g_syn_bar")
    assert net.per_sample_params == ("exc.potential_tau", "ee.g_syn_bar") and net.params["ee.g_syn_bar"].shape == (3,)
    net.set_params(**{"exc.potential_tau": taus, "ee.g_syn_bar": gs})
    inputs = demo_inputs(net, 150, mean=90.0)
    with jax.enable_x64(True):
        final, out = net.run(net.init_state(), inputs)
        spikes = []
        for b in range(3):
            one = build_ei_network(n_exc=40, n_inh=10, batch=1, p_conn=0.2)
            one.set_params(**{"exc.potential_tau": taus[b], "ee.g_syn_bar": gs[b]})
            final_1, out_1 = one.run(one.init_state(), {k: v[:, b:b + 1] for k, v in inputs.items()})
            for name in final_1:
                np.testing.assert_array_equal(np.asarray(final[name])[b], np.asarray(final_1[name])[0], err_msg=name)
            np.testing.assert_array_equal(np.asarray(out["exc.spikes"])[:, b], np.asarray(out_1["exc.spikes"])[:, 0])
            spikes.append(float(np.asarray(out_1["exc.spikes"]).sum()))
    assert len(set(spikes)) == 3, spikes        # the parameter sets really differ


def test_per_sample_parameters_refuse_topology_unknown_names_and_shared_state():
    from aotsnn.components.plasticity.hebbian import HebbianSynapse
    from aotsnn.demo import build_ei_network

    net = build_ei_network(n_exc=40, n_inh=10, batch=2)
    with pytest.raises(ValueError, match="'ee.mask' is topology"):
        net.per_sample("ee.mask")
    with pytest.raises(ValueError, match="has no parameter 'exc.bogus'"):
        net.per_sample("exc.bogus")
    net.per_sample("exc.threshold")
    with pytest.raises(ValueError, match=r"'exc.threshold' must have shape \(2,\)"):
        net.set_params(**{"exc.threshold": -40.0})
    learner = Network("learn", dt=0.1, batch=2)
    learner.add(HebbianSynapse("syn", (10, 5), eta=0.01))
    with pytest.raises(ValueError, match="syn.weights.*shared by all samples"):
        learner.per_sample("syn.eta")
