"""Write a component, test it against a float64 reference, compile it for every target.

    python examples/custom_component.py [--targets host,c,aarch64-linux,riscv64-linux,cortex-m]

The component is a leaky integrate-and-fire soma written from the contract in
aotsnn/components/base.py (docs/custom-components.md walks through it). The script checks its
step against an independent NumPy float64 integration, wires it into a network with a library
synapse, and prints the cross-target equivalence matrix (one-step error against JAX float64 and
identical spike trains on every target). Exit status 1 if any check fails.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from aotsnn.components.base import Component, ParamRule, Port, Tree, as_param
from aotsnn.components.synapses import ExponentialSynapse
from aotsnn.network import Network


class LeakyIntegrateAndFire(Component):
    r"""Leaky integrate-and-fire soma, forward Euler.

        tau dV/dt = -(V - V_rest) + R I
        V <- V + (dt/tau) * (-(V - V_rest) + R*I)
        spike = V > V_th ;  V <- V_reset where spike

    Parameters (scalars or per-unit (n,)): v_rest, v_reset, v_threshold [mV], tau [ms] > 0,
    resistance [GOhm] > 0. State: v_mem (batch, n) [mV]. Inputs: i (n,) [pA].
    Outputs: spikes (n,), v (n,) [mV] (for conductance synapses). A state leaf may not share an
    output port's name (the artifact names every leaf uniquely), hence `v_mem`.
    """

    def __init__(self, name: str, n: int, *, v_rest: Any = -65.0, v_reset: Any = -70.0,
                 v_threshold: Any = -50.0, tau: Any = 10.0, resistance: Any = 0.1) -> None:
        super().__init__(name)
        self.n = n
        self.inputs = (Port("i", (n,)),)
        self.outputs = (Port("spikes", (n,)), Port("v", (n,)))
        given = dict(v_rest=v_rest, v_reset=v_reset, v_threshold=v_threshold, tau=tau, resistance=resistance)
        self._params = {k: as_param(self.label, k, v, (n,)) for k, v in given.items()}
        self.validate_params(self._params)

    def param_rules(self) -> dict[str, ParamRule]:
        return {"tau": ParamRule(low=0.0, low_open=True, unit="ms"),
                "resistance": ParamRule(low=0.0, low_open=True, unit="GOhm")}

    def default_params(self) -> dict[str, np.ndarray]:
        return dict(self._params)

    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        return {"v_mem": np.broadcast_to(self._params["v_rest"], (batch, self.n)).copy()}

    def initial_outputs(self, batch: int) -> dict[str, np.ndarray]:
        return {"spikes": np.zeros((batch, self.n)), "v": self.init_state(batch)["v_mem"]}

    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        v = state["v_mem"]
        v = v + (dt / params["tau"]) * (-(v - params["v_rest"]) + params["resistance"] * inputs["i"])
        spiked = v > params["v_threshold"]
        v = jnp.where(spiked, jnp.broadcast_to(params["v_reset"], v.shape).astype(v.dtype), v)
        return {"v_mem": v}, {"spikes": spiked.astype(v.dtype), "v": v}


def numpy_reference(params: dict, currents: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """The docstring's equations in float64, by hand: currents (T, batch, n) -> spikes, v."""
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    v = np.broadcast_to(p["v_rest"], currents.shape[1:]).copy()
    spikes, volts = np.zeros(currents.shape), np.zeros(currents.shape)
    for t, current in enumerate(currents):
        v = v + (dt / p["tau"]) * (-(v - p["v_rest"]) + p["resistance"] * current)
        spikes[t] = v > p["v_threshold"]
        v = np.where(spikes[t] > 0, p["v_reset"], v)
        volts[t] = v
    return spikes, volts


def check_against_reference(dt: float = 0.1, steps: int = 500) -> bool:
    """The component's own step in float64 against `numpy_reference`: spikes equal, V within 1e-9 mV."""
    soma = LeakyIntegrateAndFire("lif", 8, tau=[5.0, 10.0, 20.0, 10.0, 10.0, 8.0, 12.0, 30.0])
    currents = np.random.default_rng(0).uniform(0.0, 400.0, (steps, 2, 8))
    with jax.enable_x64(True):
        params = {k: jnp.asarray(v) for k, v in soma.default_params().items()}
        body = lambda s, i: soma.step(params, s, {"i": i}, dt)           # noqa: E731
        state = {k: jnp.asarray(v) for k, v in soma.init_state(2).items()}
        _, outs = jax.lax.scan(body, state, jnp.asarray(currents))
    spikes, volts = numpy_reference(soma.default_params(), currents, dt)
    ok = np.array_equal(np.asarray(outs["spikes"]), spikes) and np.abs(np.asarray(outs["v"]) - volts).max() < 1e-9
    print(f"float64 step vs NumPy reference: {'ok' if ok else 'FAILED'} ({int(spikes.sum())} spikes)")
    return bool(ok)


def build_network() -> Network:
    """100 Poisson-like inputs -> an exponential synapse -> 50 LIF units, recording spikes."""
    net = Network("custom_lif", dt=0.1)
    net.add_input("spikes_in", (100,))
    net.add(ExponentialSynapse("syn", (100, 50), tau_decay=5.0, g_syn_bar=0.05, syn_rest=0.0, p_conn=0.3))
    net.add(LeakyIntegrateAndFire("lif", 50))
    net.project("spikes_in", "syn", "lif")
    net.record("lif.spikes", "lif.v")
    return net


def main(argv: list[str] | None = None) -> int:
    from aotsnn.verify.matrix import render_matrix, verify_targets

    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--targets", default="host,c", help="comma-separated targets to compile and check")
    cli.add_argument("--steps", type=int, default=300)
    args = cli.parse_args(argv)
    ok = check_against_reference()
    net = build_network()
    rng = np.random.default_rng(1)
    inputs = {"spikes_in": (rng.uniform(size=(args.steps, 1, 100)) < 0.05).astype(np.float64)}
    matrix = verify_targets(net, args.targets.split(","), inputs)
    render_matrix(matrix)
    return 0 if ok and matrix.passed else 1


if __name__ == "__main__":
    sys.exit(main())
