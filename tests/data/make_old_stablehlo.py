"""Make tests/data/old_jax_ei_step.{stablehlo,json}: an E/I-like step serialized by an older jax.

Run with a jax other than the installed one (0.4.35 made the committed files):

    python3 -m venv /tmp/oldjax && /tmp/oldjax/bin/pip install 'jax[cpu]==0.4.35'
    /tmp/oldjax/bin/python tests/data/make_old_stablehlo.py

Plain jax.numpy, no aotsnn: two exponential-integrate-and-fire populations with conductance
synapses (x @ W), a spike test, reset, a scan over 3 sub-steps and a reduction. The JSON holds
the inputs and the outputs that this jax computed, so the test checks the importer against them.
"""
from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import export, lax

HERE = Path(__file__).parent
N_EXC, N_INH, DT = 8, 4, 0.1


def step(w_ee, w_ie, tau, v, g, drive):
    """One step of 3 Euler sub-steps; returns (v, g, spikes, spike count)."""
    def sub(carry, x):
        v, g = carry
        g = g * (1.0 - DT / 5.0)
        i = g * (0.0 - v) + x
        dv = (-(v + 70.0) + 2.0 * jnp.exp(jnp.minimum((v + 50.0) / 2.0, 20.0)) + 0.5 * i) / tau
        v = v + DT * dv
        spikes = (v > -30.0).astype(v.dtype)
        v = jnp.where(spikes > 0, -51.0, v)
        g = g + spikes @ w_ee * 0.02
        return (v, g), spikes
    (v, g), spikes = lax.scan(sub, (v, g), jnp.stack([drive, drive * 0.5, drive]))
    inhibition = jnp.tanh(spikes[-1] @ w_ie.T) @ w_ie     # (1, N_EXC) -> (1, N_INH) -> (1, N_EXC)
    return v - 0.1 * inhibition, g, spikes.max(axis=0), spikes.sum()


def main() -> None:
    rng = np.random.default_rng(7)
    args = [rng.uniform(0.0, 1.0, (N_EXC, N_EXC)).astype(np.float32),
            rng.uniform(0.0, 1.0, (N_INH, N_EXC)).astype(np.float32),
            np.float32(5.0),
            rng.uniform(-60.0, -35.0, (1, N_EXC)).astype(np.float32),
            rng.uniform(0.0, 0.2, (1, N_EXC)).astype(np.float32),
            rng.normal(150.0, 60.0, (1, N_EXC)).astype(np.float32)]
    specs = [jax.ShapeDtypeStruct(np.shape(a), np.float32) for a in args]
    exported = export.export(jax.jit(step), platforms=["cpu"])(*specs)
    (HERE / "old_jax_ei_step.stablehlo").write_bytes(exported.serialize())
    outputs = jax.jit(step)(*args)
    (HERE / "old_jax_ei_step.json").write_text(json.dumps({
        "jax_version": jax.__version__,
        "inputs": [np.asarray(a).tolist() for a in args],
        "outputs": [np.asarray(o).tolist() for o in outputs],
    }, indent=1))


if __name__ == "__main__":
    main()
