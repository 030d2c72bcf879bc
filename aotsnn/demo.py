"""The demo network: an excitatory/inhibitory population pair with four conductance projections.

    drive_exc -> exc <-> inh <- drive_inh        (EE, EI, IE, II: ExponentialSynapse)

Excitatory synapses reverse at 0 mV, inhibitory at -80 mV; connection probability 10%;
ExponentialSoma units with spark-snn defaults; dt = 0.1 ms. The drive is either external, a
noisy current (pA) made from a seed (`demo_inputs`), or internal (`drive="poisson"`): a
PoissonSource per population inside the network, so the artifact runs `run(state, {}, steps=T)`
with no inputs at all. `counter=True` adds a SpikeCounter per population (spike counts per unit
in the state, memory independent of the run's length).
"""
from __future__ import annotations

import numpy as np

from aotsnn.components.initializers import uniform
from aotsnn.components.monitors import SpikeCounter
from aotsnn.components.somas.exponential import ExponentialSoma
from aotsnn.components.sources import PoissonSource
from aotsnn.components.synapses.conductance import ExponentialSynapse
from aotsnn.network import Network


# The internal Poisson drive: N_POISSON independent trains per population at POISSON_RATE [Hz],
# each into every unit through a current-based exponential synapse (tau 5 ms) of POISSON_G [pA]
# per spike. Mean current N * r * tau * g = 100 * 90 Hz * 5 ms * 1 pA = 45 pA, the mean of the
# external noisy drive; the shot noise (about 14 pA) is smaller than its 25 pA.
N_POISSON, POISSON_RATE, POISSON_G = 100, 90.0, 1.0
DRIVES = ("current", "poisson")


def build_ei_network(n_exc: int = 240, n_inh: int = 60, *, dt: float = 0.1, p_conn: float = 0.1,
                     seed: int = 0, batch: int = 1, drive: str = "current", counter: bool = False) -> Network:
    """Two populations, four projections; a few hundred neurons by default; `batch` samples.

    `drive="current"`: inputs `drive_exc`, `drive_inh` [pA] (see `demo_inputs`). `drive="poisson"`:
    no inputs; PoissonSource `poisson_<pop>` (N_POISSON units, `rate` POISSON_RATE Hz, a run-time
    parameter, seeds seed + 10, seed + 11) drives population <pop> through the current-based
    ExponentialSynapse `in_<pop>` (tau 5 ms, g_syn_bar POISSON_G pA, all-to-all):
    i = g, g <- g (1 - dt/tau) + g_syn_bar * (s @ 1). `counter=True` adds SpikeCounter
    `count_<pop>` (state leaf `count_<pop>.counts`, output `count_<pop>.rate` [Hz], not recorded).
    """
    if drive not in DRIVES:
        raise ValueError(f"build_ei_network: `drive` must be one of {DRIVES}, got {drive!r}.")
    net = Network("ei_demo", dt=dt, batch=batch)
    sizes = {"exc": n_exc, "inh": n_inh}
    projections = {("exc", "exc"): (0.0, 0.02), ("exc", "inh"): (0.0, 0.03),
                   ("inh", "exc"): (-80.0, 0.06), ("inh", "inh"): (-80.0, 0.04)}
    for i, ((pre, post), (syn_rest, g_syn_bar)) in enumerate(projections.items()):
        net.add(ExponentialSynapse(f"{pre[0]}{post[0]}", (sizes[pre], sizes[post]), tau_decay=5.0 if pre == "exc" else 10.0,
                                   g_syn_bar=g_syn_bar, syn_rest=syn_rest, p_conn=p_conn,
                                   is_nonplastic=False, weight_init=uniform(0.1, 1.0), seed=seed + i))
    for j, (pop, n) in enumerate(sizes.items()):
        if drive == "poisson":
            net.add(PoissonSource(f"poisson_{pop}", N_POISSON, rate=POISSON_RATE, seed=seed + 10 + j))
            net.add(ExponentialSynapse(f"in_{pop}", (N_POISSON, n), tau_decay=5.0, g_syn_bar=POISSON_G, syn_rest=None))
    for pop, n in sizes.items():
        net.add(ExponentialSoma(pop, n))
        if drive == "poisson":
            net.project(f"poisson_{pop}", f"in_{pop}", pop)
        else:
            net.add_input(f"drive_{pop}", (n,))
            net.connect(f"drive_{pop}", f"{pop}.i")
        if counter:
            net.add(SpikeCounter(f"count_{pop}", n))
            net.connect(f"{pop}.spikes", f"count_{pop}.s")
    for pre, post in projections:
        net.project(pre, f"{pre[0]}{post[0]}", post)
    net.record("exc.spikes", "inh.spikes")
    return net


def demo_inputs(net: Network, steps: int, *, seed: int = 1, mean: float = 45.0, std: float = 25.0) -> dict[str, np.ndarray]:
    """Noisy drive currents [pA], (steps, batch, n) per input, float64, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    return {name: rng.normal(mean, std, size=(steps, net.batch, *shape))
            for name, shape in net.input_shapes.items()}
