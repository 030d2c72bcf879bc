"""The somas against the spec (shared/spec/components.md, "Somas", spark-snn 1.2's options and
deviations 5-7).

`reference` below is an independent float64 NumPy integration of the spec equations, written in
absolute millivolts and with the refractory period tracked by the step of the last spike, so it
shares no code and no bookkeeping with the components (relative potentials, a countdown, a
threshold shift). The components run through their own `step` under `lax.scan`.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aotsnn.components.somas import (AdaptiveExponentialSoma, CoupledAdaptiveExponentialSoma, ExponentialSoma,
                                     RefractoryExponentialSoma, SimplifiedAdaptiveExponentialSoma)

SOMAS = (ExponentialSoma, RefractoryExponentialSoma, AdaptiveExponentialSoma,
         SimplifiedAdaptiveExponentialSoma)
REFRACTORY = (RefractoryExponentialSoma, SimplifiedAdaptiveExponentialSoma)
# AdaptiveExponentialSoma with all four spark-snn 1.2 mechanisms on at once.
EVERY_MECHANISM = functools.partial(AdaptiveExponentialSoma, cooldown=1.0, clamp_duration=0.5, threshold_delta=5.0,
                                    adaptation_delta=7.0)
EVERY_MECHANISM.__name__ = "AdaptiveExponentialSoma+every_mechanism"

# Parameter names and defaults as the spec lists them (spark-snn names).
BASE_DEFAULTS = dict(potential_rest=-70.0, potential_reset=-51.0, potential_tau=5.0, resistance=0.5,
                     threshold=-30.0, rheobase_threshold=-50.0, spike_slope=2.0)
EXTRA_DEFAULTS = {
    ExponentialSoma: {},
    RefractoryExponentialSoma: dict(cooldown=2.0),
    AdaptiveExponentialSoma: {},        # spark-snn 1.2: every mechanism off unless asked for
    SimplifiedAdaptiveExponentialSoma: dict(cooldown=2.0, threshold_tau=20.0, threshold_delta=100.0),
}
V_TOL_F64 = 1e-9   # mV, component in float64 versus the reference
V_TOL_F32 = 1e-2   # mV, component in float32 versus the reference (rounding grows near onset)


@pytest.fixture
def x64():
    previous = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


# -- reference ----------------------------------------------------------------------------------
def reference(cls, overrides, currents, dt):
    """Spec equations in float64 NumPy. currents (T, batch, n) [pA] -> spikes, v (T, batch, n).

    Potentials are absolute [mV]. A mechanism is on when its trigger (cooldown, clamp_duration,
    threshold_delta, adaptation_delta) is among the parameters. Exponent clamp of deviation 5 at
    the current threshold theta (inactive whenever V starts a step at or below theta); a vetoed V
    is held at or below theta (deviation 7).
    """
    T, batch, n = currents.shape
    given = {**BASE_DEFAULTS, **EXTRA_DEFAULTS[cls], **overrides}
    if "threshold_delta" in given:
        given = {"threshold_tau": 20.0, **given}
    if "adaptation_delta" in given:
        given = {"adaptation_tau": 100.0, "adaptation_subthreshold": 0.5, **given}
    p = {k: np.broadcast_to(np.asarray(v, np.float64), (n,)) for k, v in given.items()}
    rest, reset, tau, R = p["potential_rest"], p["potential_reset"], p["potential_tau"], p["resistance"]
    rheobase, slope = p["rheobase_threshold"], p["spike_slope"]
    gate = np.round(p["cooldown"] / dt) if "cooldown" in p else np.full(n, -1.0)
    clamp = np.round(p["clamp_duration"] / dt) if "clamp_duration" in p else np.full(n, -1.0)
    V = np.broadcast_to(rest, (batch, n)).copy()
    w = np.zeros((batch, n))
    theta = np.broadcast_to(p["threshold"], (batch, n)).copy()
    last_spike = np.full((batch, n), -np.inf)
    spikes, volts = np.zeros((T, batch, n)), np.zeros((T, batch, n))
    for k in range(T):
        blocked = (k - last_spike) <= gate          # steps k0+1 .. k0+cd after a spike at k0
        clamped = (k - last_spike) <= clamp         # steps k0+1 .. k0+cl
        current = np.where(blocked, 0.0, currents[k])
        exponent = np.minimum((V - rheobase) / slope, (theta - rheobase) / slope)
        V = V + (dt / tau) * (-(V - rest) + slope * np.exp(exponent) - R * w + R * current)
        V = np.where(clamped, reset, V)
        fired = (V > theta) & ~blocked
        V = np.where(fired, reset, np.where(blocked, np.minimum(V, theta), V))
        if "adaptation_delta" in p:
            w = (w + (dt / p["adaptation_tau"]) * (-w + p["adaptation_subthreshold"] * (V - rest))
                 + p["adaptation_delta"] * fired)
        if "threshold_delta" in p:
            theta = (theta + (1 - np.exp(-dt / p["threshold_tau"])) * (p["threshold"] - theta)
                     + p["threshold_delta"] * fired)
        last_spike = np.where(fired, k, last_spike)
        spikes[k], volts[k] = fired, V
    return spikes, volts


# -- running the components ---------------------------------------------------------------------
def simulate(soma, currents, dt=0.1, dtype=jnp.float32, params=None, state=None):
    """`soma.step` under lax.scan. currents (T, batch, n) -> (outputs, states), numpy, time-major."""
    params = soma.default_params() if params is None else params
    state = soma.init_state(currents.shape[1]) if state is None else state
    params = {k: jnp.asarray(v, dtype) for k, v in params.items()}
    state = {k: jnp.asarray(v, dtype) for k, v in state.items()}

    def body(carry, i):
        carry, out = soma.step(params, carry, {"i": i}, dt)
        return carry, (out, carry)

    _, (outs, states) = jax.jit(lambda s, x: jax.lax.scan(body, s, x))(state, jnp.asarray(currents, dtype))
    as_np = lambda tree: {k: np.asarray(v.astype(jnp.float32) if v.dtype == jnp.bfloat16 else v)
                          for k, v in tree.items()}
    return as_np(outs), as_np(states)


def spike_steps(spikes):
    return list(np.flatnonzero(spikes))


def assert_same_run(spikes, v, ref_spikes, ref_v, v_tol):
    """Spike steps equal everywhere; V within v_tol. Reports the first bad step and unit."""
    bad = np.argwhere(spikes != ref_spikes)
    assert bad.size == 0, (f"spikes differ first at step {bad[0][0]}, unit {tuple(bad[0][1:])}: "
                           f"component {spikes[tuple(bad[0])]}, reference {ref_spikes[tuple(bad[0])]}")
    err = np.abs(v - ref_v)
    worst = np.unravel_index(np.argmax(err), err.shape)
    assert err[worst] <= v_tol, f"V off by {err[worst]:g} mV at step {worst[0]}, unit {worst[1:]}"


def constant_currents(values, T, batch=1):
    values = np.asarray(values, np.float64)
    return np.broadcast_to(values * np.arange(1, batch + 1)[:, None] ** 0.5, (T, batch, len(values))).copy()


def step_currents(values, T):
    """Off for 100 steps, on until 2T/3, then a negative pulse and half amplitude."""
    values = np.asarray(values, np.float64)
    out = np.zeros((T, 1, len(values)))
    out[100:2 * T // 3] = values
    out[2 * T // 3:2 * T // 3 + 20] = -200.0
    out[2 * T // 3 + 20:] = values / 2
    return out


# -- defaults and the reference figures ---------------------------------------------------------
@pytest.mark.parametrize("cls", SOMAS, ids=lambda c: c.__name__)
def test_parameter_names_and_defaults_follow_the_spec(cls):
    soma = cls("s", 3)
    expected = {**BASE_DEFAULTS, **EXTRA_DEFAULTS[cls]}
    got = soma.default_params()
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert float(got[name]) == value, name
    assert all(np.all(v == 0) for v in soma.init_state(2).values())   # rest, ready, no adaptation


def test_reference_figures_of_the_spec():
    currents = constant_currents([30.0, 60.0, 120.0], 300)
    outs, _ = simulate(ExponentialSoma("s", 3), currents)
    ref_spikes, _ = reference(ExponentialSoma, {}, currents, 0.1)
    for spikes in (outs["spikes"], ref_spikes):
        assert spike_steps(spikes[:, 0, 0]) == []
        assert spike_steps(spikes[:, 0, 1])[:3] == [75, 102, 129]
        unit2 = spike_steps(spikes[:, 0, 2])
        assert unit2[:3] == [29, 40, 51] and set(np.diff(unit2)) == {11}


# -- component versus reference -----------------------------------------------------------------
CUSTOM = {
    ExponentialSoma: dict(potential_tau=[4.0, 5.0, 6.0, 8.0, 10.0, 5.0, 5.0, 7.0], spike_slope=1.5),
    RefractoryExponentialSoma: dict(cooldown=[0.0, 0.3, 1.0, 2.0, 2.0, 5.0, 0.7, 1.2],
                                    potential_reset=-60.0),
    AdaptiveExponentialSoma: dict(adaptation_delta=[0.0, 7.0, 20.0, 40.0, 7.0, 15.0, 30.0, 60.0],
                                  adaptation_subthreshold=[0.5, 0.0, 2.0, -0.2, 1.0, 0.5, 0.5, 4.0],
                                  adaptation_tau=50.0),
    # Threshold below the rheobase: a leaky regime where the moving threshold decides spike times.
    SimplifiedAdaptiveExponentialSoma: dict(threshold=-55.0, rheobase_threshold=-45.0,
                                            potential_reset=-65.0, cooldown=[0.0, 0.5, 1.0, 2.0, 0.0, 0.5, 1.0, 2.0],
                                            threshold_delta=[0.0, 2.0, 5.0, 10.0, 3.0, 1.0, 8.0, 4.0],
                                            threshold_tau=[20.0, 20.0, 50.0, 10.0, 5.0, 80.0, 20.0, 20.0]),
}
LEVELS = [-20.0, 0.0, 30.0, 45.0, 70.0, 120.0, 250.0, 600.0]


@pytest.mark.parametrize("config", ["defaults", "custom"])
@pytest.mark.parametrize("drive", ["constant", "step"])
@pytest.mark.parametrize("cls", SOMAS, ids=lambda c: c.__name__)
def test_float64_run_matches_reference(x64, cls, drive, config):
    T, dt = 600, 0.1
    currents = constant_currents(LEVELS, T, batch=2) if drive == "constant" else step_currents(LEVELS, T)
    overrides = CUSTOM[cls] if config == "custom" else {}
    outs, _ = simulate(cls("s", len(LEVELS), **overrides), currents, dt, jnp.float64)
    ref_spikes, ref_v = reference(cls, overrides, currents, dt)
    assert ref_spikes.sum() > 20                     # the comparison covers many spikes
    assert_same_run(outs["spikes"], outs["v"], ref_spikes, ref_v, V_TOL_F64)


@pytest.mark.parametrize("cls", SOMAS, ids=lambda c: c.__name__)
def test_float32_run_matches_reference(cls):
    T, dt = 600, 0.1
    currents = constant_currents(LEVELS, T)
    outs, _ = simulate(cls("s", len(LEVELS)), currents, dt, jnp.float32)
    ref_spikes, ref_v = reference(cls, {}, currents, dt)
    assert_same_run(outs["spikes"], outs["v"], ref_spikes, ref_v, V_TOL_F32)


# -- refractory period --------------------------------------------------------------------------
@pytest.mark.parametrize("cls", REFRACTORY, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dt", [0.1, 0.05])
def test_refractory_gates_exactly_cd_steps(cls, dt):
    cooldowns = [0.0, 0.5, 1.0, 2.0, 3.3]
    soma = cls("s", 5, cooldown=cooldowns, threshold_delta=0.0) if cls is SimplifiedAdaptiveExponentialSoma \
        else cls("s", 5, cooldown=cooldowns)
    T = 200
    outs, states = simulate(soma, np.full((T, 1, 5), 1e4), dt)   # fires whenever it may
    for unit, cooldown in enumerate(cooldowns):
        cd = int(round(cooldown / dt))
        assert spike_steps(outs["spikes"][:, 0, unit]) == list(range(0, T, cd + 1)), (unit, cd)
        # the countdown leaf: cd right after a spike, then cd-1, ..., 0 (ready)
        expected_left = [max(cd - (k % (cd + 1)), 0) if cd else 0 for k in range(T)]
        np.testing.assert_array_equal(states["refractory"][:, 0, unit], expected_left)


@pytest.mark.parametrize("cls", REFRACTORY, ids=lambda c: c.__name__)
def test_input_is_ignored_only_while_refractory(cls):
    T, cd = 80, 20
    base = np.zeros((T, 1, 1))
    base[0] = 1e4                                             # spike at step 0
    during, after = base.copy(), base.copy()
    during[1:cd + 1] = 300.0                                  # steps 1..cd: gated
    after[cd + 1] = 300.0                                     # first ready step
    runs = [simulate(cls("s", 1), x)[0] for x in (base, during, after)]
    assert spike_steps(runs[0]["spikes"]) == [0]
    np.testing.assert_array_equal(runs[1]["v"], runs[0]["v"])
    np.testing.assert_array_equal(runs[1]["spikes"], runs[0]["spikes"])
    assert runs[2]["v"][cd + 1, 0, 0] > runs[0]["v"][cd + 1, 0, 0] + 2.9   # (dt/tau) R I = 3 mV


@pytest.mark.parametrize("cls", REFRACTORY, ids=lambda c: c.__name__)
def test_vetoed_potential_is_held_at_threshold(x64, cls):
    # Reset above the rheobase: the exponential term alone pushes V past threshold while gated.
    soma = cls("s", 1, potential_reset=-38.0)
    currents = np.full((300, 1, 1), 50.0)
    outs, states = simulate(soma, currents, 0.1, jnp.float64)
    ref_spikes, ref_v = reference(cls, dict(potential_reset=-38.0), currents, 0.1)
    assert_same_run(outs["spikes"], outs["v"], ref_spikes, ref_v, V_TOL_F64)
    steps = spike_steps(outs["spikes"])
    assert np.all(np.diff(steps) == 21)                       # fires on each first ready step
    shift = states.get("threshold_shift", np.zeros_like(outs["v"]))
    theta_prev = -30.0 + np.concatenate([np.zeros_like(shift[:1]), shift[:-1]])
    assert np.all(outs["v"] <= theta_prev + 1e-9) and np.max(outs["v"] - theta_prev) > -1e-9
    state = soma.init_state(1)
    state["refractory"][:] = 3
    state["v_rel"][:] = 39.9
    outs, _ = simulate(soma, np.full((5, 1, 1), 1e4), state=state)
    assert spike_steps(outs["spikes"]) == [3]


def test_cooldown_is_a_run_time_parameter():
    soma = RefractoryExponentialSoma("s", 1)
    traces = []

    @jax.jit
    def run(params):
        traces.append(1)
        state = {k: jnp.asarray(v, jnp.float32) for k, v in soma.init_state(1).items()}
        body = lambda s, i: soma.step(params, s, {"i": i}, 0.1)
        return jax.lax.scan(body, state, jnp.full((60, 1, 1), 1e4, jnp.float32))[1]["spikes"]

    for cooldown, period in ((2.0, 21), (0.4, 5)):
        params = {k: jnp.asarray(v, jnp.float32) for k, v in soma.default_params().items()}
        params["cooldown"] = jnp.asarray(cooldown, jnp.float32)
        assert spike_steps(np.asarray(run(params))) == list(range(0, 60, period))
    assert len(traces) == 1


# -- adaptation ---------------------------------------------------------------------------------
def test_adaptation_current_follows_its_equation(x64):
    dt, a, b, tau_w = 0.1, 0.8, 12.0, 60.0
    soma = AdaptiveExponentialSoma("s", 2, adaptation_subthreshold=a, adaptation_delta=b, adaptation_tau=tau_w)
    currents = step_currents([80.0, 300.0], 900)
    outs, states = simulate(soma, currents, dt, jnp.float64)
    w, v_rel, s = states["w"], states["v_rel"], outs["spikes"]
    w_prev = np.concatenate([np.zeros_like(w[:1]), w[:-1]])
    np.testing.assert_allclose(w, w_prev + (dt / tau_w) * (-w_prev + a * v_rel) + b * s, rtol=0, atol=1e-12)
    np.testing.assert_allclose(outs["v"], v_rel - 70.0, atol=1e-12)
    assert s.sum() > 10 and np.all(np.diff(w, axis=0)[s[1:] > 0] > b * 0.9)   # jumps by ~b per spike


def test_adaptive_threshold_follows_its_equation(x64):
    dt, tau_th, dtheta = 0.1, 15.0, 6.0
    soma = SimplifiedAdaptiveExponentialSoma("s", 1, **{**CUSTOM[SimplifiedAdaptiveExponentialSoma],
                                                         "cooldown": 0.5, "threshold_delta": dtheta,
                                                         "threshold_tau": tau_th})
    outs, states = simulate(soma, step_currents([150.0], 900), dt, jnp.float64)
    theta0 = -55.0
    theta = theta0 + states["threshold_shift"]
    theta_prev = np.concatenate([np.full_like(theta[:1], theta0), theta[:-1]])
    s = outs["spikes"]
    expected = theta_prev + (1 - np.exp(-dt / tau_th)) * (theta0 - theta_prev) + dtheta * s
    np.testing.assert_allclose(theta, expected, rtol=0, atol=1e-12)
    assert s.sum() > 10
    # Each spike was tested against the threshold in force before it: theta_prev < dtheta + theta0
    # at the first spike, and the rise shows up in the state of the spike's own step.
    first = spike_steps(s)[0]
    assert theta[first, 0, 0] - theta_prev[first, 0, 0] > dtheta * 0.99


def test_adaptive_threshold_spaces_out_spikes():
    soma = SimplifiedAdaptiveExponentialSoma("s", 2, **{**CUSTOM[SimplifiedAdaptiveExponentialSoma],
                                                         "cooldown": 0.5, "threshold_delta": [0.0, 3.0],
                                                         "threshold_tau": 50.0})
    outs, _ = simulate(soma, np.full((3000, 1, 2), 100.0))
    fixed, moving = (np.diff(spike_steps(outs["spikes"][:, 0, u])) for u in (0, 1))
    assert np.ptp(fixed[1:]) <= 1 and moving[-1] > moving[0] + 5


@pytest.mark.parametrize("cls", SOMAS, ids=lambda c: c.__name__)
def test_f_i_curve_is_monotone(cls):
    levels = np.linspace(0.0, 1000.0, 41)
    outs, _ = simulate(cls("s", len(levels)), np.broadcast_to(levels, (2000, 1, len(levels))))
    counts = outs["spikes"].sum(axis=(0, 1))
    assert counts[0] == 0 and counts[-1] > 20
    assert np.all(np.diff(counts) >= 0), counts


def test_adex_shows_spike_frequency_adaptation():
    soma = AdaptiveExponentialSoma("s", 2, adaptation_delta=[7.0, 0.0], adaptation_subthreshold=[0.5, 0.0])
    outs, _ = simulate(soma, np.full((4000, 1, 2), 250.0))
    adapting, plain = (np.diff(spike_steps(outs["spikes"][:, 0, u])) for u in (0, 1))
    assert len(adapting) > 10
    # Intervals lengthen to a steady state; the grid of dt lets neighbours differ by one step.
    assert np.all(np.diff(adapting) >= -1) and np.all(np.diff(adapting[:20]) >= 0), adapting
    assert adapting[-5:].mean() >= adapting[:5].mean() + 10, adapting
    assert np.ptp(plain) <= 1, plain                   # the control: no adaptation, regular firing


# -- configuration errors -----------------------------------------------------------------------
BAD = [
    (ExponentialSoma, dict(potential_tau=0.0), "potential_tau"),
    (RefractoryExponentialSoma, dict(potential_tau=[5.0, -1.0]), "potential_tau"),
    (AdaptiveExponentialSoma, dict(potential_reset=-30.0), "potential_reset"),
    (SimplifiedAdaptiveExponentialSoma, dict(spike_slope=0.0), "spike_slope"),
    (RefractoryExponentialSoma, dict(cooldown=-0.1), "cooldown"),
    (SimplifiedAdaptiveExponentialSoma, dict(cooldown=[1.0, float("nan")]), "cooldown"),
    (RefractoryExponentialSoma, dict(cooldown=[1.0, 2.0, 3.0]), "cooldown"),
    (AdaptiveExponentialSoma, dict(adaptation_delta=1.0, adaptation_tau=0.0), "adaptation_tau"),
    (AdaptiveExponentialSoma, dict(adaptation_tau=50.0), "adaptation_tau"),        # without its trigger
    (AdaptiveExponentialSoma, dict(threshold_tau=5.0), "threshold_tau"),
    (AdaptiveExponentialSoma, dict(clamp_duration=-1.0), "clamp_duration"),
    (AdaptiveExponentialSoma, dict(defaults="spark-1.3"), "defaults"),
    (AdaptiveExponentialSoma, dict(adaptation_delta=[1.0]), "adaptation_delta"),
    (SimplifiedAdaptiveExponentialSoma, dict(threshold_tau=-20.0), "threshold_tau"),
    (SimplifiedAdaptiveExponentialSoma, dict(threshold_delta=-1.0), "threshold_delta"),
]


@pytest.mark.parametrize("cls, kwargs, field", BAD, ids=lambda x: x.__name__ if isinstance(x, type) else None)
def test_bad_configuration_is_rejected(cls, kwargs, field):
    with pytest.raises(ValueError, match=rf"In 'exc' \({cls.__name__}\): `{field}`"):
        cls("exc", 2, **kwargs)


@pytest.mark.parametrize("cls", SOMAS, ids=lambda c: c.__name__)
def test_bad_parameter_update_is_rejected(cls):
    soma = cls("exc", 2)
    soma.validate_params(soma.default_params())
    for field in {*EXTRA_DEFAULTS[cls], "potential_tau"} - {"adaptation_delta", "adaptation_subthreshold"}:
        with pytest.raises(ValueError, match=f"`{field}`"):
            soma.validate_params({**soma.default_params(), field: np.array(-1.0)})


# -- numerics -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32], ids=lambda d: d.__name__)
@pytest.mark.parametrize("cls", (*SOMAS, EVERY_MECHANISM), ids=lambda c: c.__name__)
def test_extreme_inputs_stay_finite(cls, dtype):
    currents = np.tile([1e4, -1e4, 0.0, 3e4, 500.0, -3e3], (300, 1, 1))
    currents[150:, :, 2] = 1e4                                # a step from rest to an extreme current
    currents[::7, :, 4] *= -20.0                              # a fluctuating one
    # defaults; a reset above the rheobase (V runs away while gated); a wide, steep exponential
    for overrides in ({}, dict(potential_reset=-35.0),
                      dict(spike_slope=10.0, threshold=20.0, rheobase_threshold=-80.0, potential_reset=-60.0)):
        soma = cls("s", 6, **overrides)
        state = soma.init_state(1)
        state["v_rel"][:] = soma.default_params()["threshold"] + 69.95   # just below threshold
        outs, states = simulate(soma, currents, 0.1, dtype, state=state)
        for name, value in {**outs, **states}.items():
            assert np.all(np.isfinite(value)), f"{name} not finite in {dtype.__name__} with {overrides}"
        assert outs["spikes"][:, 0, 0].sum() > 5                  # it does fire at 1e4 pA
        assert np.all(np.isin(outs["spikes"], (0.0, 1.0)))
        if overrides:
            continue
        # the drive itself at the largest exponent it is ever given (V at threshold)
        params = {k: jnp.asarray(v, dtype) for k, v in soma.default_params().items()}
        drive = soma.membrane_drive(params, jnp.full((1, 6), 40.0, dtype), jnp.asarray(currents[0], dtype))
        assert bool(jnp.all(jnp.isfinite(drive)))


# -- spark-snn 1.2's options --------------------------------------------------------------------
MECHANISMS = {"cooldown": [0.0, 0.3, 1.0, 2.0, 2.0, 5.0, 0.7, 1.2],
              "clamp_duration": [1.0, 0.0, 2.5, 1.0, 0.4, 2.0, 3.0, 0.1],
              "threshold_delta": [0.0, 2.0, 5.0, 10.0, 3.0, 1.0, 8.0, 4.0],
              "adaptation_delta": [0.0, 7.0, 20.0, 40.0, 7.0, 15.0, 30.0, 60.0]}
COMBINATIONS = [tuple(m for i, m in enumerate(MECHANISMS) if bits >> i & 1) for bits in range(16)]


def test_plain_adex_follows_spark_1_2_every_mechanism_off():
    soma = AdaptiveExponentialSoma("s", 3)
    assert set(soma.default_params()) == set(BASE_DEFAULTS) and set(soma.init_state(1)) == {"v_rel"}
    outs, _ = simulate(soma, constant_currents([30.0, 60.0, 120.0], 300))
    assert spike_steps(outs["spikes"][:, 0, 2])[:3] == [29, 40, 51]          # as ExponentialSoma
    assert AdaptiveExponentialSoma("s", 3, adaptation_delta=None).default_params().keys() == soma.default_params().keys()


def test_spark_1_1_defaults_are_one_switch_away():
    soma = AdaptiveExponentialSoma("s", 3, defaults="spark-1.1")
    got = soma.default_params()
    assert {k: float(got[k]) for k in ("adaptation_tau", "adaptation_delta", "adaptation_subthreshold")} == \
        dict(adaptation_tau=100.0, adaptation_delta=7.0, adaptation_subthreshold=0.5)
    outs, _ = simulate(soma, constant_currents([30.0, 60.0, 120.0], 300))
    assert spike_steps(outs["spikes"][:, 0, 2])[:3] == [29, 41, 54]          # spark 1.1.0's AdEx
    off = AdaptiveExponentialSoma("s", 3, defaults="spark-1.1", adaptation_delta=None)
    assert "adaptation_delta" not in off.default_params()


@pytest.mark.parametrize("mechanisms", COMBINATIONS, ids=lambda m: "+".join(m) or "none")
def test_every_combination_of_mechanisms_matches_reference(x64, mechanisms):
    T, dt = 600, 0.1
    options = {m: MECHANISMS[m] for m in mechanisms}
    soma = AdaptiveExponentialSoma("s", len(LEVELS), **options)
    assert set(soma.init_state(1)) == {"v_rel"} | ({"refractory"} if {"cooldown", "clamp_duration"} & set(options)
                                                   else set()) | \
        ({"threshold_shift"} if "threshold_delta" in options else set()) | ({"w"} if "adaptation_delta" in options else set())
    for currents in (constant_currents(LEVELS, T, batch=2), step_currents(LEVELS, T)):
        outs, _ = simulate(soma, currents, dt, jnp.float64)
        ref_spikes, ref_v = reference(AdaptiveExponentialSoma, options, currents, dt)
        assert ref_spikes.sum() > 20
        assert_same_run(outs["spikes"], outs["v"], ref_spikes, ref_v, V_TOL_F64)


def test_clamp_holds_v_at_reset_for_clamp_duration_and_counts_with_the_cooldown():
    """cooldown 0.5 ms (5 steps), clamp 1.2 ms (12 steps): after a spike at k, input is gated on
    k+1..k+5, V sits at reset on k+1..k+12, and the shared counter restarts at max(cd, cl) = 12."""
    soma = AdaptiveExponentialSoma("s", 1, cooldown=0.5, clamp_duration=1.2)
    outs, states = simulate(soma, np.full((60, 1, 1), 1e4))
    steps = spike_steps(outs["spikes"])
    assert steps[:3] == [0, 13, 26]
    assert np.all(outs["v"][1:13, 0, 0] == -51.0) and outs["v"][13, 0, 0] == -51.0      # clamp, then fired
    np.testing.assert_array_equal(states["refractory"][:14, 0, 0], [12, *range(11, -1, -1), 12])


def test_coupling_current_joins_the_input_before_the_gate():
    soma = CoupledAdaptiveExponentialSoma("s", 2, cooldown=1.0, adaptation_delta=10.0)
    assert [p.name for p in soma.inputs] == ["i", "i_coupling"]
    plain = AdaptiveExponentialSoma("s", 2, cooldown=1.0, adaptation_delta=10.0)
    rng = np.random.default_rng(3)
    synaptic, coupling = rng.uniform(0, 400, (400, 1, 2)), rng.uniform(-50, 300, (400, 1, 2))
    params = {k: jnp.asarray(v, jnp.float32) for k, v in soma.default_params().items()}
    state = {k: jnp.asarray(v, jnp.float32) for k, v in soma.init_state(1).items()}

    def body(carry, x):
        carry, out = soma.step(params, carry, {"i": x[0], "i_coupling": x[1]}, 0.1)
        return carry, out

    _, coupled = jax.lax.scan(body, state, (jnp.asarray(synaptic, jnp.float32), jnp.asarray(coupling, jnp.float32)))
    summed, _ = simulate(plain, (synaptic.astype(np.float32) + coupling.astype(np.float32)))
    np.testing.assert_array_equal(np.asarray(coupled["v"]), summed["v"])
    assert summed["spikes"].sum() > 10
    # While gated, a coupling current changes nothing.
    gated = state | {"refractory": jnp.full((1, 2), 5.0, jnp.float32)}
    a, _ = soma.step(params, gated, {"i": jnp.zeros((1, 2)), "i_coupling": jnp.full((1, 2), 500.0)}, 0.1)
    b, _ = soma.step(params, gated, {"i": jnp.zeros((1, 2)), "i_coupling": jnp.zeros((1, 2))}, 0.1)
    np.testing.assert_array_equal(a["v_rel"], b["v_rel"])
