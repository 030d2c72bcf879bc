"""Benchmark workloads built from the library's components (used by bench/ and tests).

COBA (Vogels & Abbott 2005; Brette et al. 2007, benchmark 1) with exponential integrate-and-fire
somas: N neurons, 80% excitatory, 20% inhibitory, random connectivity p = 0.02, conductance
synapses with exponential decay (tau_e = 5 ms, tau_i = 10 ms, E_e = 0 mV, E_i = -80 mV,
increments w_e = 0.6, w_i = 6.7), membrane tau 20 ms, rest and reset -60 mV, threshold -50 mV
(rheobase -50.5 mV, slope 0.5 mV: close to the LIF of the original), refractory 5 ms, a constant
drive of 20 mV (R = 1 GOhm, I = 20 pA), dt = 0.1 ms. Initial V uniform in [-60, -50] mV.
bench/brian2_coba.py states the same equations for Brian2. `coba_network(drive="poisson")`
replaces the constant external drive by Poisson trains inside the network (COBA_POISSON) of the
same mean current, so the artifact runs without inputs.
"""
from __future__ import annotations

import numpy as np

from aotsnn.components.connectivity import Bernoulli, FixedInDegree
from aotsnn.components.initializers import gaussian
from aotsnn.components.somas.exponential import ExponentialSoma
from aotsnn.components.sources import ConstantCurrent, PoissonSource
from aotsnn.components.somas import RefractoryExponentialSoma
from aotsnn.components.synapses.conductance import ExponentialSynapse
from aotsnn.network import Network

COBA = dict(tau_m=20.0, v_rest=-60.0, v_reset=-60.0, v_threshold=-50.0, v_rheobase=-50.5, delta_t=0.5,
            refractory=5.0, tau_e=5.0, tau_i=10.0, e_e=0.0, e_i=-80.0, w_e=0.6, w_i=6.7, drive=20.0,
            p_conn=0.02, dt=0.1)
# Internal drive: n Poisson trains per population at `rate` [Hz] into every unit through a
# current-based exponential synapse (tau_e) of `g` pA per spike: mean n r tau g = 100 * 40 Hz *
# 5 ms * 1 pA = 20 pA, COBA's constant drive, with shot noise of about 6 pA.
COBA_POISSON = dict(n=100, rate=40.0, g=1.0)
COBA_DRIVES = ("current", "dc", "poisson")


def coba_soma(name: str, n: int) -> RefractoryExponentialSoma:
    """n neurons with the COBA benchmark's membrane, threshold and refractory period."""
    c = COBA
    return RefractoryExponentialSoma(name, n, potential_rest=c["v_rest"], potential_reset=c["v_reset"],
                                     potential_tau=c["tau_m"], resistance=1.0, threshold=c["v_threshold"],
                                     rheobase_threshold=c["v_rheobase"], spike_slope=c["delta_t"],
                                     cooldown=c["refractory"])


def coba_network(n: int = 4000, *, seed: int = 0, drive: str = "current", in_degree: int | None = None) -> Network:
    """COBA with n neurons (80% excitatory). `drive="current"`: inputs `drive_exc`, `drive_inh`
    [pA] (`coba_inputs`: 20 pA). `drive="dc"`: no inputs; ConstantCurrent `dc_<pop>` of
    COBA["drive"] pA (a run-time parameter `dc_<pop>.amplitude`). `drive="poisson"`: no inputs; PoissonSource `poisson_<pop>`
    (COBA_POISSON["n"] units at COBA_POISSON["rate"] Hz, seeds seed + 10, seed + 11) into <pop>
    through the current-based ExponentialSynapse `in_<pop>` (tau_e, g_syn_bar COBA_POISSON["g"] pA).

    Connectivity: dense synapses with a p = 0.02 mask (`in_degree=None`, the benchmark as
    published), or sparse synapses where every neuron receives exactly `in_degree` inputs, 80%
    of them excitatory (FixedInDegree; 80 is COBA's mean at n = 4000), so memory grows with n."""
    if drive not in COBA_DRIVES:
        raise ValueError(f"coba_network: `drive` must be one of {COBA_DRIVES}, got {drive!r}.")
    c = COBA
    sizes = {"exc": n * 4 // 5, "inh": n - n * 4 // 5}
    degrees = {"exc": in_degree * 4 // 5, "inh": in_degree - in_degree * 4 // 5} if in_degree else None
    wiring = lambda pre: dict(connectivity=FixedInDegree(degrees[pre])) if degrees else dict(p_conn=c["p_conn"])
    net = Network("coba", dt=c["dt"])
    for i, (pre, post) in enumerate((("exc", "exc"), ("exc", "inh"), ("inh", "exc"), ("inh", "inh"))):
        exc = pre == "exc"
        net.add(ExponentialSynapse(f"{pre[0]}{post[0]}", (sizes[pre], sizes[post]),     # unit weights
                                   tau_decay=c["tau_e"] if exc else c["tau_i"], g_syn_bar=c["w_e"] if exc else c["w_i"],
                                   syn_rest=c["e_e"] if exc else c["e_i"], seed=seed + i, **wiring(pre)))
    if drive == "poisson":
        ext = COBA_POISSON
        all_pairs = dict(connectivity=Bernoulli(1.0)) if degrees else {}
        for j, (pop, size) in enumerate(sizes.items()):
            net.add(PoissonSource(f"poisson_{pop}", ext["n"], rate=ext["rate"], seed=seed + 10 + j))
            net.add(ExponentialSynapse(f"in_{pop}", (ext["n"], size), tau_decay=c["tau_e"], g_syn_bar=ext["g"],
                                       syn_rest=None, **all_pairs))
    for pop, size in sizes.items():
        if drive == "dc":       # added before its soma, which then reads it in the same step
            net.add(ConstantCurrent(f"dc_{pop}", size, amplitude=c["drive"]))
        net.add(coba_soma(pop, size))
        if drive == "poisson":
            net.project(f"poisson_{pop}", f"in_{pop}", pop)
        elif drive == "dc":
            net.connect(f"dc_{pop}.i", f"{pop}.i")
        else:
            net.add_input(f"drive_{pop}", (size,))
            net.connect(f"drive_{pop}", f"{pop}.i")
    for pre, post in (("exc", "exc"), ("exc", "inh"), ("inh", "exc"), ("inh", "inh")):
        net.project(pre, f"{pre[0]}{post[0]}", post)
    net.record("exc.spikes", "inh.spikes")
    return net


def coba_initial_state(net: Network, *, seed: int = 1) -> dict[str, np.ndarray]:
    """The network's initial state with V uniform between reset and threshold."""
    rng = np.random.default_rng(seed)
    state = net.init_state()
    span = COBA["v_threshold"] - COBA["v_reset"]
    for pop in ("exc", "inh"):
        state[f"{pop}.v_rel"] = rng.uniform(0.0, span, size=state[f"{pop}.v_rel"].shape)
        state[f"{pop}.prev_v"] = state[f"{pop}.v_rel"] + COBA["v_rest"]
    return state


def coba_inputs(net: Network, steps: int) -> dict[str, np.ndarray]:
    """The constant 20 pA drive, (steps, batch, n) per population."""
    return {name: np.full((steps, net.batch, *shape), COBA["drive"]) for name, shape in net.input_shapes.items()}


def feedforward_network(layers: tuple[int, ...] = (784, 512, 10), *, ff_mean: float = 350.0,
                        ff_std: float = 400.0, seed: int = 0, batch: int = 1) -> Network:
    """A dense feed-forward SNN: input spikes -> current-based ExponentialSynapse -> ExponentialSoma.

    Synapses are current-based (syn_rest=None, tau_decay = 5 ms), weights gaussian(ff_mean/fan_in,
    ff_std/fan_in) [pA per spike], which keeps the layers firing sparsely under ~20 Hz Poisson
    input; every layer's spikes are recorded; `batch` samples.
    """
    net = Network("feedforward", dt=COBA["dt"], batch=batch)
    net.add_input("spikes_in", (layers[0],))
    for i, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:])):
        net.add(ExponentialSynapse(f"w{i}", (n_in, n_out), syn_rest=None, tau_decay=COBA["tau_e"], g_syn_bar=1.0,
                                   is_nonplastic=False, weight_init=gaussian(mean=ff_mean / n_in, std=ff_std / n_in), seed=seed + i))
        net.add(ExponentialSoma(f"l{i}", n_out))
        net.project("spikes_in" if i == 0 else f"l{i - 1}", f"w{i}", f"l{i}")
        net.record(f"l{i}.spikes")
    return net


def poisson_inputs(net: Network, steps: int, *, rate_hz: float = 20.0, seed: int = 2) -> dict[str, np.ndarray]:
    """0/1 Poisson spike trains at `rate_hz`, (steps, batch, n) per input."""
    rng = np.random.default_rng(seed)
    p = rate_hz * net.dt / 1000.0
    return {name: (rng.uniform(size=(steps, net.batch, *shape)) < p).astype(np.float64)
            for name, shape in net.input_shapes.items()}


def driven_population(n: int) -> Network:
    """n COBA-like refractory neurons driven by one input each, no synapses: per-neuron work only,
    to show what threads do for large element-wise kernels (the recurrent population's dense n x n
    parameters limit it to about 10,000 neurons)."""
    net = Network("driven", dt=COBA["dt"])
    net.add(coba_soma("pop", n))
    net.add_input("drive", (n,))
    net.connect("drive", "pop.i")
    net.record("pop.spikes")
    return net


def recurrent_population(n: int, *, p_conn: float = 0.02, seed: int = 0) -> Network:
    """One recurrent excitatory population of n COBA-like neurons, for size sweeps.

    Connection probability `p_conn` (Bernoulli: a list of about p_conn n^2 synapses, so memory
    and compile time grow with the synapses, not with n^2), weights scaled so each neuron
    receives the same total conductance whatever n is (g_syn_bar = 0.6 / (p_conn * n)); drive
    it with `noisy_drive`.
    """
    c = COBA
    net = Network("recurrent", dt=c["dt"])
    net.add(ExponentialSynapse("rec", (n, n), tau_decay=c["tau_e"],                 # unit weights
                               g_syn_bar=0.6 / max(p_conn * n, 1.0), syn_rest=c["e_e"],
                               connectivity=Bernoulli(p_conn), seed=seed))
    net.add(coba_soma("pop", n))
    net.add_input("drive", (n,))
    net.connect("drive", "pop.i")
    net.project("pop", "rec", "pop")
    net.record("pop.spikes")
    return net


def noisy_drive(net: Network, steps: int, *, mean: float = 8.0, std: float = 13.0, seed: int = 3) -> dict[str, np.ndarray]:
    """White-noise current [pA] on every input, (steps, batch, n): sub-threshold mean, noise-driven firing."""
    rng = np.random.default_rng(seed)
    return {name: rng.normal(mean, std, size=(steps, net.batch, *shape)) for name, shape in net.input_shapes.items()}
