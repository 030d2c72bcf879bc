"""Per-sample plasticity (`per_sample_plasticity=True`): each sample of the batch learns its own
weights and rule state, and evolves exactly as a batch-1 network fed with that sample's inputs.

Every plastic family (Hebbian with adam and biases, BCM, trace / exponential / event STDP,
MSTDPET, patched Hebbian, trace-STDP convolution) is checked in JAX float64 against three
separate batch-1 networks, state and outputs after every step, and against the shared default
(which must differ, or the check would test nothing). Then: per-sample learning rates with
Network.per_sample, the refusals, and one 100 x 50 network compiled for host and for the C
bundle against JAX.
"""
import jax
import numpy as np
import pytest
from plastic_checks import exp_trace, spikes

from aotsnn.components.connectivity import FixedInDegree
from aotsnn.components.initializers import uniform
from aotsnn.components.plasticity import (BCMSynapse, EventSTDPSynapse, ExpSTDPSynapse, HebbianSynapse,
                                          MSTDPETSynapse, TraceSTDPSynapse, VarTrace)
from aotsnn.components.somas import ExponentialSoma
from aotsnn.components.structured import HebbianPatchedSynapse, TraceSTDPConvSynapse
from aotsnn.network import Network

STEPS, BATCH, DT = 20, 3, 0.5
N_IN, N_OUT = 8, 6
STDP = dict(A_plus=0.3, A_minus=0.25, eta=1.0, w_bound=1.0, weight_init=uniform(0.2, 0.8))

FAMILIES = {
    "hebbian_adam_biases_delays": lambda **k: HebbianSynapse(
        "syn", (N_IN, N_OUT), eta=0.05, optim_type="adam", sign_value=-1.0, prior=("l2", 0.01),
        bias_init=uniform(-0.1, 0.1), max_delay_steps=2, p_release_mean=0.8, p_conn=0.8, seed=1, **k),
    "bcm": lambda **k: BCMSynapse("syn", (N_IN, N_OUT), tau_w=5.0, tau_theta=2.0, theta0=0.5, w_bound=1.0,
                                  seed=2, **k),
    "trace_stdp_power_law": lambda **k: TraceSTDPSynapse("syn", (N_IN, N_OUT), mu=0.8, tau_w=50.0, seed=3,
                                                         **STDP, **k),
    "exp_stdp": lambda **k: ExpSTDPSynapse("syn", (N_IN, N_OUT), exp_beta=1.0, pretrace_target=0.1, seed=4,
                                           **STDP, **k),
    "event_stdp": lambda **k: EventSTDPSynapse("syn", (N_IN, N_OUT), eta=0.3, presyn_win_len=1.2, seed=5, **k),
    "mstdpet": lambda **k: MSTDPETSynapse("syn", (N_IN, N_OUT), tau_elg=2.0, tau_w=100.0, seed=6, **STDP, **k),
    "hebbian_patched": lambda **k: HebbianPatchedSynapse("syn", (N_IN, N_OUT), 2, eta=0.05, sign_value=-1.0,
                                                         bias_init=uniform(-0.1, 0.1), seed=7, **k),
    "trace_stdp_conv": lambda **k: TraceSTDPConvSynapse("syn", (3, 3, 1, 2), (6, 6), stride=2, seed=8,
                                                        **STDP, **k),
}


def port_drive(rng, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """(STEPS, BATCH, *shape) values for one rule port, different for every sample."""
    full = (STEPS, BATCH, *shape)
    if name in ("pre", "post"):
        return rng.uniform(0.0, 1.5, size=full)
    if name == "modulator":
        return rng.uniform(-1.0, 1.0, size=full)
    if name == "pre_tols":                     # time of the last spike, clock (k+1)*dt, 0 = never
        s, t = spikes(rng, full, 0.3), DT * np.arange(1, STEPS + 1).reshape(-1, *([1] * (len(full) - 1)))
        return np.maximum.accumulate(s * t, axis=0)
    if name.endswith("_trace"):
        return exp_trace(spikes(rng, full, 0.3), 3.0, DT)
    return spikes(rng, full, 0.4)


def open_network(syn, batch: int) -> Network:
    """`syn` alone, every input port fed by an external input of the same name."""
    net = Network("ps", dt=DT, batch=batch)
    net.add(syn)
    for port in syn.inputs:
        net.add_input(port.name, port.shape)
        net.connect(port.name, f"syn.{port.name}")
    net.record("syn.out")
    return net


def sample_state(state: dict, b: int, like: dict) -> dict:
    """Sample b of a batch state, as the state of a batch-1 network shaped like `like` (learned
    leaves of a shared batch-1 synapse have no batch axis)."""
    return {k: v[b] if np.shape(like[k]) == np.shape(v)[1:] else v[b:b + 1] for k, v in state.items()}


def run(net: Network, state: dict, inputs: dict):
    final, out = jax.jit(lambda s, x: net.run(s, x))(state, inputs)
    return {k: np.asarray(v) for k, v in final.items()}, {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize("family", FAMILIES)
def test_each_sample_learns_as_its_own_batch1_network(family):
    build = FAMILIES[family]
    per_sample = open_network(build(per_sample_plasticity=True), BATCH)
    rng = np.random.default_rng(11)
    inputs = {name: port_drive(rng, name, shape) for name, shape in per_sample.input_shapes.items()}
    one = open_network(build(), 1)
    with jax.enable_x64(True):
        state = per_sample.init_state()
        learned = [k for k, v in one.init_state().items() if np.shape(state[k]) == (BATCH, *np.shape(v))]
        assert "syn.weights" in learned and all(np.ndim(state[k]) >= 1 for k in state)
        final, out = run(per_sample, state, inputs)
        for b in range(BATCH):
            start = sample_state(state, b, one.init_state())
            for name in learned:                 # batch copies of a batch-1 synapse's learned state
                np.testing.assert_array_equal(start[name], one.init_state()[name], err_msg=name)
            final_1, out_1 = run(one, start, {k: v[:, b:b + 1] for k, v in inputs.items()})
            for name, value in sample_state(final, b, final_1).items():
                np.testing.assert_allclose(value, final_1[name], rtol=1e-12, atol=1e-12, err_msg=f"sample {b} {name}")
            np.testing.assert_allclose(out["syn.out"][:, b], out_1["syn.out"][:, 0], rtol=1e-12, atol=1e-12,
                                       err_msg=f"sample {b} out")
        assert np.abs(final["syn.weights"] - state["syn.weights"]).max() > 1e-3, "the drive must change the weights"
        assert np.abs(final["syn.weights"][0] - final["syn.weights"][1]).max() > 1e-3, "the samples must differ"
        shared = open_network(build(), BATCH)
        shared_final, _ = run(shared, shared.init_state(), inputs)
    assert shared_final["syn.weights"].shape == state["syn.weights"].shape[1:]
    assert np.abs(shared_final["syn.weights"] - final["syn.weights"][0]).max() > 1e-3, \
        "the shared default (batch-summed update) must differ from per-sample learning"


# ---------------------------------------------------------------------------------------------
# Closed loop: a soma driven by the per-sample synapse feeds its spikes back to the rule
# ---------------------------------------------------------------------------------------------
def stdp_loop(batch: int, per_sample: bool, n_in: int = 100, n_out: int = 50) -> Network:
    """drive -> trace-STDP synapse -> soma, with pre and post traces (added after the synapse)."""
    net = Network("stdp_loop", dt=DT, batch=batch)
    net.add_input("drive", (n_in,))
    net.add(TraceSTDPSynapse("syn", (n_in, n_out), A_plus=0.02, A_minus=0.025, tau_w=500.0, resist_scale=40.0,
                             seed=1, per_sample_plasticity=per_sample))
    net.add(ExponentialSoma("soma", n_out, potential_reset=-70.0))
    net.add(VarTrace("pre_tr", n_in, tau_tr=5.0))
    net.add(VarTrace("post_tr", n_out, tau_tr=5.0))
    for source, target in [("drive", "syn.x"), ("drive", "syn.pre_spike"), ("soma.spikes", "syn.post_spike"),
                           ("pre_tr.trace", "syn.pre_trace"), ("post_tr.trace", "syn.post_trace"),
                           ("syn.out", "soma.i"), ("drive", "pre_tr.s"), ("soma.spikes", "post_tr.s")]:
        net.connect(source, target)
    net.record("soma.spikes")
    return net


def loop_drive(steps: int, batch: int, n_in: int = 100, seed: int = 3) -> dict:
    rates = np.linspace(0.05, 0.2, batch)[None, :, None]       # every sample its own activity
    return {"drive": (np.random.default_rng(seed).uniform(size=(steps, batch, n_in)) < rates).astype(np.float64)}


def test_per_sample_learning_rates_with_network_per_sample():
    """One network sweeps eta across samples: sample b equals a batch-1 network with eta[b]."""
    etas = np.array([0.0, 0.5, 2.0])
    net = stdp_loop(3, True, n_in=30, n_out=10)
    net.per_sample("syn.eta")
    net.set_params(**{"syn.eta": etas})
    inputs = loop_drive(60, 3, n_in=30)
    with jax.enable_x64(True):
        state = net.init_state()
        final, out = run(net, state, inputs)
        for b in range(3):
            one = stdp_loop(1, False, n_in=30, n_out=10)
            one.set_params(**{"syn.eta": etas[b]})
            final_1, out_1 = run(one, sample_state(state, b, one.init_state()), {"drive": inputs["drive"][:, b:b + 1]})
            for name, value in sample_state(final, b, final_1).items():
                np.testing.assert_allclose(value, final_1[name], rtol=1e-12, atol=1e-12, err_msg=f"sample {b} {name}")
            np.testing.assert_array_equal(out["soma.spikes"][:, b], out_1["soma.spikes"][:, 0])
    decayed = state["syn.weights"][0] * (1 - 1 / 500.0) ** 60        # eta 0: only the tau_w decay
    np.testing.assert_allclose(final["syn.weights"][0], decayed, rtol=1e-12)
    moved = np.abs(final["syn.weights"] - decayed).max(axis=(1, 2))
    assert 0 < moved[1] < moved[2], f"a larger eta must move the weights more: {moved}"
    assert out["soma.spikes"].sum() > 0


def test_shared_learning_still_refuses_per_sample_parameters():
    net = stdp_loop(2, False, n_in=10, n_out=5)
    with pytest.raises(ValueError, match="syn.weights.*shared by all samples"):
        net.per_sample("syn.eta")


@pytest.mark.parametrize("build,message", [
    (lambda: HebbianSynapse("h", (3, 2), per_sample_plasticity=1), "`per_sample_plasticity` must be True or False"),
    (lambda: TraceSTDPSynapse("s", (3, 2), A_plus=1.0, A_minus=1.0, learning=False, per_sample_plasticity=True),
     "`per_sample_plasticity=True` needs `learning=True`.*Network.per_sample\\('s.weights'\\)"),
    (lambda: BCMSynapse("b", (30, 20), tau_w=1.0, tau_theta=1.0, per_sample_plasticity=True,
                        connectivity=FixedInDegree(3)),
     "'b' \\(BCMSynapse\\): `per_sample_plasticity=True` is not supported for a sparse synapse"),
])
def test_bad_per_sample_options_are_refused_naming_the_field(build, message):
    with pytest.raises(ValueError, match=message):
        build()


# ---------------------------------------------------------------------------------------------
# Compiled: 100 x 50 at batch 4, host, C bundle and opencl, against JAX
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("target_name", ["host", "c", "opencl"])
def test_compiled_per_sample_stdp_equals_jax(target_name, tmp_path):
    """The batched products (one 100 x 50 matrix per sample: batched dot_general, not the
    event-driven kernel) on host, the C bundle and opencl (where TVM's GPU rules once doubled
    the weights): one step against float64, free-run spikes
    identical to jax.jit(lax.scan), every sample's weights learning on their own."""
    from aotsnn.export import compile_network
    from aotsnn.runtime.harness import load_any
    from aotsnn.targets import get
    from aotsnn.verify import compare

    ok, why = get(target_name).runs_here()
    if not ok:
        pytest.skip(why)
    net = stdp_loop(4, True)
    session = load_any(compile_network(net, tmp_path / f"ps-{target_name}.aot", target=target_name))
    inputs = {k: v.astype(np.float32) for k, v in loop_drive(200, 4).items()}
    report = compare(session, net, inputs)
    assert report.passed, report.failures()
    for train in report.free_run:
        assert train.identical, f"{train.name}: spike trains diverge at {train.first_divergence}"
        assert train.artifact_spikes > 0
    final, _ = session.run(session.init_state(), inputs)
    W0 = session.init_state()["syn.weights"]
    assert final["syn.weights"].shape == (4, 100, 50)
    moved = np.abs(final["syn.weights"] - W0).max(axis=(1, 2))
    assert np.all(moved > 1e-3), moved
    assert np.abs(final["syn.weights"][0] - final["syn.weights"][3]).max() > 1e-3, "the samples must learn apart"
