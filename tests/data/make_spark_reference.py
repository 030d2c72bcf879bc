"""Writes spark_1_2_2_somas.npz: spark-snn 1.2.2's own AdaptiveExponentialSoma and
CoupledAdaptiveExponentialSoma on fixed currents, the oracle of tests/components/test_spark_oracle.py.

Run with a Python >= 3.12 that has `pip install spark-snn==1.2.2` (it pins jax 0.11.1):
    python tests/data/make_spark_reference.py
The file holds the input currents `i` and the coupled soma's `i_coupling` [pA] (T, n), and per
case its options (JSON) and spark's spikes and potentials (relative to rest, mV) after every step.
"""
from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import spark
from spark.core.payloads import CurrentArray
from spark.nn.components.somas.exponential import AdaptiveExponentialSoma, CoupledAdaptiveExponentialSoma

DT, T = 0.1, 600
LEVELS = np.array([-20.0, 0.0, 30.0, 45.0, 70.0, 120.0, 250.0, 600.0])
CASES = {
    "plain": {},
    "adaptation_1_1_values": dict(adaptation_delta=7.0),
    "refractory": dict(cooldown=[0.0, 0.3, 1.0, 2.0, 2.0, 5.0, 0.7, 1.2]),
    "clamp": dict(clamp_duration=1.5),
    "threshold": dict(threshold_delta=5.0, threshold_tau=10.0),
    "every_mechanism": dict(cooldown=1.0, clamp_duration=0.5, threshold_delta=5.0, adaptation_delta=7.0,
                            adaptation_tau=50.0, adaptation_subthreshold=1.0),
    "coupled": dict(cooldown=1.0, adaptation_delta=10.0),
}


def currents(seed: int) -> np.ndarray:
    """The levels, switched on at step 100, with noise: (T, n) float32."""
    rng = np.random.default_rng(seed)
    out = np.zeros((T, len(LEVELS)))
    out[100:] = LEVELS
    return (out + rng.normal(0.0, 10.0, out.shape)).astype(np.float32)


def run(name: str, options: dict, drive: np.ndarray, coupling: np.ndarray) -> dict[str, np.ndarray]:
    cls = CoupledAdaptiveExponentialSoma if name == "coupled" else AdaptiveExponentialSoma
    given = {k: jnp.asarray(v, jnp.float32) if isinstance(v, list) else v for k, v in options.items()}
    soma = cls(dtype=jnp.float32, dt=DT, seed=0, **given)
    spikes, potential = np.zeros((T, len(LEVELS)), np.uint8), np.zeros((T, len(LEVELS)), np.float32)
    for t in range(T):
        if name == "coupled":
            if t:
                soma.coupling_current = CurrentArray(jnp.asarray(coupling[t]))
            else:
                soma(current=CurrentArray(jnp.asarray(drive[0])))   # build before the first write
                soma.reset()
                soma.coupling_current = CurrentArray(jnp.asarray(coupling[0]))
        out = soma(current=CurrentArray(jnp.asarray(drive[t])))
        spikes[t] = np.asarray(out["spikes"].spikes) != 0
        potential[t] = np.asarray(soma.potential.value)
    return {f"{name}.options": np.array(json.dumps(options)), f"{name}.spikes": spikes, f"{name}.v_rel": potential}


if __name__ == "__main__":
    drive, coupling = currents(1), currents(2) * np.float32(0.5)
    arrays = {"spark_version": np.array(spark.__version__), "dt": np.array(DT), "i": drive, "i_coupling": coupling}
    for case, opts in CASES.items():
        arrays.update(run(case, opts, drive, coupling))
    np.savez_compressed(Path(__file__).with_name("spark_1_2_2_somas.npz"), **arrays)
    print({case: int(arrays[f"{case}.spikes"].sum()) for case in CASES})
