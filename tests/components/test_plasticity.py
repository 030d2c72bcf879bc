"""Plasticity rules against the spec (shared/spec/components.md, "Plasticity"; ngclearn semantics).

Each rule is compared, after every one of a few hundred steps, with an independent float64
NumPy transcription of its equations (the `ref_*` functions, which never call component code).
Then: bounds and clipping, masks that never regrow, the frozen (`learning=False`) variant, and
one compiled network per family against JAX.
"""
import importlib.util
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from plastic_checks import (assert_trajectory, check_compiled, exp_trace, outer, ref_hebbian, ref_trace_stdp,
                            run_component, spikes)

from aotsnn.components.initializers import uniform
from aotsnn.components.plasticity import (BCMSynapse, EventSTDPSynapse, ExpSTDPSynapse, HebbianSynapse,
                                          MSTDPETSynapse, SpikeTimeTracker, TraceSTDPSynapse, VarTrace)
from aotsnn.components.somas import ExponentialSoma
from aotsnn.network import Network

STEPS, BATCH, DT = 300, 2, 0.5
N_IN, N_OUT = 7, 5


@pytest.fixture()
def x64():
    with jax.enable_x64(True):
        yield


def stdp_inputs(seed=0, steps=STEPS, tau=4.0):
    rng = np.random.default_rng(seed)
    pre, post = spikes(rng, (steps, BATCH, N_IN), 0.2), spikes(rng, (steps, BATCH, N_OUT), 0.15)
    return {"x": pre, "pre_spike": pre, "post_spike": post,
            "pre_trace": exp_trace(pre, tau, DT), "post_trace": exp_trace(post, tau, DT)}


# ---------------------------------------------------------------------------------------------
# Hebbian
# ---------------------------------------------------------------------------------------------
HEBBIAN_CASES = {
    "sgd_ascent_bias_sparse": dict(optim_type="sgd", sign_value=-1.0, w_bound=1.0, prior=(None, 0.0), bias=True,
                                   p_conn=0.6, eta=0.02),
    "sgd_l1_nonneg_unbounded": dict(optim_type="sgd", sign_value=1.0, w_bound=0.0, prior=("l1", 0.01),
                                    is_nonnegative=True, eta=0.01),
    "sgd_wdecay_weighted": dict(optim_type="sgd", sign_value=-1.0, w_bound=0.5, w_decay=0.05, pre_wght=0.7,
                                post_wght=1.3, eta=0.03),
    "adam_elastic_bias": dict(optim_type="adam", sign_value=-1.0, w_bound=1.0, prior=("elastic_net", (0.02, 0.3)),
                              bias=True, eta=0.005),
    "adam_ridge_nonneg": dict(optim_type="adam", sign_value=1.0, w_bound=0.0, prior=("ridge", 0.1),
                              is_nonnegative=True, eta=0.01),
    "nag_bias_bounded": dict(optim_type="nag", sign_value=-1.0, w_bound=1.0, prior=("l2", 0.01), bias=True,
                             eta=0.01),
}


@pytest.mark.parametrize("case", HEBBIAN_CASES)
def test_hebbian_matches_reference(case, x64):
    options = dict(HEBBIAN_CASES[case])
    bias = options.pop("bias", False)
    p_conn = options.pop("p_conn", 1.0)
    syn = HebbianSynapse("h", (N_IN, N_OUT), weight_init=uniform(-0.5, 0.8), p_conn=p_conn, seed=3,
                         bias_init=uniform(-0.1, 0.1) if bias else None, resist_scale=1.5, **options)
    rng = np.random.default_rng(1)
    pre = rng.uniform(size=(STEPS, BATCH, N_IN)) * spikes(rng, (STEPS, BATCH, N_IN), 0.5)
    post = rng.uniform(-0.5, 1.0, size=(STEPS, BATCH, N_OUT))
    x = spikes(rng, (STEPS, BATCH, N_IN), 0.3)
    params, state0 = syn.default_params(), syn.init_state(BATCH)
    states, outs = run_component(syn, params, {"x": x, "pre": pre, "post": post}, DT)
    prior, lmbda, l1_ratio = options.get("prior", (None, 0.0))[0], 0.0, 0.0
    if options.get("w_decay"):
        prior, lmbda = "l2", options["w_decay"]
    elif prior == "elastic_net":
        lmbda, l1_ratio = options["prior"][1]
    elif prior is not None:
        lmbda = options["prior"][1]
    prior = {"ridge": "l2", "lasso": "l1"}.get(prior, prior)
    W_ref, b_ref = ref_hebbian(
        state0["weights"], state0.get("biases"), params["mask"], pre, post, eta=options["eta"],
        w_bound=options["w_bound"], is_nonnegative=options.get("is_nonnegative", False), prior=prior, lmbda=lmbda,
        l1_ratio=l1_ratio, sign_value=options["sign_value"], optim=options["optim_type"],
        pre_wght=options.get("pre_wght", 1.0), post_wght=options.get("post_wght", 1.0))
    assert_trajectory(states["weights"], W_ref, f"{case} weights")
    assert np.abs(W_ref[-1] - state0["weights"]).max() > 0.05, "the case must move the weights"
    W_before = np.concatenate([state0["weights"][None], W_ref[:-1]])
    b_before = np.concatenate([state0["biases"][None], b_ref[:-1]]) if bias else 0.0
    out_ref = np.einsum("tbi,tij->tbj", x, W_before * params["mask"]) * 1.5 + (b_before[:, None, :] if bias else 0)
    assert_trajectory(outs["out"], out_ref, f"{case} out (uses the weights before the step)")
    if bias:
        assert_trajectory(states["biases"], b_ref, f"{case} biases")


# ---------------------------------------------------------------------------------------------
# BCM
# ---------------------------------------------------------------------------------------------
def ref_bcm(W, theta, mask, pre, post, *, tau_w, tau_theta, w_bound, w_decay, dt):
    Ws, thetas = [], []
    for t in range(len(pre)):
        y = post[t]
        post_term = y * (y - theta[None, :]) / (theta[None, :] + 1e-7)
        dW = outer(pre[t], post_term)
        if w_bound > 0:
            dW = dW * (w_bound - np.abs(W))
        W = (W + (dW - w_decay * W) * dt / tau_w) * mask
        theta = theta + (np.mean(y ** 2, axis=0) - theta) * dt / tau_theta
        Ws.append(W)
        thetas.append(theta)
    return np.stack(Ws), np.stack(thetas)


@pytest.mark.parametrize("w_bound,w_decay,theta0", [(0.0, 0.0, -1.0), (1.0, 0.02, 0.5)])
def test_bcm_matches_reference(w_bound, w_decay, theta0, x64):
    syn = BCMSynapse("b", (N_IN, N_OUT), tau_w=40.0, tau_theta=10.0, theta0=theta0, w_bound=w_bound,
                     w_decay=w_decay, p_conn=0.7, seed=2)
    rng = np.random.default_rng(4)
    pre, post = rng.uniform(size=(STEPS, BATCH, N_IN)), rng.uniform(0, 1.5, size=(STEPS, BATCH, N_OUT))
    params, state0 = syn.default_params(), syn.init_state(BATCH)
    states, _ = run_component(syn, params, {"x": pre, "pre": pre, "post": post}, DT)
    W_ref, theta_ref = ref_bcm(state0["weights"], state0["theta"], params["mask"], pre, post, tau_w=40.0,
                               tau_theta=10.0, w_bound=w_bound, w_decay=w_decay, dt=DT)
    assert_trajectory(states["theta"], theta_ref, "theta")
    assert_trajectory(states["weights"], W_ref, "weights")
    assert np.abs(W_ref[-1] - state0["weights"]).max() > 0.05


# ---------------------------------------------------------------------------------------------
# STDP family
# ---------------------------------------------------------------------------------------------
TRACE_CASES = {"additive": dict(mu=0.0, tau_w=0.0, pretrace_target=0.0),
               "additive_decay_target": dict(mu=0.0, tau_w=200.0, pretrace_target=0.3),
               "power_law": dict(mu=0.7, tau_w=0.0, pretrace_target=0.1),
               "power_law_decay": dict(mu=1.5, tau_w=150.0, pretrace_target=0.0)}


@pytest.mark.parametrize("case", TRACE_CASES)
def test_trace_stdp_matches_reference(case, x64):
    options = TRACE_CASES[case]
    syn = TraceSTDPSynapse("s", (N_IN, N_OUT), A_plus=0.05, A_minus=0.04, eta=0.8, w_bound=1.2, p_conn=0.8,
                           weight_init=uniform(0.1, 1.0), seed=5, **options)
    inp = stdp_inputs()
    params, state0 = syn.default_params(), syn.init_state(BATCH)
    states, _ = run_component(syn, params, inp, DT)
    W_ref = ref_trace_stdp(state0["weights"], params["mask"], inp, A_plus=0.05, A_minus=0.04, eta=0.8,
                           mu=options["mu"], target=options["pretrace_target"], w_bound=1.2, tau_w=options["tau_w"])
    assert_trajectory(states["weights"], W_ref, f"{case} weights")
    assert np.abs(W_ref[-1] - state0["weights"]).max() > 0.1
    assert ("mu" in params) == (options["mu"] > 0), "mu is a run-time parameter of power-law STDP only"


def ref_exp_stdp(W, mask, inp, *, A_plus, A_minus, beta, eta, target, w_bound, tau_w):
    Ws = []
    for t in range(len(inp["pre_spike"])):
        s_post = inp["post_spike"][t]
        ltp = (np.exp(-beta * W) * outer(inp["pre_trace"][t], s_post)
               - np.exp(-beta * (w_bound - W)) * outer(np.full_like(inp["pre_trace"][t], target), s_post))
        ltd = np.exp(-beta * W) * outer(inp["pre_spike"][t], inp["post_trace"][t])
        decay = W / tau_w if tau_w > 0 else 0.0
        W = np.clip(W + eta * (A_plus * ltp - A_minus * ltd) - decay, 0.01, w_bound - 0.01) * mask
        Ws.append(W)
    return np.stack(Ws)


@pytest.mark.parametrize("tau_w", [0.0, 300.0])
def test_exp_stdp_matches_reference(tau_w, x64):
    syn = ExpSTDPSynapse("e", (N_IN, N_OUT), A_plus=0.06, A_minus=0.05, exp_beta=1.5, eta=0.7, pretrace_target=0.2,
                         w_bound=1.0, tau_w=tau_w, p_conn=0.8, seed=6)
    inp = stdp_inputs(seed=1)
    params, state0 = syn.default_params(), syn.init_state(BATCH)
    states, _ = run_component(syn, params, inp, DT)
    W_ref = ref_exp_stdp(state0["weights"], params["mask"], inp, A_plus=0.06, A_minus=0.05, beta=1.5, eta=0.7,
                         target=0.2, w_bound=1.0, tau_w=tau_w)
    assert_trajectory(states["weights"], W_ref, "weights")
    assert np.abs(W_ref[-1] - state0["weights"]).max() > 0.1


def ref_tols(s, dt):
    """Time of last spike with the clock t_k = (k+1)*dt accumulated by addition, 0 = never."""
    t, tols, out = 0.0, np.zeros(s.shape[1:]), []
    for k in range(len(s)):
        t = t + dt
        tols = np.where(s[k] > 0, t, tols)
        out.append(tols)
    return np.stack(out)


def ref_event_stdp(W, mask, tols, post, *, eta, lmbda, A_plus, A_minus, window, w_bound, dt):
    t, Ws = 0.0, []
    for k in range(len(tols)):
        t = t + dt
        pre = ((tols[k] > 0) & ((t - window < tols[k]) if window > 0 else (tols[k] == t))).astype(float)
        dW = np.zeros_like(W)
        for b in range(tols.shape[1]):     # the batch-1 rule of the spec, summed over samples
            dW += np.where(pre[b][:, None] > 0, (w_bound - W * (1 + lmbda)) * A_plus,
                           -W * (1 + lmbda) * A_minus) * post[k, b][None, :]
        W = np.clip(W + eta * dW, 0.01, w_bound) * mask
        Ws.append(W)
    return np.stack(Ws)


@pytest.mark.parametrize("window", [0.0, 2.0, 3.2])
def test_event_stdp_matches_reference(window, x64):
    syn = EventSTDPSynapse("v", (N_IN, N_OUT), eta=0.3, lmbda=0.05, A_plus=0.8, A_minus=0.6, presyn_win_len=window,
                           w_bound=1.0, p_conn=0.8, seed=7)
    rng = np.random.default_rng(8)
    pre, post = spikes(rng, (STEPS, BATCH, N_IN), 0.1), spikes(rng, (STEPS, BATCH, N_OUT), 0.1)
    tols = ref_tols(pre, DT)
    params, state0 = syn.default_params(), syn.init_state(BATCH)
    states, _ = run_component(syn, params, {"x": pre, "pre_tols": tols, "post_spike": post}, DT)
    W_ref = ref_event_stdp(state0["weights"], params["mask"], tols, post, eta=0.3, lmbda=0.05, A_plus=0.8,
                           A_minus=0.6, window=window, w_bound=1.0, dt=DT)
    assert_trajectory(states["weights"], W_ref, "weights")
    assert_trajectory(states["t"], DT * np.arange(1, STEPS + 1), "clock")
    assert np.abs(W_ref[-1] - state0["weights"]).max() > 0.1


def test_spike_time_tracker_matches_reference(x64):
    tracker = SpikeTimeTracker("tr", 6)
    s = spikes(np.random.default_rng(9), (STEPS, BATCH, 6), 0.1)
    states, outs = run_component(tracker, {}, {"s": s}, DT)
    assert_trajectory(outs["tols"], ref_tols(s, DT), "tols")
    assert outs["tols"][0][s[0] == 0].max() == 0 and np.all(outs["tols"][0][s[0] > 0] == DT)


# ---------------------------------------------------------------------------------------------
# Modulated: MSTDP-ET
# ---------------------------------------------------------------------------------------------
def ref_mstdpet(W, mask, inp, modulator, *, A_plus, A_minus, eta, mu, target, w_bound, tau_w, tau_elg, elg_decay,
                dt):
    elig, dW_prev, Ws, eligs = np.zeros_like(W), np.zeros_like(W), [], []
    for t in range(len(modulator)):
        elig = elig * np.exp(-dt / tau_elg) * elg_decay + dW_prev / tau_elg if tau_elg > 0 else dW_prev
        decay = W / tau_w if tau_w > 0 else 0.0
        W_new = W + eta * np.mean(modulator[t]) * elig - decay
        dW_prev = (A_plus * (w_bound - W) ** mu * outer(inp["pre_trace"][t] - target, inp["post_spike"][t])
                   - A_minus * W ** mu * outer(inp["pre_spike"][t], inp["post_trace"][t]))   # old W
        W = np.clip(W_new, 0, w_bound) * mask
        Ws.append(W)
        eligs.append(elig)
    return np.stack(Ws), np.stack(eligs)


@pytest.mark.parametrize("tau_elg,tau_w,mu", [(0.0, 0.0, 0.0), (5.0, 0.0, 0.0), (8.0, 400.0, 0.0), (5.0, 0.0, 1.3)])
def test_mstdpet_matches_reference(tau_elg, tau_w, mu, x64):
    syn = MSTDPETSynapse("m", (N_IN, N_OUT), A_plus=0.05, A_minus=0.06, eta=2.0, pretrace_target=0.1, w_bound=1.0,
                         tau_w=tau_w, tau_elg=tau_elg, elg_decay=0.9, mu=mu, p_conn=0.8, seed=10)
    inp = stdp_inputs(seed=2)
    modulator = np.random.default_rng(11).uniform(-1, 1, size=(STEPS, BATCH, 1))
    params, state0 = syn.default_params(), syn.init_state(BATCH)
    states, _ = run_component(syn, params, {**inp, "modulator": modulator}, DT)
    W_ref, elig_ref = ref_mstdpet(state0["weights"], params["mask"], inp, modulator, A_plus=0.05, A_minus=0.06,
                                  eta=2.0, mu=mu, target=0.1, w_bound=1.0, tau_w=tau_w, tau_elg=tau_elg,
                                  elg_decay=0.9, dt=DT)
    assert_trajectory(states["eligibility"], elig_ref, "eligibility")
    assert_trajectory(states["weights"], W_ref, "weights")
    assert np.abs(W_ref[-1] - state0["weights"]).max() > 0.05


def test_mstdpet_learns_nothing_without_modulator(x64):
    syn = MSTDPETSynapse("m", (N_IN, N_OUT), A_plus=0.05, A_minus=0.06, tau_elg=5.0)
    inp = stdp_inputs(seed=3, steps=50)
    states, _ = run_component(syn, syn.default_params(), {**inp, "modulator": np.zeros((50, BATCH, 1))}, DT)
    np.testing.assert_array_equal(states["weights"][-1], syn.init_state(BATCH)["weights"])
    assert np.abs(states["eligibility"][-1]).max() > 0


# ---------------------------------------------------------------------------------------------
# Traces
# ---------------------------------------------------------------------------------------------
def ref_var_trace(s, *, tau, a_delta, P_scale, gamma, decay_type, n_nearest, dt):
    leak = {"exp": np.exp(-dt / tau), "lin": 1 - dt / tau, "step": 0.0}[decay_type]
    z, out = np.zeros(s.shape[1:]), []
    for t in range(len(s)):
        decayed = gamma * z * leak
        if n_nearest > 0:
            z = decayed + s[t] * (a_delta - z / n_nearest)
        elif a_delta > 0:
            z = decayed + s[t] * a_delta
        else:
            z = decayed * (1 - s[t]) + s[t] * P_scale
        out.append(z)
    return np.stack(out)


TRACE_MODES = {"exp_additive": dict(decay_type="exp", a_delta=1.0),
               "lin_gated": dict(decay_type="lin", a_delta=0.0, P_scale=0.8, gamma_tr=0.95),
               "step": dict(decay_type="step", a_delta=0.5),
               "nearest_spike": dict(decay_type="exp", a_delta=1.0, n_nearest_spikes=1),
               "per_unit_tau": dict(decay_type="exp", a_delta=0.3, tau_tr=np.array([2.0, 5.0, 10.0, 20.0]))}


@pytest.mark.parametrize("mode", TRACE_MODES)
def test_var_trace_matches_reference(mode, x64):
    options = {"tau_tr": 10.0, **TRACE_MODES[mode]}
    trace = VarTrace("z", 4, **options)
    s = spikes(np.random.default_rng(12), (STEPS, BATCH, 4), 0.2)
    _, outs = run_component(trace, trace.default_params(), {"s": s}, DT)
    want = ref_var_trace(s, tau=options["tau_tr"], a_delta=options["a_delta"], P_scale=options.get("P_scale", 1.0),
                         gamma=options.get("gamma_tr", 1.0), decay_type=options["decay_type"],
                         n_nearest=options.get("n_nearest_spikes", 0), dt=DT)
    assert_trajectory(outs["trace"], want, mode)


# ---------------------------------------------------------------------------------------------
# Bounds, clipping and masks
# ---------------------------------------------------------------------------------------------
def hard_drive(seed=0, steps=120):
    """Dense, strong activity that pushes every rule against its bounds."""
    rng = np.random.default_rng(seed)
    pre, post = spikes(rng, (steps, BATCH, N_IN), 0.6), spikes(rng, (steps, BATCH, N_OUT), 0.6)
    return {"x": pre, "pre": pre * 3, "post": post * 3 - 1, "pre_spike": pre, "post_spike": post,
            "pre_trace": exp_trace(pre, 5, DT), "post_trace": exp_trace(post, 5, DT),
            "pre_tols": ref_tols(pre, DT), "modulator": rng.uniform(-3, 3, size=(steps, BATCH, 1))}


PLASTIC = {
    "hebbian_signed": (lambda **k: HebbianSynapse("h", (N_IN, N_OUT), eta=1.0, w_bound=0.7, sign_value=-1.0, **k),
                       (-0.7, 0.7)),
    "hebbian_nonneg": (lambda **k: HebbianSynapse("h", (N_IN, N_OUT), eta=1.0, w_bound=0.7, is_nonnegative=True,
                                                  sign_value=-1.0, **k), (0.0, 0.7)),
    "hebbian_nonneg_unbounded": (lambda **k: HebbianSynapse("h", (N_IN, N_OUT), eta=1.0, w_bound=0.0,
                                                            optim_type="adam", is_nonnegative=True, **k),
                                 (0.0, None)),
    "bcm": (lambda **k: BCMSynapse("b", (N_IN, N_OUT), tau_w=1.0, tau_theta=5.0, theta0=0.5, **k), (None, None)),
    "trace_stdp": (lambda **k: TraceSTDPSynapse("s", (N_IN, N_OUT), A_plus=1.0, A_minus=0.3, eta=1.0, w_bound=0.9,
                                                **k), (0.0, 0.9)),
    "exp_stdp": (lambda **k: ExpSTDPSynapse("e", (N_IN, N_OUT), A_plus=1.0, A_minus=1.0, exp_beta=0.5, eta=1.0,
                                            w_bound=0.9, **k), (0.01, 0.89)),
    "event_stdp": (lambda **k: EventSTDPSynapse("v", (N_IN, N_OUT), eta=1.0, w_bound=0.9, **k), (0.01, 0.9)),
    "mstdpet": (lambda **k: MSTDPETSynapse("m", (N_IN, N_OUT), A_plus=1.0, A_minus=0.5, eta=1.0, tau_elg=2.0,
                                           w_bound=0.8, **k), (0.0, 0.8)),
}


PRUNINGS = {"p_conn": dict(p_conn=0.5),                                   # drawn from the seed
            "mask": dict(mask=np.indices((N_IN, N_OUT)).sum(axis=0) % 3 > 0)}  # given, as in ngclearn


@pytest.mark.parametrize("pruning", PRUNINGS)
@pytest.mark.parametrize("kind", PLASTIC)
def test_weights_stay_within_bounds_and_pruned_synapses_never_regrow(kind, pruning):
    build, (low, high) = PLASTIC[kind]
    syn = build(seed=13, **PRUNINGS[pruning])
    params = syn.default_params()
    pruned = params["mask"] == 0
    assert pruned.any() and (~pruned).any()
    state = syn.init_state(BATCH)
    state["weights"] = np.where(pruned, 0.5, state["weights"])     # even weights written into pruned slots ...
    inputs = {p.name: v for p in syn.inputs for k, v in hard_drive().items() if k == p.name}
    states, _ = run_component(syn, params, inputs, DT, state=state)
    W = states["weights"]
    assert np.all(W[:, pruned] == 0), "a pruned synapse carries a weight"      # ... are cleared and stay 0
    live = W[:, ~pruned]
    assert np.ptp(live[-1] - live[0]) > 0.05, "the drive must change the weights"
    if low is not None:
        assert live.min() >= low - 1e-6, f"weights below {low}: {live.min()}"
    if high is not None:
        assert live.max() <= high + 1e-6, f"weights above {high}: {live.max()}"
    if low is not None and high is not None and kind != "exp_stdp":
        assert np.isclose(live.min(), low, atol=1e-6) or np.isclose(live.max(), high, atol=1e-6), \
            "the drive must push weights onto a bound (so the clip is exercised)"


def test_frozen_synapse_keeps_weights_in_params_and_does_not_learn():
    learning = TraceSTDPSynapse("s", (N_IN, N_OUT), A_plus=0.1, A_minus=0.1, seed=1)
    frozen = TraceSTDPSynapse("s", (N_IN, N_OUT), A_plus=0.1, A_minus=0.1, seed=1, learning=False)
    assert set(frozen.default_params()) == {"weights", "mask", "resist_scale"}
    assert frozen.init_state(BATCH) == {} and "weights" in learning.init_state(BATCH)
    assert [p.name for p in frozen.inputs] == [p.name for p in learning.inputs], "same ports in both modes"
    np.testing.assert_array_equal(frozen.default_params()["weights"], learning.init_state(1)["weights"])
    inp = {k: v[:20] for k, v in stdp_inputs().items()}
    frozen_states, frozen_out = run_component(frozen, frozen.default_params(), inp, DT)
    learning_states, learning_out = run_component(learning, learning.default_params(), inp, DT)
    assert frozen_states == {}
    np.testing.assert_allclose(frozen_out["out"][0], learning_out["out"][0], rtol=1e-6)
    assert not np.allclose(frozen_out["out"][1:], learning_out["out"][1:]), "the learning one must differ later"
    expected = np.einsum("tbi,ij->tbj", inp["x"], frozen.default_params()["weights"])
    np.testing.assert_allclose(frozen_out["out"], expected, rtol=1e-6)


@pytest.mark.parametrize("build,message", [
    (lambda: HebbianSynapse("h", (3, 2), optim_type="rmsprop"), "`optim_type` must be one of"),
    (lambda: HebbianSynapse("h", (3, 2), prior=("l3", 0.1)), "`prior` name must be"),
    (lambda: HebbianSynapse("h", (3, 2), prior=("l2", 0.1), w_decay=0.1), "either `w_decay`"),
    (lambda: HebbianSynapse("h", (3, 2), prior=("elastic_net", 0.1)), "needs \\(lmbda, l1_ratio\\)"),
    (lambda: HebbianSynapse("h", (3, 2), w_bound=-1.0), "`w_bound` must be >= 0"),
    (lambda: HebbianSynapse("h", (3, 2), learning="yes"), "`learning` must be True or False"),
    (lambda: TraceSTDPSynapse("s", (3, 2), A_plus=1.0), "missing required option\\(s\\) 'A_minus'"),
    (lambda: TraceSTDPSynapse("s", (3, 2), A_plus=1.0, A_minus=-1.0), "`A_minus` must be >= 0"),
    (lambda: TraceSTDPSynapse("s", (3, 2), A_plus=1.0, A_minus=1.0, mu=-1.0), "`mu` must be >= 0"),
    (lambda: ExpSTDPSynapse("e", (3, 2), A_plus=1.0, A_minus=1.0, exp_beta=1.0, w_bound=0.01),
     "`w_bound` must be > 0.02"),
    (lambda: BCMSynapse("b", (3, 2), tau_w=0.0, tau_theta=1.0), "`tau_w` must be > 0"),
    (lambda: VarTrace("z", 3, decay_type="cubic"), "`decay_type` must be one of"),
])
def test_bad_options_are_refused_with_the_component_named(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()


# ---------------------------------------------------------------------------------------------
# Compiled artifacts equal JAX, one network per family
# ---------------------------------------------------------------------------------------------
def soma_network(name, batch=2):
    net = Network(name, dt=DT, batch=batch)
    net.add_input("drive", (N_IN,))
    return net


def add_soma(net, source, n=N_OUT):
    soma = net.add(ExponentialSoma("soma", n, potential_reset=-70.0))
    net.connect(source, "soma.i")
    net.record("soma.spikes")
    return soma


def wire_stdp(net, syn, trace_tau=5.0):
    """drive -> syn -> soma, traces of both sides added after the synapse (see plasticity.stdp)."""
    net.add(VarTrace("pre_tr", N_IN, tau_tr=trace_tau))
    net.add(VarTrace("post_tr", N_OUT, tau_tr=trace_tau))
    for port in ("x", "pre_spike"):
        net.connect("drive", f"{syn}.{port}")
    net.connect("soma.spikes", f"{syn}.post_spike")
    net.connect("pre_tr.trace", f"{syn}.pre_trace")
    net.connect("post_tr.trace", f"{syn}.post_trace")
    net.connect("drive", "pre_tr.s")
    net.connect("soma.spikes", "post_tr.s")


def drive_inputs(steps=STEPS, batch=2, rate=0.25, seed=21):
    return {"drive": spikes(np.random.default_rng(seed), (steps, batch, N_IN), rate)}


def test_compiled_hebbian_sgd_adam_and_nag_equal_jax(tmp_path):
    net = soma_network("hebb")
    net.add(HebbianSynapse("sgd", (N_IN, N_OUT), eta=0.002, sign_value=-1.0, w_bound=1.0, bias_init=uniform(0, 5),
                           resist_scale=300.0, p_conn=0.2, seed=1))     # sparse: a compile-time CSR pattern
    net.add(HebbianSynapse("adam", (N_IN, N_OUT), eta=0.002, optim_type="adam", prior=("l2", 0.01),
                           is_nonnegative=True, resist_scale=100.0, bias_init=uniform(0, 5), seed=2))
    net.add(HebbianSynapse("nag", (N_IN, N_OUT), eta=0.002, optim_type="nag", sign_value=-1.0, w_bound=1.0,
                           resist_scale=100.0, seed=3))
    add_soma(net, "sgd.out")
    net.connect("adam.out", "soma.i")
    net.connect("nag.out", "soma.i")
    for syn in ("sgd", "adam", "nag"):
        net.connect("drive", f"{syn}.x")
        net.connect("drive", f"{syn}.pre")
        net.connect("soma.spikes", f"{syn}.post")
    learned = ("sgd.weights", "sgd.biases", "adam.weights", "adam.biases", "adam.weights_m", "nag.weights",
               "nag.weights_phi")
    session, _ = check_compiled(net, drive_inputs(), tmp_path, learned=learned)
    assert session.init_state()["adam.adam_t"].shape == () and session.init_state()["nag.nag_t"].shape == ()


def test_compiled_bcm_equals_jax(tmp_path):
    net = soma_network("bcm")
    net.add(BCMSynapse("bcm", (N_IN, N_OUT), tau_w=50.0, tau_theta=20.0, theta0=0.5, w_bound=1.0,
                       resist_scale=300.0, seed=3))
    add_soma(net, "bcm.out")
    net.connect("drive", "bcm.x")
    net.connect("drive", "bcm.pre")
    net.connect("soma.spikes", "bcm.post")
    check_compiled(net, drive_inputs(), tmp_path, learned=("bcm.weights", "bcm.theta"))


def test_compiled_stdp_family_equals_jax(tmp_path):
    net = soma_network("stdp")
    net.add(TraceSTDPSynapse("add", (N_IN, N_OUT), A_plus=0.02, A_minus=0.025, tau_w=500.0, resist_scale=150.0,
                             seed=4))
    net.add(TraceSTDPSynapse("pow", (N_IN, N_OUT), A_plus=0.02, A_minus=0.02, mu=0.8, resist_scale=100.0, seed=5))
    net.add(ExpSTDPSynapse("exp", (N_IN, N_OUT), A_plus=0.02, A_minus=0.02, exp_beta=1.0, pretrace_target=0.1,
                           resist_scale=100.0, seed=6))
    net.add(SpikeTimeTracker("tols", N_IN))
    net.add(EventSTDPSynapse("event", (N_IN, N_OUT), eta=0.05, presyn_win_len=2.0, resist_scale=100.0, seed=7))
    add_soma(net, "add.out")
    for syn in ("pow", "exp", "event"):
        net.connect(f"{syn}.out", "soma.i")
    wire_stdp(net, "add")
    for syn in ("pow", "exp"):
        for port, source in (("x", "drive"), ("pre_spike", "drive"), ("post_spike", "soma.spikes"),
                             ("pre_trace", "pre_tr.trace"), ("post_trace", "post_tr.trace")):
            net.connect(source, f"{syn}.{port}")
    net.connect("drive", "tols.s")
    net.connect("drive", "event.x")
    net.connect("tols.tols", "event.pre_tols")
    net.connect("soma.spikes", "event.post_spike")
    check_compiled(net, drive_inputs(), tmp_path,
                   learned=("add.weights", "pow.weights", "exp.weights", "event.weights"))


def test_compiled_mstdpet_equals_jax_and_resumes_bit_exactly(tmp_path):
    net = soma_network("mstdpet")
    net.add_input("reward", (1,))
    net.add(MSTDPETSynapse("m", (N_IN, N_OUT), A_plus=0.05, A_minus=0.04, eta=1.0, tau_elg=10.0, tau_w=1000.0,
                           resist_scale=300.0, p_conn=0.8, seed=8))
    add_soma(net, "m.out")
    wire_stdp(net, "m")
    net.connect("reward", "m.modulator")
    inputs = {**drive_inputs(), "reward": np.random.default_rng(5).uniform(-1, 1, size=(STEPS, 2, 1))}
    session, _ = check_compiled(net, inputs, tmp_path, learned=("m.weights", "m.eligibility", "m.dweights"))
    inputs32 = {k: v.astype(np.float32) for k, v in inputs.items()}
    whole, _ = session.run(session.init_state(), inputs32)
    half, _ = session.run(session.init_state(), {k: v[:140] for k, v in inputs32.items()})
    session.save_state(half, tmp_path / "half.npz")
    rest, _ = session.run(session.load_state(tmp_path / "half.npz"), {k: v[140:] for k, v in inputs32.items()})
    for name in ("m.weights", "m.eligibility", "m.dweights"):
        np.testing.assert_array_equal(rest[name], whole[name], err_msg=name)


# ---------------------------------------------------------------------------------------------
# End to end: STDP learns a selective response inside the compiled artifact
# ---------------------------------------------------------------------------------------------
def load_example(name):
    path = Path(__file__).resolve().parents[2] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module          # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_stdp_makes_the_compiled_neuron_selective_to_a_hidden_pattern(tmp_path):
    example = load_example("stdp_selectivity")
    learn, frozen = example.compile_sessions(tmp_path)
    result = example.run_experiment(learn, frozen)
    w = result.weights
    assert result.selectivity_before < 0.5, f"the untrained neuron is already selective: {result.before}"
    assert result.learned, f"not selective after STDP: pattern/noise spikes {result.after}"
    assert w[:example.N_PATTERN].mean() > w[example.N_PATTERN:].mean() + 0.1, "pattern afferents must win"
    # The criterion rejects broken rules (same artifact, parameters changed at run time):
    for broken in ({"A_minus": 0.0}, {"A_plus": 0.0}):
        failed = example.run_experiment(learn, frozen, rule_params={"A_plus": 0.01, "A_minus": 0.012, **broken})
        assert not failed.learned, f"{broken} passed the selectivity test: {failed.after}"
