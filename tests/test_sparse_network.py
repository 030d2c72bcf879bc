"""Sparse synapses end to end on host: no dense matrix anywhere, the artifact equals JAX, the
indices are topology, per-synapse weights change at run time, and state round-trips.

The conformance matrix (tests/test_conformance.py) runs sparse synapses on every target; this
file checks what belongs to the sparse layout itself on a COBA network of 2,000 neurons at
in-degree 80 (160,000 synapses, 5 % density: the CSR kernel).
"""
from __future__ import annotations

import numpy as np
import pytest

from aotsnn.components.connectivity import FixedInDegree
from aotsnn.components.synapses.conductance import ExponentialSynapse
from aotsnn.export import compile_network
from aotsnn.network import Network
from aotsnn.runtime import load
from aotsnn.verify.report import compare
from aotsnn.workloads import coba_initial_state, coba_inputs, coba_network

N, IN_DEGREE, STEPS = 2000, 80, 100


@pytest.fixture(scope="module")
def sparse_coba(tmp_path_factory):
    net = coba_network(N, in_degree=IN_DEGREE)
    path = compile_network(net, tmp_path_factory.mktemp("sparse") / "coba.aot")
    return net, load(path)


def test_parameters_grow_with_synapses_not_neurons_squared():
    net = coba_network(N, in_degree=IN_DEGREE)
    sizes = {name: np.size(value) for name, value in net.params.items()}
    assert max(sizes.values()) == (N * 4 // 5) * (IN_DEGREE * 4 // 5)      # ee: one weight per synapse
    assert sum(sizes.values()) < 3 * N * IN_DEGREE
    assert net.params["ee.post_index"].dtype == np.int32 and net.params["ee.weights"].dtype == np.float64
    in_degree = sum(np.bincount(net.params[f"{pre}e.post_index"], minlength=N * 4 // 5) for pre in "ei")
    assert set(in_degree) == {IN_DEGREE}


def test_artifact_matches_the_sparse_jax_reference(sparse_coba):
    net, session = sparse_coba
    state = {k: np.asarray(v, session.leaf_dtype("state", k)) for k, v in coba_initial_state(net).items()}
    report = compare(session, net, coba_inputs(net, STEPS), state=state)
    assert report.passed, report.failures()
    spikes = [check for check in report.free_run if check.name == "exc.spikes"][0]
    assert spikes.identical and spikes.artifact_spikes > 100


def test_indices_are_topology_and_weights_change_per_synapse(sparse_coba):
    net, session = sparse_coba
    post = session.params["ee.post_index"].copy()
    post[0] = (post[0] + 1) % (N * 4 // 5)
    with pytest.raises(ValueError, match="'ee.post_index' is topology"):
        session.set_params(**{"ee.post_index": post})
    with pytest.raises(TypeError, match="int32 indices"):
        session.set_params(**{"ee.post_index": post.astype(np.float32)})
    state = session.init_state()
    state["exc.v_rel"][:] = 10.5                               # every excitatory neuron above threshold
    inputs = {k: np.zeros((3, *shape), session.dtype) for k, shape in session.layout["inputs"]}
    _, before = session.run(state, inputs)
    weights = session.params["ee.weights"]
    try:
        session.set_params(**{"ee.weights": np.zeros_like(weights)})
        final, _ = session.run(state, inputs)
        assert np.all(final["ee.g"] == 0.0)                  # no excitatory synapse conducts any more
    finally:
        session.set_params(**{"ee.weights": weights})
    final, _ = session.run(state, inputs)
    assert np.any(final["ee.g"] > 0.0)


def test_state_round_trips_through_a_file(sparse_coba, tmp_path):
    net, session = sparse_coba
    state = {k: np.asarray(v, session.leaf_dtype("state", k)) for k, v in coba_initial_state(net).items()}
    inputs = {k: v.astype(session.dtype) for k, v in coba_inputs(net, 40).items()}
    whole, _ = session.run(state, inputs)
    half, _ = session.run(state, {k: v[:20] for k, v in inputs.items()})
    session.save_state(half, tmp_path / "half.npz")
    resumed, _ = session.run(session.load_state(tmp_path / "half.npz"), {k: v[20:] for k, v in inputs.items()})
    for name in whole:
        np.testing.assert_array_equal(resumed[name], whole[name])


def test_network_set_params_keeps_integer_indices_and_checks_them():
    net = Network("one", dt=0.1)
    net.add(ExponentialSynapse("syn", (30, 20), tau_decay=5.0, g_syn_bar=1.0, syn_rest=0.0,
                               connectivity=FixedInDegree(3), seed=1))
    post = net.params["syn.post_index"]
    net.set_params(**{"syn.post_index": post.astype(np.int64)})           # any integer dtype, kept int32
    assert net.params["syn.post_index"].dtype == np.int32
    with pytest.raises(ValueError, match="`post_index` must be in \\[0, 19\\]"):
        net.set_params(**{"syn.post_index": np.full_like(post, 20)})
    with pytest.raises(TypeError, match="integer indices"):
        net.set_params(**{"syn.post_index": post.astype(float)})
    with pytest.raises(ValueError, match="must have shape \\(60,\\)"):
        net.set_params(**{"syn.weights": np.ones(len(post) + 1)})


def test_per_sample_weights_of_a_sparse_synapse_are_refused_by_name():
    net = Network("batch", dt=0.1, batch=2)
    net.add(ExponentialSynapse("syn", (30, 20), tau_decay=5.0, g_syn_bar=1.0, syn_rest=0.0,
                               connectivity=FixedInDegree(3), seed=1))
    with pytest.raises(ValueError, match="'syn.weights' of 'syn' \\(ExponentialSynapse\\) cannot differ"):
        net.per_sample("syn.weights")
    net.per_sample("syn.tau_decay")                           # the other parameters still can
    assert net.params["syn.tau_decay"].shape == (2,)
