"""The somas against spark-snn 1.2.2 itself: trajectories recorded from the library's own
AdaptiveExponentialSoma and CoupledAdaptiveExponentialSoma (tests/data/make_spark_reference.py,
run once with spark-snn installed; CI needs no spark-snn).

Both sides compute in float32 from the same currents, so spike steps must agree exactly and the
potential to float32 rounding. The two programs order their operations differently (spark folds
dt/tau and rest-relative constants at build time, aotsnn computes them per step), and the
exponential term amplifies a rounding difference near spike onset: measured at most 2.5e-3 mV
(6e-5 relative, the adaptation case) over 600 steps, so V_TOL is test_somas' float32 tolerance.
"""
from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aotsnn.components.somas import AdaptiveExponentialSoma, CoupledAdaptiveExponentialSoma

DATA = np.load(Path(__file__).resolve().parent.parent / "data" / "spark_1_2_2_somas.npz")
CASES = sorted({key.partition(".")[0] for key in DATA.files if "." in key})
V_TOL = 1e-2   # mV, as test_somas.V_TOL_F32


def run_aotsnn(case: str) -> tuple[np.ndarray, np.ndarray]:
    options = json.loads(str(DATA[f"{case}.options"]))
    cls = CoupledAdaptiveExponentialSoma if case == "coupled" else AdaptiveExponentialSoma
    soma = cls("s", DATA["i"].shape[1], **options)
    params = {k: jnp.asarray(v, jnp.float32) for k, v in soma.default_params().items()}
    state = {k: jnp.asarray(v, jnp.float32) for k, v in soma.init_state(1).items()}
    inputs = {"i": jnp.asarray(DATA["i"][:, None]), "i_coupling": jnp.asarray(DATA["i_coupling"][:, None])}

    def body(carry, x):
        ports = {p.name: x[p.name] for p in soma.inputs}
        carry, out = soma.step(params, carry, ports, float(DATA["dt"]))
        return carry, (out["spikes"], carry["v_rel"])

    _, (spikes, v_rel) = jax.jit(lambda s, x: jax.lax.scan(body, s, x))(state, inputs)
    return np.asarray(spikes)[:, 0], np.asarray(v_rel)[:, 0]


def test_the_oracle_was_recorded_from_spark_1_2_2():
    assert str(DATA["spark_version"]) == "1.2.2"
    assert set(CASES) >= {"plain", "every_mechanism", "coupled"}


@pytest.mark.parametrize("case", CASES)
def test_soma_reproduces_spark_1_2_2(case):
    spikes, v_rel = run_aotsnn(case)
    want_spikes, want_v = DATA[f"{case}.spikes"], DATA[f"{case}.v_rel"]
    assert want_spikes.sum() > 50
    bad = np.argwhere(spikes != want_spikes)
    assert bad.size == 0, f"{case}: spikes differ first at step {bad[0][0]}, unit {bad[0][1]}"
    err = np.abs(v_rel - want_v)
    step, unit = np.unravel_index(np.argmax(err), err.shape)
    assert err[step, unit] <= V_TOL, f"{case}: V off by {err[step, unit]:g} mV at step {step}, unit {unit}"
