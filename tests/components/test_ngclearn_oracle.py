"""The synapses against ngclearn 3.2.3 itself: trajectories recorded from the library
(tests/data/make_ngclearn_reference.py, run once with ngclearn installed; CI needs no ngclearn).

ngclearn computes in float32; the components run here in float32 on the same inputs, so the
tolerance is float32 rounding of a few operations per step, accumulated over 100 steps:
RTOL = 1e-5, ATOL = 1e-6 (conductances ~1, currents ~40 pA, weights in [0, 1]).
Deviation 4 of docs/components.md is checked as such: current-based synapses give +g, ngclearn -g.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aotsnn.components.plasticity import HebbianSynapse
from aotsnn.components.synapses import DenseSynapse, ExponentialSynapse
from plastic_checks import assert_trajectory, run_component

DATA = np.load(Path(__file__).resolve().parent.parent / "data" / "ngclearn_3_2_3_synapses.npz")
DT = float(DATA["dt"])
RTOL, ATOL = 1e-5, 1e-6
N_IN, N_OUT = DATA["exponential.weights"].shape


def case(name: str) -> dict[str, np.ndarray]:
    return {k.partition(".")[2]: DATA[k] for k in DATA.files if k.startswith(name + ".")}


def test_the_oracle_was_recorded_from_ngclearn_3_2_3():
    assert str(DATA["ngclearn_version"]) == "3.2.3"


@pytest.mark.parametrize("name, syn_rest", [("exponential", 0.0), ("exponential_current", None)])
def test_exponential_synapse_defaults_reproduce_ngclearn(name, syn_rest):
    ref = case(name)
    syn = ExponentialSynapse("syn", (N_IN, N_OUT), tau_decay=3.0, g_syn_bar=0.5, syn_rest=syn_rest)
    params = syn.default_params()
    np.testing.assert_array_equal(params["weights"], ref["weights"])       # is_nonplastic=True: all ones
    states, outs = run_component(syn, params, {"s": ref["s"], "v": ref["v"]}, DT)
    assert_trajectory(states["g"], ref["g"], f"{name} g", RTOL, ATOL)
    sign = -1.0 if syn_rest is None else 1.0                                # deviation 4
    assert_trajectory(outs["i"], sign * ref["i"], f"{name} i", RTOL, ATOL)
    assert np.abs(ref["i"]).max() > 0.1


def test_a_given_mask_reproduces_ngclearn():
    ref = case("dense_mask")
    syn = DenseSynapse("syn", (N_IN, N_OUT), mask=ref["mask"])
    params = {**syn.default_params(), "weights": ref["weights"]}
    _, outs = run_component(syn, params, {"x": ref["x"]}, DT)
    assert_trajectory(outs["out"], ref["out"], "masked dense out", RTOL, ATOL)
    assert 0 < ref["mask"].mean() < 1


@pytest.mark.parametrize("optim_type", ["sgd", "adam", "nag"])
def test_hebbian_learning_reproduces_ngclearn(optim_type):
    ref = case(f"hebbian_{optim_type}")
    syn = HebbianSynapse("syn", (N_IN, N_OUT), eta=0.01, optim_type=optim_type, w_bound=1.0, sign_value=-1.0)
    state = {**syn.init_state(1), "weights": ref["weights"]}
    inputs = {"x": ref["pre"], "pre": ref["pre"], "post": ref["post"]}
    states, _ = run_component(syn, syn.default_params(), inputs, DT, state=state)
    assert_trajectory(states["weights"], ref["trajectory"], f"hebbian {optim_type} weights", RTOL, ATOL)
    assert np.abs(ref["trajectory"][-1] - ref["weights"]).max() > 0.01          # the weights did move
