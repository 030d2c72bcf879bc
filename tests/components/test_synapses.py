"""The synapse library against the spec (shared/spec/components.md, "Synapses").

The reference below is an independent float64 NumPy transcription of the spec's equations,
written with explicit loops; it never calls component code. Components are run step by step
through `jax.jit(component.step)` with float64 enabled for this module only.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from plastic_checks import assert_trajectory

from aotsnn.components.initializers import constant, gaussian, uniform
from aotsnn.components.synapses import (AlphaSynapse, DenseSynapse, DoubleExpSynapse, ExponentialSynapse,
                                        STPDenseSynapse, StaticSynapse)

STEPS = 300
BATCH = 2
RTOL, ATOL = 1e-10, 1e-12


@pytest.fixture(autouse=True, scope="module")
def x64():
    """float64 for these tests, restored afterwards so other modules keep jax's defaults."""
    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


# ---------------------------------------------------------------------------------------------
# Driving a component and comparing trajectories
# ---------------------------------------------------------------------------------------------
def spike_train(steps, batch, n, rate=0.15, seed=0):
    """A fixed 0/1 pattern (steps, batch, n): the same on every run."""
    return (np.random.default_rng(seed).uniform(size=(steps, batch, n)) < rate).astype(np.float64)


def membrane(steps, batch, n):
    """A deterministic post-synaptic potential [mV] swinging around -60 mV."""
    t = np.arange(steps)[:, None, None]
    return -60.0 + 15.0 * np.sin(0.05 * t + np.arange(batch)[None, :, None] + 0.3 * np.arange(n)[None, None, :])


def run(component, params, inputs, dt, state=None, step=None):
    """Run len(inputs) steps; return (per-step states, per-step outputs) stacked on a time axis."""
    step = step or jax.jit(component.step, static_argnums=3)
    steps, batch = next(iter(inputs.values())).shape[:2]
    state = component.init_state(batch) if state is None else state
    state = {k: jnp.asarray(v) for k, v in state.items()}
    params = {k: jnp.asarray(v) for k, v in params.items()}
    states, outs = [], []
    for t in range(steps):
        state, out = step(params, state, {k: v[t] for k, v in inputs.items()}, dt)
        states.append({k: np.asarray(v) for k, v in state.items()})
        outs.append({k: np.asarray(v) for k, v in out.items()})
    stack = lambda seq: {k: np.stack([s[k] for s in seq]) for k in seq[0]} if seq[0] else {}  # noqa: E731
    return stack(states), stack(outs)


def assert_close(got, want, what):
    """Compare trajectories leaf by leaf; report the first step that differs and the largest error."""
    assert set(got) == set(want), f"{what}: leaves {sorted(got)} != {sorted(want)}"
    for leaf, ref in want.items():
        assert_trajectory(got[leaf], ref, f"{what}: leaf `{leaf}`", RTOL, ATOL)


# ---------------------------------------------------------------------------------------------
# Independent NumPy reference of the spec equations (float64)
# ---------------------------------------------------------------------------------------------
def ref_dense(W, mask, resist_scale, biases, xs, delays=None):
    """out[t] = (x_delayed[t] @ (W*mask)) * resist_scale + b, x_delayed[t, i] = x[t - d_i, i]."""
    steps, batch, n_in = xs.shape
    n_out = W.shape[1]
    out = np.zeros((steps, batch, n_out))
    for t in range(steps):
        for b in range(batch):
            for j in range(n_out):
                total = 0.0
                for i in range(n_in):
                    src = t if delays is None else t - int(delays[i])
                    if src >= 0:
                        total += xs[src, b, i] * W[i, j] * mask[i, j]
                out[t, b, j] = total * resist_scale + (0.0 if biases is None else biases[j])
    return {"out": out}


def ref_conductance(kind, p, spikes, v, dt, integration, current_based):
    """Exponential / alpha / double-exponential conductance per the spec, unit by unit."""
    steps, batch, n_in = spikes.shape
    n_out = p["weights"].shape[1]
    per_unit = lambda name, j: float(np.broadcast_to(p[name], (n_out,))[j])  # noqa: E731

    def factor(tau):
        return 1.0 - dt / tau if integration == "euler" else float(np.exp(-dt / tau))

    h = np.zeros((batch, n_out))
    g = np.zeros((batch, n_out))
    traj = {"g": np.zeros((steps, batch, n_out)), "i": np.zeros((steps, batch, n_out))}
    if kind != "exp":
        traj["h"] = np.zeros((steps, batch, n_out))
    for t in range(steps):
        for b in range(batch):
            for j in range(n_out):
                o = sum(spikes[t, b, i] * p["weights"][i, j] * p["mask"][i, j] for i in range(n_in))
                gbar, tau_d = per_unit("g_syn_bar", j), per_unit("tau_decay", j)
                if kind == "exp":
                    g[b, j] = g[b, j] * factor(tau_d) + gbar * o
                elif kind == "alpha":
                    h[b, j] = h[b, j] * factor(tau_d) + gbar * o
                    g[b, j] = g[b, j] * factor(tau_d) + dt * h[b, j] / tau_d
                else:
                    tau_r = per_unit("tau_rise", j)
                    h[b, j] = h[b, j] * factor(tau_r) + gbar * (1.0 / tau_r - 1.0 / tau_d) * o
                    g[b, j] = g[b, j] * factor(tau_d) + dt * h[b, j]
                drive = g[b, j] if current_based else g[b, j] * (per_unit("syn_rest", j) - v[t, b, j])
                traj["i"][t, b, j] = float(p["resist_scale"]) * drive
        traj["g"][t] = g
        if kind != "exp":
            traj["h"][t] = h
    state = {k: v for k, v in traj.items() if k != "i"}
    return state, {"i": traj["i"]}


def ref_stp(p, spikes, dt):
    """Tsodyks-Markram per synapse per the spec; tau = 0 switches the variable to its fixed value."""
    steps, batch, n_in = spikes.shape
    n_out = p["weights"].shape[1]
    tau_f = np.broadcast_to(p["tau_f"], (n_in, n_out))
    tau_d = np.broadcast_to(p["tau_d"], (n_in, n_out))
    u = np.zeros((batch, n_in, n_out))
    x = np.ones((batch, n_in, n_out))
    wdyn = np.zeros((batch, n_in, n_out))
    states = {k: np.zeros((steps, batch, n_in, n_out)) for k in ("u", "x", "Wdyn")}
    out = np.zeros((steps, batch, n_out))
    for t in range(steps):
        for b in range(batch):
            for i in range(n_in):
                s = spikes[t, b, i]
                for j in range(n_out):
                    U, w = p["resources"][i, j], p["weights"][i, j] * p["mask"][i, j]
                    if tau_f[i, j] > 0:
                        u[b, i, j] = u[b, i, j] - dt * u[b, i, j] / tau_f[i, j] + U * (1 - u[b, i, j]) * s
                    else:
                        u[b, i, j] = U
                    wdyn[b, i, j] = w * u[b, i, j] * x[b, i, j] * s + wdyn[b, i, j] * (1 - s)
                    if tau_d[i, j] > 0:
                        x[b, i, j] = x[b, i, j] + dt * (1 - x[b, i, j]) / tau_d[i, j] - u[b, i, j] * x[b, i, j] * s
                    else:
                        x[b, i, j] = 1.0
            for j in range(n_out):
                total = sum(spikes[t, b, i] * wdyn[b, i, j] for i in range(n_in))
                out[t, b, j] = total * float(p["resist_scale"]) + (p["biases"][j] if "biases" in p else 0.0)
        states["u"][t], states["x"][t], states["Wdyn"][t] = u, x, wdyn
    return states, {"out": out}


def unmasked(params, seed=123):
    """Params whose weights are non-zero even where the mask is 0, as a user or a learning rule
    might write them: only W*mask may conduct."""
    shape = params["weights"].shape
    return {**params, "weights": np.random.default_rng(seed).uniform(0.1, 1.0, size=shape)}


# ---------------------------------------------------------------------------------------------
# Step-by-step agreement with the reference, every class and both integration modes
# ---------------------------------------------------------------------------------------------
CONDUCTANCE = {"exp": ExponentialSynapse, "alpha": AlphaSynapse, "dexp": DoubleExpSynapse}
# The arguments ngclearn requires of the conductance synapses (aotsnn too): typical values.
REQUIRED = {ExponentialSynapse: dict(tau_decay=5.0, g_syn_bar=1.0, syn_rest=0.0),
            AlphaSynapse: dict(tau_decay=5.0, g_syn_bar=1.0, syn_rest=0.0),
            DoubleExpSynapse: dict(tau_decay=5.0, tau_rise=1.0, g_syn_bar=1.0, syn_rest=0.0)}


def build(cls, name, *args, **kwargs):
    """`cls(name, ...)` with the required conductance arguments filled in where not given."""
    return cls(name, *args, **{**REQUIRED.get(cls, {}), **kwargs})


@pytest.mark.parametrize("integration", ["euler", "exact"])
@pytest.mark.parametrize("kind", ["exp", "alpha", "dexp"])
@pytest.mark.parametrize("syn_rest", [0.0, None], ids=["conductance", "current"])
def test_conductance_matches_reference(kind, integration, syn_rest):
    n_in, n_out, dt = 5, 3, 0.25
    taus = {"tau_decay": np.array([2.0, 3.0, 8.0])}
    if kind == "dexp":
        taus["tau_rise"] = np.array([0.5, 1.0, 2.0])
    syn = CONDUCTANCE[kind]("syn", (n_in, n_out), g_syn_bar=np.array([0.5, 1.0, 2.0]), syn_rest=syn_rest,
                            integration=integration, resist_scale=1.5, p_conn=0.6, seed=4, **taus)
    params = unmasked(syn.default_params())
    spikes, v = spike_train(STEPS, BATCH, n_in), membrane(STEPS, BATCH, n_out)
    states, outs = run(syn, params, {"s": spikes, "v": v}, dt)
    want_states, want_outs = ref_conductance(kind, params, spikes, v, dt, integration, syn_rest is None)
    assert_close(states, want_states, f"{kind}/{integration} state")
    assert_close(outs, want_outs, f"{kind}/{integration} output")


@pytest.mark.parametrize("config", [
    dict(),
    dict(bias_init=uniform(-1.0, 1.0), resist_scale=0.7),
    dict(max_delay_steps=6, delays=[1, 6, 3, 2, 6]),
    dict(max_delay_steps=4, bias_init=constant(0.5)),
], ids=["plain", "bias", "given-delays", "drawn-delays"])
@pytest.mark.parametrize("cls", [DenseSynapse, StaticSynapse])
def test_dense_matches_reference(cls, config):
    syn = cls("syn", (5, 3), p_conn=0.7, seed=2, **config)
    params = unmasked(syn.default_params())
    xs = spike_train(STEPS, BATCH, 5, rate=0.3) * np.random.default_rng(9).uniform(0.5, 2.0, size=(STEPS, BATCH, 5))
    _, outs = run(syn, params, {"x": xs}, 0.1)
    want = ref_dense(params["weights"], params["mask"], float(params["resist_scale"]), params.get("biases"), xs,
                     params.get("delays"))
    assert_close(outs, want, f"{cls.__name__} {config}")


STP_CASES = {
    "facilitating": dict(tau_f=750.0, tau_d=50.0),
    "depressing": dict(tau_f=50.0, tau_d=750.0),
    "fast": dict(tau_f=3.0, tau_d=5.0),
    "no-facilitation": dict(tau_f=0.0, tau_d=20.0),
    "no-depression": dict(tau_f=20.0, tau_d=0.0),
    "static": dict(tau_f=0.0, tau_d=0.0),
    "per-synapse": dict(tau_f=np.array([[0.0, 10.0], [30.0, 0.0], [5.0, 100.0]]),
                        tau_d=np.array([[8.0, 0.0], [0.0, 40.0], [12.0, 3.0]])),
}


@pytest.mark.parametrize("case", list(STP_CASES))
def test_stp_matches_reference(case):
    syn = STPDenseSynapse("syn", (3, 2), p_conn=0.8, seed=5, bias_init=constant(0.1), resist_scale=2.0,
                          resources_init=uniform(0.1, 0.6), **STP_CASES[case])
    params = unmasked(syn.default_params())
    spikes = spike_train(STEPS, BATCH, 3, rate=0.2)
    states, outs = run(syn, params, {"s": spikes}, 0.5)
    want_states, want_outs = ref_stp(params, spikes, 0.5)
    assert_close(states, want_states, f"STP {case} state")
    assert_close(outs, want_outs, f"STP {case} output")


# ---------------------------------------------------------------------------------------------
# Analytic checks
# ---------------------------------------------------------------------------------------------
def single_spike(steps, n_in, which=0):
    spikes = np.zeros((steps, 1, n_in))
    spikes[0, 0, which] = 1.0
    return spikes


def test_reference_figure():
    """Spec figure: ExponentialSynapse(tau_decay=3, g_syn_bar=0.5), W = arange(1,13)/10, input 0 at step 0."""
    for integration in ("euler", "exact"):
        syn = ExponentialSynapse("syn", (4, 3), tau_decay=3.0, g_syn_bar=0.5, syn_rest=0.0, integration=integration)
        params = {**syn.default_params(), "weights": np.arange(1, 13).reshape(4, 3) / 10}
        states, _ = run(syn, params, {"s": single_spike(1, 4), "v": np.zeros((1, 1, 3))}, 0.1)
        np.testing.assert_allclose(states["g"][0, 0], [0.05, 0.10, 0.15], rtol=1e-12)


@pytest.mark.parametrize("integration", ["euler", "exact"])
def test_exponential_single_spike_decay(integration):
    dt, tau, gbar = 0.1, np.array([2.0, 3.0, 5.0]), np.array([0.5, 1.0, 2.0])
    syn = ExponentialSynapse("syn", (2, 3), tau_decay=tau, g_syn_bar=gbar, syn_rest=0.0,
                             integration=integration)        # unit weights: ngclearn's default
    states, _ = run(syn, syn.default_params(), {"s": single_spike(STEPS, 2), "v": np.zeros((STEPS, 1, 3))}, dt)
    k = np.arange(STEPS)[:, None]
    want = gbar * ((1 - dt / tau) ** k if integration == "euler" else np.exp(-k * dt / tau))
    np.testing.assert_allclose(states["g"][:, 0], want, rtol=1e-10)


@pytest.mark.parametrize("integration", ["euler", "exact"])
def test_alpha_single_spike(integration):
    """g after step k = g_bar*(dt/tau)*(k+1)*a^k (the docstring's statement of the h -> g coupling)."""
    dt, tau, gbar = 0.2, 4.0, 0.8
    syn = AlphaSynapse("syn", (1, 1), tau_decay=tau, g_syn_bar=gbar, syn_rest=0.0,
                       integration=integration)
    states, _ = run(syn, syn.default_params(), {"s": single_spike(STEPS, 1), "v": np.zeros((STEPS, 1, 1))}, dt)
    k = np.arange(STEPS)
    a = 1 - dt / tau if integration == "euler" else np.exp(-dt / tau)
    np.testing.assert_allclose(states["h"][:, 0, 0], gbar * a ** k, rtol=1e-10)
    np.testing.assert_allclose(states["g"][:, 0, 0], gbar * (dt / tau) * (k + 1) * a ** k, rtol=1e-10)


@pytest.mark.parametrize("integration", ["euler", "exact"])
def test_double_exp_single_spike(integration):
    """g after step k = dt*c*(a_r^(k+1) - a_d^(k+1))/(a_r - a_d), c = g_bar*(1/tau_r - 1/tau_d);
    it tracks the continuous g_bar*(exp(-t/tau_d) - exp(-t/tau_r)) to O(dt)."""
    dt, tau_r, tau_d, gbar = 0.1, 1.0, 6.0, 1.5
    syn = DoubleExpSynapse("syn", (1, 1), tau_decay=tau_d, tau_rise=tau_r, g_syn_bar=gbar,
                           syn_rest=0.0, integration=integration)
    states, _ = run(syn, syn.default_params(), {"s": single_spike(STEPS, 1), "v": np.zeros((STEPS, 1, 1))}, dt)
    k = np.arange(STEPS)
    fac = (lambda tau: 1 - dt / tau) if integration == "euler" else (lambda tau: np.exp(-dt / tau))
    a_r, a_d = fac(tau_r), fac(tau_d)
    c = gbar * (1 / tau_r - 1 / tau_d)
    g = states["g"][:, 0, 0]
    np.testing.assert_allclose(g, dt * c * (a_r ** (k + 1) - a_d ** (k + 1)) / (a_r - a_d), rtol=1e-10)
    t = (k + 1) * dt
    np.testing.assert_allclose(g, gbar * (np.exp(-t / tau_d) - np.exp(-t / tau_r)), atol=0.05 * gbar)


def stp_efficacies(tau_f, tau_d, U, period=20, n_spikes=15, dt=1.0):
    """Output of one synapse (W = 1) at each spike of a regular train: the released fraction u*x."""
    syn = STPDenseSynapse("syn", (1, 1), tau_f=tau_f, tau_d=tau_d, weight_init=constant(1.0),
                          resources_init=constant(U))
    spikes = np.zeros((period * n_spikes, 1, 1))
    spikes[::period] = 1.0
    _, outs = run(syn, syn.default_params(), {"s": spikes}, dt)
    at_spikes = outs["out"][::period, 0, 0]
    silent = np.delete(outs["out"][:, 0, 0], np.arange(0, len(spikes), period))
    assert np.all(silent == 0.0), "STP output must be zero between spikes"
    return at_spikes


def test_stp_facilitation_and_depression():
    """Tsodyks-Markram regimes at 50 Hz: tau_f >> tau_d facilitates, tau_d >> tau_f depresses."""
    stf = stp_efficacies(tau_f=750.0, tau_d=50.0, U=0.15)
    assert stf[0] == pytest.approx(0.15)
    assert stf[1] > 1.3 * stf[0] and stf[-1] > 1.3 * stf[0], f"expected facilitation, got {stf}"
    std = stp_efficacies(tau_f=50.0, tau_d=750.0, U=0.45)
    assert std[0] == pytest.approx(0.45)
    assert np.all(np.diff(std[:5]) < 0) and std[-1] < 0.5 * std[0], f"expected depression, got {std}"
    static = stp_efficacies(tau_f=0.0, tau_d=0.0, U=0.3)
    np.testing.assert_allclose(static, 0.3, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# Axonal delays
# ---------------------------------------------------------------------------------------------
def test_delays_deliver_exactly_d_steps_later():
    delays = [1, 3, 5, 2]
    syn = DenseSynapse("syn", (4, 4), max_delay_steps=5, delays=delays)
    params = {**syn.default_params(), "weights": np.eye(4)}
    xs = np.zeros((20, 1, 4))
    xs[0, 0, :] = 1.0          # every input spikes at step 0 ...
    xs[7, 0, 2] = 1.0          # ... and input 2 again at step 7
    states, outs = run(syn, params, {"x": xs}, 0.1)
    assert states["delay_buffer"].shape == (20, 1, 5, 4)
    for i, d in enumerate(delays):
        arrivals = np.flatnonzero(outs["out"][:, 0, i])
        expected = [d] + ([7 + d] if i == 2 else [])
        assert list(arrivals) == expected, f"input {i} with delay {d} arrived at steps {list(arrivals)}"
        assert np.all(outs["out"][expected, 0, i] == 1.0)


def test_delays_are_runtime_parameters_and_state_is_complete():
    """One compiled step serves new delays; a run split at step 150 resumes bit-exactly."""
    syn = DenseSynapse("syn", (3, 2), max_delay_steps=8, delays=[2, 2, 2], seed=1)
    step = jax.jit(syn.step, static_argnums=3)
    xs = spike_train(STEPS, BATCH, 3, rate=0.3)
    for delays in ([2, 2, 2], [8, 1, 4]):
        params = {**syn.default_params(), "delays": np.array(delays, np.float64)}
        states, outs = run(syn, params, {"x": xs}, 0.1, step=step)
        want = ref_dense(params["weights"], params["mask"], 1.0, None, xs, delays)
        assert_close(outs, want, f"delays {delays}")
        half = STEPS // 2
        first = {k: v[half - 1] for k, v in states.items()}
        _, rest = run(syn, params, {"x": xs[half:]}, 0.1, state=first, step=step)
        np.testing.assert_array_equal(rest["out"], outs["out"][half:])


def test_drawn_delays_are_reproducible_and_in_range():
    draw = lambda seed: DenseSynapse("syn", (200, 3), max_delay_steps=4, seed=seed).default_params()  # noqa: E731
    a, b, c = draw(11), draw(11), draw(12)
    np.testing.assert_array_equal(a["delays"], b["delays"])
    assert not np.array_equal(a["delays"], c["delays"])
    assert set(np.unique(a["delays"])) == {1.0, 2.0, 3.0, 4.0}
    # drawing delays does not disturb the weights drawn for the same seed
    np.testing.assert_array_equal(a["weights"], DenseSynapse("syn", (200, 3), seed=11).default_params()["weights"])


# ---------------------------------------------------------------------------------------------
# Parameters are run-time inputs; steps are pure and scan-compatible
# ---------------------------------------------------------------------------------------------
def test_steps_compute_from_params_only():
    """A component built with one value and run with another follows the value it is run with."""
    dt = 0.25
    spikes, v = spike_train(100, BATCH, 4), membrane(100, BATCH, 3)
    syn = build(AlphaSynapse, "syn", (4, 3), tau_decay=3.0, integration="exact")
    params = {**syn.default_params(), "tau_decay": np.array(9.0), "syn_rest": np.array(-80.0)}
    states, outs = run(syn, params, {"s": spikes, "v": v}, dt)
    want_states, want_outs = ref_conductance("alpha", params, spikes, v, dt, "exact", False)
    assert_close(outs, want_outs, "alpha with run-time tau_decay")

    stp = STPDenseSynapse("syn", (4, 3), tau_f=100.0, tau_d=100.0)
    params = {**stp.default_params(), "tau_f": np.zeros((4, 3)), "tau_d": np.full((4, 3), 7.0)}
    states, outs = run(stp, params, {"s": spikes}, dt)
    want_states, want_outs = ref_stp(params, spikes, dt)
    assert_close(states, want_states, "STP with tau_f switched to 0 at run time")


SCAN_CASES = {
    "dense-delays": (lambda: DenseSynapse("syn", (4, 3), max_delay_steps=3), ("x",)),
    "exponential": (lambda: build(ExponentialSynapse, "syn", (4, 3), integration="exact"), ("s", "v")),
    "alpha": (lambda: build(AlphaSynapse, "syn", (4, 3)), ("s", "v")),
    "double-exp": (lambda: build(DoubleExpSynapse, "syn", (4, 3), syn_rest=None), ("s", "v")),
    "stp": (lambda: STPDenseSynapse("syn", (4, 3), tau_f=0.0), ("s",)),
}


@pytest.mark.parametrize("case", list(SCAN_CASES))
def test_step_runs_under_scan_in_float32(case):
    """The step is pure: it runs inside lax.scan with a float32 carry and matches the float64 loop."""
    make, ports = SCAN_CASES[case]
    syn = make()
    n_in, n_out = syn.shape
    inputs = {"x": spike_train(50, BATCH, n_in), "s": spike_train(50, BATCH, n_in), "v": membrane(50, BATCH, n_out)}
    inputs = {k: inputs[k] for k in ports}
    params, state = syn.default_params(), syn.init_state(BATCH)
    f32 = lambda tree: {k: jnp.asarray(v, jnp.float32) for k, v in tree.items()}  # noqa: E731
    _, outs32 = jax.lax.scan(lambda c, x: syn.step(f32(params), c, x, 0.1), f32(state), f32(inputs))
    _, outs64 = run(syn, params, inputs, 0.1)
    for k, v in outs32.items():
        assert v.dtype == jnp.float32, f"{case}: output {k} is {v.dtype}"
        np.testing.assert_allclose(np.asarray(v), outs64[k], rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# Connectivity masks and constructor options
# ---------------------------------------------------------------------------------------------
ALL_CLASSES = [DenseSynapse, StaticSynapse, ExponentialSynapse, AlphaSynapse, DoubleExpSynapse, STPDenseSynapse]


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_p_conn_mask_is_reproducible_and_kept(cls):
    make = lambda seed: build(cls, "syn", (40, 30), p_conn=0.3, seed=seed).default_params()  # noqa: E731
    a, b, c = make(7), make(7), make(8)
    np.testing.assert_array_equal(a["mask"], b["mask"])
    np.testing.assert_array_equal(a["weights"], b["weights"])
    assert not np.array_equal(a["mask"], c["mask"])
    assert set(np.unique(a["mask"])) == {0.0, 1.0}
    assert 0.24 < a["mask"].mean() < 0.36
    assert np.all(a["weights"][a["mask"] == 0] == 0)
    full = build(cls, "syn", (40, 30), seed=7).default_params()
    assert np.all(full["mask"] == 1.0)


def test_masked_synapses_never_conduct():
    syn = DenseSynapse("syn", (6, 5), p_conn=0.5, seed=3)
    params = {**syn.default_params(), "weights": np.ones((6, 5))}
    x = np.ones((1, 1, 6))
    _, outs = run(syn, params, {"x": x}, 0.1)
    np.testing.assert_allclose(outs["out"][0, 0], params["mask"].sum(axis=0))


def test_constructor_options():
    syn = build(ExponentialSynapse, "syn", (2, 2), g_conduct_factor=2.5)
    assert float(syn.default_params()["resist_scale"]) == 2.5
    stp = STPDenseSynapse("syn", (30, 20), seed=1).default_params()["resources"]
    assert stp.shape == (30, 20) and 0.125 <= stp.min() and stp.max() <= 0.175
    np.testing.assert_array_equal(stp, STPDenseSynapse("syn", (30, 20), seed=1).default_params()["resources"])
    assert {p.name for p in build(AlphaSynapse, "syn", (2, 3)).inputs} == {"s", "v"}
    assert StaticSynapse("syn", (2, 3)).label == "'syn' (StaticSynapse)"


# ---------------------------------------------------------------------------------------------
# Bad parameters
# ---------------------------------------------------------------------------------------------
BAD = [
    (ExponentialSynapse, dict(tau_decay=-1.0), "tau_decay"),
    (AlphaSynapse, dict(tau_decay=0.0), "tau_decay"),
    (DoubleExpSynapse, dict(tau_rise=-0.5), "tau_rise"),
    (DoubleExpSynapse, dict(tau_rise=5.0, tau_decay=5.0), "tau_rise"),
    (DoubleExpSynapse, dict(tau_rise=np.array([1.0, 9.0, 1.0]), tau_decay=6.0), "tau_rise"),
    (STPDenseSynapse, dict(tau_f=-1.0), "tau_f"),
    (STPDenseSynapse, dict(tau_d=-50.0), "tau_d"),
    (STPDenseSynapse, dict(tau_d=np.ones((3, 4))), "tau_d"),
    (STPDenseSynapse, dict(resources_init=constant(1.5)), "resources"),
    (ExponentialSynapse, dict(tau_decay=np.ones(5)), "tau_decay"),
    (AlphaSynapse, dict(g_syn_bar=np.ones((4, 3))), "g_syn_bar"),
    (ExponentialSynapse, dict(integration="rk4"), "integration"),
    (AlphaSynapse, dict(integration="Exact"), "integration"),
    (DoubleExpSynapse, dict(integration=None), "integration"),
    (ExponentialSynapse, dict(is_nonplastic="no"), "is_nonplastic"),
    (ExponentialSynapse, dict(weight_init=gaussian()), "weight_init"),            # would be overwritten by ones
    (AlphaSynapse, dict(bias_init=constant(0.0)), "bias_init"),
    (DenseSynapse, dict(max_delay_steps=-1), "max_delay_steps"),
    (DenseSynapse, dict(max_delay_steps=2.5), "max_delay_steps"),
    (DenseSynapse, dict(delays=[1, 2, 3, 4]), "delays"),
    (DenseSynapse, dict(max_delay_steps=5, delays=[1, 2, 3]), "delays"),
    (DenseSynapse, dict(max_delay_steps=5, delays=[1, 0, 3, 4]), "delays"),
    (DenseSynapse, dict(max_delay_steps=5, delays=[1, 6, 3, 4]), "delays"),
    (DenseSynapse, dict(max_delay_steps=5, delays=[1, 2.5, 3, 4]), "delays"),
    (StaticSynapse, dict(resist_scale=2.0, g_conduct_factor=3.0), "g_conduct_factor"),
    (ExponentialSynapse, dict(weight_init=gaussian(), p_conn=0.0), "p_conn"),
    (DenseSynapse, dict(mask=np.ones((3, 4))), "mask"),
    (StaticSynapse, dict(weight_mask=np.full((4, 3), 2.0)), "mask"),
    (DenseSynapse, dict(mask=np.ones((4, 3)), weight_mask=np.ones((4, 3))), "weight_mask"),
] + [(cls, dict(p_conn=p), "p_conn") for cls in ALL_CLASSES for p in (1.5, -0.2)] \
  + [(cls, dict(shape=s), "shape") for cls in (DenseSynapse, STPDenseSynapse, DoubleExpSynapse)
     for s in ((4,), (0, 3), (4.0, 3))]


@pytest.mark.parametrize("cls,kwargs,field", BAD, ids=lambda v: getattr(v, "__name__", None) or str(v)[:40])
def test_bad_parameters_raise_naming_component_and_field(cls, kwargs, field):
    kwargs = {"shape": (4, 3), **kwargs}
    with pytest.raises(ValueError) as info:
        build(cls, "syn", **kwargs)
    message = str(info.value)
    assert f"'syn' ({cls.__name__})" in message, message
    assert f"`{field}`" in message, message


@pytest.mark.parametrize("cls,field,value", [
    (ExponentialSynapse, "tau_decay", -2.0),
    (DoubleExpSynapse, "tau_rise", 50.0),
    (STPDenseSynapse, "tau_f", -1.0),
    (STPDenseSynapse, "resources", -0.1),
    (DenseSynapse, "delays", 9.0),
    (DenseSynapse, "mask", 2.0),
], ids=lambda v: getattr(v, "__name__", None) or str(v))
def test_bad_runtime_parameters_are_rejected(cls, field, value):
    syn = build(cls, "syn", (4, 3), **({"max_delay_steps": 3} if cls is DenseSynapse else {}))
    params = syn.default_params()
    syn.validate_params(params)
    with pytest.raises(ValueError, match=rf"'syn' \({cls.__name__}\): `{field}`"):
        syn.validate_params({**params, field: np.full(np.shape(params[field]), value)})


# ---------------------------------------------------------------------------------------------
# ngclearn's defaults for the conductance synapses
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", list(REQUIRED), ids=lambda c: c.__name__)
def test_conductance_synapses_require_what_ngclearn_requires(cls):
    for missing in REQUIRED[cls]:
        given = {k: v for k, v in REQUIRED[cls].items() if k != missing}
        with pytest.raises(TypeError, match=f"'{missing}'"):
            cls("syn", (4, 3), **given)
    assert "syn_rest" not in cls("syn", (4, 3), **{**REQUIRED[cls], "syn_rest": None}).default_params()


@pytest.mark.parametrize("cls", list(REQUIRED), ids=lambda c: c.__name__)
def test_conductance_weights_follow_ngclearns_is_nonplastic(cls):
    """ngclearn's default is_nonplastic=True sets every weight to 1 (the mask is kept here);
    is_nonplastic=False draws them from weight_init, the same draw as a DenseSynapse's."""
    plain = build(cls, "syn", (40, 30), p_conn=0.4, seed=5).default_params()
    np.testing.assert_array_equal(plain["weights"], plain["mask"])
    assert 0.3 < plain["mask"].mean() < 0.5
    drawn = build(cls, "syn", (40, 30), p_conn=0.4, seed=5, is_nonplastic=False).default_params()
    dense = DenseSynapse("syn", (40, 30), p_conn=0.4, seed=5).default_params()
    np.testing.assert_array_equal(drawn["weights"], dense["weights"])
    given = build(cls, "syn", (40, 30), seed=5, is_nonplastic=False, weight_init=constant(0.3)).default_params()
    assert np.all(given["weights"] == 0.3)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_a_given_mask_multiplies_the_drawn_one(cls):
    """ngclearn's `mask` (DenseSynapse, Hebbian) / `weight_mask` (STDP classes): W*mask everywhere."""
    given = (np.random.default_rng(2).uniform(size=(40, 30)) < 0.5).astype(float)
    for key in ("mask", "weight_mask"):
        params = build(cls, "syn", (40, 30), p_conn=0.6, seed=4, **{key: given}).default_params()
        drawn = build(cls, "syn", (40, 30), p_conn=0.6, seed=4).default_params()["mask"]
        np.testing.assert_array_equal(params["mask"], drawn * given)
        assert np.all(params["weights"][params["mask"] == 0] == 0) and 0.2 < params["mask"].mean() < 0.4
