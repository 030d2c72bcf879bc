"""The demo network: an excitatory/inhibitory population pair with four conductance projections.

    drive_exc -> exc <-> inh <- drive_inh        (EE, EI, IE, II: ExponentialSynapse)

Excitatory synapses reverse at 0 mV, inhibitory at -80 mV; connection probability 10%;
ExponentialSoma units with spark-snn defaults; dt = 0.1 ms. The external drive is a noisy
current (pA) made from a seed, so a run is reproducible.
"""
from __future__ import annotations

import numpy as np

from aotsnn.components.initializers import uniform
from aotsnn.components.somas.exponential import ExponentialSoma
from aotsnn.components.synapses.conductance import ExponentialSynapse
from aotsnn.network import Network


def build_ei_network(n_exc: int = 240, n_inh: int = 60, *, dt: float = 0.1, p_conn: float = 0.1,
                     seed: int = 0, batch: int = 1) -> Network:
    """Two populations, four projections; a few hundred neurons by default; `batch` samples."""
    net = Network("ei_demo", dt=dt, batch=batch)
    sizes = {"exc": n_exc, "inh": n_inh}
    projections = {("exc", "exc"): (0.0, 0.02), ("exc", "inh"): (0.0, 0.03),
                   ("inh", "exc"): (-80.0, 0.06), ("inh", "inh"): (-80.0, 0.04)}
    for i, ((pre, post), (syn_rest, g_syn_bar)) in enumerate(projections.items()):
        net.add(ExponentialSynapse(f"{pre[0]}{post[0]}", (sizes[pre], sizes[post]), tau_decay=5.0 if pre == "exc" else 10.0,
                                   g_syn_bar=g_syn_bar, syn_rest=syn_rest, p_conn=p_conn,
                                   is_nonplastic=False, weight_init=uniform(0.1, 1.0), seed=seed + i))
    for pop, n in sizes.items():
        net.add(ExponentialSoma(pop, n))
        net.add_input(f"drive_{pop}", (n,))
        net.connect(f"drive_{pop}", f"{pop}.i")
    for pre, post in projections:
        net.project(pre, f"{pre[0]}{post[0]}", post)
    net.record("exc.spikes", "inh.spikes")
    return net


def demo_inputs(net: Network, steps: int, *, seed: int = 1, mean: float = 45.0, std: float = 25.0) -> dict[str, np.ndarray]:
    """Noisy drive currents [pA], (steps, batch, n) per input, float64, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    return {name: rng.normal(mean, std, size=(steps, net.batch, *shape))
            for name, shape in net.input_shapes.items()}
