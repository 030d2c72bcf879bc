"""Writes ngclearn_3_2_3_synapses.npz: ngclearn 3.2.3's own synapses on fixed inputs, the oracle of
tests/components/test_ngclearn_oracle.py.

Run with a Python >= 3.12 that has `pip install ngclearn==3.2.3`:
    python tests/data/make_ngclearn_reference.py
Cases: ExponentialSynapse with its defaults (is_nonplastic=True: unit weights), conductance- and
current-based; DenseSynapse with a given `mask`; HebbianSynapse learning with sgd, adam and nag.
Stored per case: the inputs, the initial weights, and ngclearn's outputs / state after every step.
"""
from __future__ import annotations

from pathlib import Path

import jax.numpy as jnp
import ngclearn
import numpy as np
from ngclearn import Context
from ngclearn.components.synapses import DenseSynapse, ExponentialSynapse
from ngclearn.components.synapses.hebbian import HebbianSynapse
from ngclearn.utils.distribution_generator import DistributionGenerator

T, DT, N_IN, N_OUT = 100, 0.1, 6, 4


def exponential(rng: np.random.Generator, syn_rest) -> dict[str, np.ndarray]:
    with Context("exp"):
        syn = ExponentialSynapse("syn", shape=(N_IN, N_OUT), tau_decay=3.0, g_syn_bar=0.5, syn_rest=syn_rest)
    s = (rng.uniform(size=(T, 1, N_IN)) < 0.2).astype(np.float32)
    v = rng.uniform(-80.0, -40.0, size=(T, 1, N_OUT)).astype(np.float32)
    g, i = [], []
    for t in range(T):
        syn.inputs.set(jnp.asarray(s[t]))
        syn.v.set(jnp.asarray(v[t]))
        syn.advance_state(t * DT, DT)
        g.append(np.asarray(syn.g_syn.get()))
        i.append(np.asarray(syn.outputs.get()))
    return {"weights": np.asarray(syn.weights.get()), "s": s, "v": v, "g": np.stack(g), "i": np.stack(i)}


def masked_dense(rng: np.random.Generator) -> dict[str, np.ndarray]:
    mask = (rng.uniform(size=(N_IN, N_OUT)) < 0.5).astype(np.float32)
    with Context("dense"):
        syn = DenseSynapse("syn", shape=(N_IN, N_OUT), mask=jnp.asarray(mask),
                           weight_init=DistributionGenerator.uniform(0.1, 0.9))
    x = rng.uniform(size=(T, 1, N_IN)).astype(np.float32)
    out = []
    for t in range(T):
        syn.inputs.set(jnp.asarray(x[t]))
        syn.advance_state()
        out.append(np.asarray(syn.outputs.get()))
    return {"weights": np.asarray(syn.weights.get()), "mask": mask, "x": x, "out": np.stack(out)}


def hebbian(rng: np.random.Generator, optim_type: str) -> dict[str, np.ndarray]:
    with Context(f"hebb_{optim_type}"):
        syn = HebbianSynapse("syn", shape=(N_IN, N_OUT), eta=0.01, optim_type=optim_type, w_bound=1.0,
                             sign_value=-1.0, weight_init=DistributionGenerator.uniform(0.1, 0.6))
    pre = rng.uniform(size=(T, 1, N_IN)).astype(np.float32)
    post = rng.uniform(size=(T, 1, N_OUT)).astype(np.float32)
    w0, ws = np.asarray(syn.weights.get()), []
    for t in range(T):
        syn.pre.set(jnp.asarray(pre[t]))
        syn.post.set(jnp.asarray(post[t]))
        syn.evolve(DT)
        ws.append(np.asarray(syn.weights.get()))
    return {"weights": w0, "pre": pre, "post": post, "trajectory": np.stack(ws)}


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    cases = {"exponential": exponential(rng, 0.0), "exponential_current": exponential(rng, None),
             "dense_mask": masked_dense(rng), **{f"hebbian_{o}": hebbian(rng, o) for o in ("sgd", "adam", "nag")}}
    arrays = {"ngclearn_version": np.array(ngclearn.__version__), "dt": np.array(DT)}
    arrays.update({f"{case}.{k}": v for case, values in cases.items() for k, v in values.items()})
    np.savez_compressed(Path(__file__).with_name("ngclearn_3_2_3_synapses.npz"), **arrays)
    print(sorted(cases))
