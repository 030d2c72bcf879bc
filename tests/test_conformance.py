"""The conformance matrix: every component class, in networks of realistic size, on every target.

Seven networks hold every concrete component class of aotsnn.components between them (the
coverage test below fails when a class is added to the library and to none of them):

    somas       the five somas, each driven by a conductance synapse (exponential, alpha, double
                exponential with Euler and exact decay) from 100 Poisson inputs into 50 units, a
                recurrent inhibitory projection and a coupling current
    dense       dense synapses with axonal delays (drawn and given), a masked sparse one (CSR kernels)
                with biases, short-term plasticity, and sparse synapses drawn by connectivity rules,
                whose int32 CSR indices are parameters (FixedInDegree into a conductance synapse,
                Bernoulli with biases, FixedOutDegree, Explicit pairs with multapses), 100 x 50 each
    hebbian     Hebbian (sgd on a sparse mask, adam with an l2 prior), BCM and a patched Hebbian
                synapse with a static patched one, learning on, 100 x 50
    stdp        trace STDP (additive with weight decay, and power-law), exponential STDP, event STDP
                with its spike-time tracker, reward-modulated STDP with eligibility, and the traces
                that feed them, learning on, 100 x 50
    structured  on a 28 x 28 input: trace-STDP, Hebbian and static convolutions (stride 2) into a
                14 x 14 x 2 soma map through Reshape, and Hebbian, trace-STDP and static
                deconvolutions back to 28 x 28
    sources     random numbers in the step (uint32 keys and int32 counters as state): 100 Poisson
                trains through stochastic release (DenseSynapse p_release_mean), 100 given spike
                trains through a conductance synapse, Gaussian and OU noise currents, into 50
                units whose spikes a SpikeCounter counts

Each network is compiled once per target (host; the C bundles c, aarch64-linux, riscv64-linux,
cortex-m; opencl where an OpenCL device is, PoCL in CI; cuda is built where nvcc is and runs
only where a GPU is; riscv64-linux and cuda take CORE_NETWORKS by default, every network with
-m slow) and checked over STEPS steps:

1. one step from the artifact's own state against JAX in float64 (aotsnn.verify.compare with
   the target's tolerances, rtol 1e-5 / atol 1e-4), and every leaf's largest absolute error
   within the tighter bound of its kind in LEAF_TOLERANCE below (each with its reason);
2. every spike decision of that one-step check equal, and the free-run spike trains identical to
   `jax.jit(lax.scan)` of the network in float32; every recorded spike train must have spikes
   (and silences), or it would test nothing;
3. a bundle needs nothing from outside but C99 libm, memcpy/memset and the compiler's helpers
   (no malloc, no TVM runtime), and TVM's workspace is the static arena in `.bss`.

A target whose toolchain is missing here skips with the reason (`--targets` picks targets). The
C bundles share their TVM kernels through the compile cache (only cortex-m, which compiles TVM's
argument checks out, has kernels of its own). `pytest -m slow` adds the bigger sweep: batch 2,
200 inputs x 100 outputs, 1,000 steps.
"""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

import numpy as np
import pytest

import aotsnn.components.connectivity as connectivity
import aotsnn.components.layers as layers
import aotsnn.components.lif as lif
import aotsnn.components.monitors as monitors
import aotsnn.components.plasticity as plasticity
import aotsnn.components.somas as somas
import aotsnn.components.sources as sources
import aotsnn.components.structured as structured
import aotsnn.components.synapses as synapses
from aotsnn.components.base import Component
from aotsnn.components.initializers import constant, uniform
from aotsnn.network import Network
from conftest import slow_requested

STEPS = 200
DT = 0.1


@dataclass(frozen=True)
class Size:
    """How big the networks are: `n_in` inputs x `n_out` units for dense weights, `side` x `side`
    inputs for the convolutions, `batch` samples."""

    n_in: int = 100
    n_out: int = 50
    side: int = 28
    batch: int = 1


DEFAULT, BIG = Size(), Size(n_in=200, n_out=100, batch=2)

# Input spike rates and currents that keep every soma between silence and saturation.
RATE = 0.1


def _soma(net: Network, kind, name: str, n: int, **options) -> None:
    net.add(kind(name, n, **options))
    net.record(f"{name}.spikes")


def build_somas(size: Size = DEFAULT) -> Network:
    """Every soma class behind a conductance synapse class (ExponentialSynapse, AlphaSynapse,
    DoubleExpSynapse euler and exact), plus recurrent inhibition on the first population; the
    coupled soma takes the alpha synapse's current as its coupling current."""
    n_in, n = size.n_in, size.n_out
    net = Network("conf_somas", dt=DT, batch=size.batch)
    net.add_input("spikes_in", (n_in,))
    net.add_input("current", (n,))
    conductance = {"exp_syn": (synapses.ExponentialSynapse, {}),
                   "alpha_syn": (synapses.AlphaSynapse, {}),
                   "dexp_syn": (synapses.DoubleExpSynapse, {"tau_rise": 1.0}),
                   "dexp_exact": (synapses.DoubleExpSynapse, {"tau_rise": 0.5, "integration": "exact"}),
                   "cpl_syn": (synapses.ExponentialSynapse, {})}
    for seed, (name, (kind, extra)) in enumerate(conductance.items()):
        net.add(kind(name, (n_in, n), tau_decay=5.0, g_syn_bar=0.015, syn_rest=0.0, p_conn=0.5, seed=seed, **extra))
    net.add(synapses.ExponentialSynapse("inh_syn", (n, n), tau_decay=10.0, g_syn_bar=0.05, syn_rest=-80.0, p_conn=0.2,
                                        seed=9))
    posts = {"exp_syn": ("exp", somas.ExponentialSoma), "alpha_syn": ("refr", somas.RefractoryExponentialSoma),
             "dexp_syn": ("adapt", somas.AdaptiveExponentialSoma),
             "dexp_exact": ("sadapt", somas.SimplifiedAdaptiveExponentialSoma),
             "cpl_syn": ("coupled", somas.CoupledAdaptiveExponentialSoma)}
    for syn, (post, kind) in posts.items():
        _soma(net, kind, post, n)
        net.project("spikes_in", syn, post)
        net.connect("current", f"{post}.i")
    net.project("exp", "inh_syn", "exp")
    net.connect("alpha_syn.i", "coupled.i_coupling")     # a second compartment's current [pA]
    return net


def build_dense(size: Size = DEFAULT) -> Network:
    """Dense synapses with delays (drawn; given), a masked sparse one with biases (CSR kernels), STP,
    and synapse lists (aotsnn.components.connectivity): FixedInDegree into a conductance synapse,
    Bernoulli with biases, FixedOutDegree, and given pairs of which some repeat (multapses add)."""
    n_in, n = size.n_in, size.n_out
    net = Network("conf_dense", dt=DT, batch=size.batch)
    net.add_input("spikes_in", (n_in,))
    given = (np.arange(n_in) % 8 + 1).astype(float)
    net.add(synapses.DenseSynapse("delayed", (n_in, n), max_delay_steps=8, resist_scale=8.0, seed=1))
    net.add(synapses.StaticSynapse("static", (n_in, n), max_delay_steps=8, delays=given, resist_scale=6.0, seed=2))
    net.add(synapses.DenseSynapse("sparse", (n_in, n), p_conn=0.1, bias_init=constant(2.0), resist_scale=20.0,
                                  seed=3))
    net.add(synapses.STPDenseSynapse("stp", (n_in, n), resist_scale=40.0, seed=4))
    net.add(synapses.ExponentialSynapse("in_degree", (n_in, n), tau_decay=5.0, g_syn_bar=0.02, syn_rest=0.0,
                                        connectivity=connectivity.FixedInDegree(n_in // 10), seed=5))
    net.add(synapses.DenseSynapse("bernoulli", (n_in, n), connectivity=connectivity.Bernoulli(0.1),
                                  bias_init=constant(1.0), resist_scale=20.0, seed=6))
    net.add(synapses.DenseSynapse("out_degree", (n_in, n), connectivity=connectivity.FixedOutDegree(n // 10),
                                  resist_scale=20.0, seed=7))
    pairs = np.random.default_rng(8).integers(0, (n_in, n), size=(2 * n_in, 2))
    pairs = np.concatenate([pairs, pairs[:n_in // 5]])                   # 20 pairs twice: multapses
    net.add(synapses.DenseSynapse("explicit", (n_in, n), connectivity=connectivity.Explicit(pairs[:, 0], pairs[:, 1]),
                                  resist_scale=20.0, seed=9))
    _soma(net, somas.ExponentialSoma, "soma", n)
    for syn in ("delayed", "static", "sparse", "bernoulli", "out_degree", "explicit"):
        net.connect("spikes_in", f"{syn}.x")
        net.connect(f"{syn}.out", "soma.i")
    net.connect("spikes_in", "stp.s")
    net.connect("stp.out", "soma.i")
    net.project("spikes_in", "in_degree", "soma")
    return net


def build_hebbian(size: Size = DEFAULT) -> Network:
    """Hebbian (sgd on a sparse mask; adam with an l2 prior on sparse synapses), BCM (sparse), patched
    Hebbian and static."""
    n_in, n = size.n_in, size.n_out
    net = Network("conf_hebbian", dt=DT, batch=size.batch)
    net.add_input("spikes_in", (n_in,))
    net.add(plasticity.HebbianSynapse("sgd", (n_in, n), eta=0.002, sign_value=-1.0, w_bound=1.0, p_conn=0.2,
                                      bias_init=uniform(0.0, 2.0), resist_scale=10.0, seed=1))
    net.add(plasticity.HebbianSynapse("adam", (n_in, n), eta=0.002, optim_type="adam", prior=("l2", 0.01),
                                      is_nonnegative=True, bias_init=uniform(0.0, 2.0), resist_scale=8.0,
                                      connectivity=connectivity.FixedOutDegree(max(n // 5, 1)), seed=2))
    net.add(plasticity.BCMSynapse("bcm", (n_in, n), tau_w=50.0, tau_theta=20.0, theta0=0.5, w_bound=1.0,
                                  resist_scale=8.0, connectivity=connectivity.Bernoulli(0.3), seed=3))
    patches = max(n_in // 20, 1) if n % max(n_in // 20, 1) == 0 else 1
    net.add(structured.HebbianPatchedSynapse("patched", (n_in, n), patches, eta=0.002, sign_value=-1.0,
                                             optim_type="adam", resist_scale=20.0, weight_init=uniform(0.2, 0.8),
                                             seed=4))
    net.add(structured.StaticPatchedSynapse("spatched", (n_in, n), patches, resist_scale=20.0,
                                            weight_init=uniform(0.2, 0.8), seed=5))
    _soma(net, somas.ExponentialSoma, "soma", n, potential_reset=-70.0)
    for syn in ("sgd", "adam", "bcm", "patched", "spatched"):
        net.connect("spikes_in", f"{syn}.x")
        net.connect(f"{syn}.out", "soma.i")
    for syn in ("sgd", "adam", "bcm", "patched"):
        net.connect("spikes_in", f"{syn}.pre")
        net.connect("soma.spikes", f"{syn}.post")
    return net


def _stdp_ports(net: Network, syn: str, pre: str, post: str, pre_trace: str, post_trace: str) -> None:
    for port, source in (("x", pre), ("pre_spike", pre), ("post_spike", post), ("pre_trace", pre_trace),
                         ("post_trace", post_trace)):
        net.connect(source, f"{syn}.{port}")


def build_stdp(size: Size = DEFAULT) -> Network:
    """Trace STDP (additive + decay; power law on sparse synapses), exponential (sparse), event and
    reward-modulated STDP."""
    n_in, n = size.n_in, size.n_out
    net = Network("conf_stdp", dt=DT, batch=size.batch)
    net.add_input("spikes_in", (n_in,))
    net.add_input("reward", (1,))
    net.add(plasticity.TraceSTDPSynapse("add", (n_in, n), A_plus=0.02, A_minus=0.025, tau_w=500.0,
                                        resist_scale=6.0, seed=1))
    net.add(plasticity.TraceSTDPSynapse("pow", (n_in, n), A_plus=0.02, A_minus=0.02, mu=0.8, resist_scale=6.0,
                                        connectivity=connectivity.FixedInDegree(max(n_in // 5, 1)), seed=2))
    net.add(plasticity.ExpSTDPSynapse("exp", (n_in, n), A_plus=0.02, A_minus=0.02, exp_beta=1.0,
                                      pretrace_target=0.1, resist_scale=6.0, connectivity=connectivity.Bernoulli(0.5),
                                      seed=3))
    net.add(plasticity.SpikeTimeTracker("tols", n_in))
    # The window is off the dt grid: the rule compares t - window < tols on a float clock, so with a
    # window of exactly k*dt a pre spike k steps back sits on the edge, and float32 and float64
    # clocks (0.1 is not a binary fraction) decide it differently; 0.05 ms is far above the clock's
    # rounding (4e-7 ms at t = 20 ms).
    net.add(plasticity.EventSTDPSynapse("event", (n_in, n), eta=0.05, presyn_win_len=2.05, resist_scale=6.0,
                                        seed=4))
    net.add(plasticity.MSTDPETSynapse("mod", (n_in, n), A_plus=0.05, A_minus=0.04, eta=1.0, tau_elg=10.0,
                                      tau_w=1000.0, resist_scale=6.0, p_conn=0.8, seed=5))
    _soma(net, somas.ExponentialSoma, "soma", n, potential_reset=-70.0)
    net.add(plasticity.VarTrace("pre_tr", n_in, tau_tr=5.0))
    net.add(plasticity.VarTrace("post_tr", n, tau_tr=5.0, decay_type="lin"))
    for syn in ("add", "pow", "exp", "mod"):
        _stdp_ports(net, syn, "spikes_in", "soma.spikes", "pre_tr.trace", "post_tr.trace")
    for syn in ("add", "pow", "exp", "event", "mod"):
        net.connect(f"{syn}.out", "soma.i")
    net.connect("spikes_in", "tols.s")
    net.connect("spikes_in", "event.x")
    net.connect("tols.tols", "event.pre_tols")
    net.connect("soma.spikes", "event.post_spike")
    net.connect("reward", "mod.modulator")
    net.connect("spikes_in", "pre_tr.s")
    net.connect("soma.spikes", "post_tr.s")
    return net


def build_structured(size: Size = DEFAULT) -> Network:
    """Convolutions (trace STDP, Hebbian, static; stride 2) of a side x side input into a soma map,
    deconvolutions (Hebbian, trace STDP, static) from the map back to the input's size."""
    side, half, channels = size.side, size.side // 2, 2
    grid, flat = (half, half, channels), (half * half * channels,)
    image, pixels = (side, side, 1), (side * side,)
    net = Network("conf_structured", dt=DT, batch=size.batch)
    net.add_input("image", image)
    net.add(structured.TraceSTDPConvSynapse("conv", (3, 3, 1, channels), (side, side), stride=2, A_plus=0.02,
                                            A_minus=0.02, resist_scale=150.0, seed=1))
    net.add(structured.HebbianConvSynapse("hconv", (3, 3, 1, channels), (side, side), stride=2, eta=0.001,
                                          sign_value=-1.0, resist_scale=80.0, seed=2))
    net.add(structured.StaticConvSynapse("sconv", (5, 5, 1, channels), (side, side), stride=2, resist_scale=40.0,
                                         seed=3))
    net.add(structured.Reshape("to_flat", grid, flat))
    _soma(net, somas.ExponentialSoma, "map", flat[0], potential_reset=-70.0)
    net.add(structured.Reshape("to_grid", flat, grid))
    net.add(structured.HebbianDeconvSynapse("deconv", (3, 3, channels, 1), (half, half), stride=2, eta=0.001,
                                            sign_value=-1.0, seed=4))
    net.add(structured.TraceSTDPDeconvSynapse("tdeconv", (3, 3, channels, 1), (half, half), stride=2, A_plus=0.02,
                                              A_minus=0.02, resist_scale=800.0, seed=5))
    net.add(structured.StaticDeconvSynapse("sdeconv", (3, 3, channels, 1), (half, half), stride=2, seed=6))
    net.add(structured.Reshape("img_flat", image, pixels))
    _soma(net, somas.ExponentialSoma, "recon", pixels[0], potential_reset=-70.0)
    net.add(structured.Reshape("img_grid", pixels, image))
    net.add(plasticity.VarTrace("image_tr", image, tau_tr=5.0))
    net.add(plasticity.VarTrace("map_tr", grid, tau_tr=5.0))
    net.add(plasticity.VarTrace("recon_tr", image, tau_tr=5.0))
    for source, target in [
            ("image", "conv.x"), ("image", "conv.pre_spike"), ("to_grid.out", "conv.post_spike"),
            ("image_tr.trace", "conv.pre_trace"), ("map_tr.trace", "conv.post_trace"),
            ("image", "hconv.x"), ("image", "hconv.pre"), ("to_grid.out", "hconv.post"), ("image", "sconv.x"),
            ("conv.out", "to_flat.x"), ("hconv.out", "to_flat.x"), ("sconv.out", "to_flat.x"),
            ("to_flat.out", "map.i"), ("map.spikes", "to_grid.x"),
            ("to_grid.out", "deconv.x"), ("to_grid.out", "deconv.pre"), ("image", "deconv.post"),
            ("to_grid.out", "sdeconv.x"), ("to_grid.out", "tdeconv.x"), ("to_grid.out", "tdeconv.pre_spike"),
            ("img_grid.out", "tdeconv.post_spike"), ("map_tr.trace", "tdeconv.pre_trace"),
            ("recon_tr.trace", "tdeconv.post_trace"), ("tdeconv.out", "img_flat.x"), ("img_flat.out", "recon.i"),
            ("recon.spikes", "img_grid.x"), ("image", "image_tr.s"), ("to_grid.out", "map_tr.s"),
            ("img_grid.out", "recon_tr.s")]:
        net.connect(source, target)
    net.record("deconv.out", "sdeconv.out")
    return net


def build_nir(size: Size = DEFAULT) -> Network:
    """The NIR family (aotsnn.components.lif, layers): every neuron behind a 100x50 dense synapse,
    both integrations and all three resets; spikes through Delay and Scale; a 28x28 image through
    Conv, SumPool and AvgPool into a LIF of shape (4, 3, 3); Threshold on a membrane."""
    n_in, n = size.n_in, size.n_out
    net = Network("conf_nir", dt=DT, batch=size.batch)
    net.add_input("spikes_in", (n_in,))
    net.add_input("image", (1, size.side, size.side))
    net.add(synapses.DenseSynapse("drive", (n_in, n), resist_scale=0.5, seed=11))
    net.add(layers.Delay("late", (n_in,), delays=(np.arange(n_in) % 4).astype(float)))
    net.add(layers.Scale("gain", (n_in,), scale=np.linspace(0.5, 1.5, n_in)))
    net.add(synapses.DenseSynapse("delayed", (n_in, n), resist_scale=0.5, seed=12))
    neurons = {"integ": (lif.Integrator, dict(r=0.05)),
               "if_": (lif.IntegrateAndFire, dict(r=0.05, v_threshold=1.0, reset="subtract")),
               "li": (lif.LeakyIntegrator, dict(tau=5.0, integration="exact")),
               "lif_": (lif.LeakyIntegrateAndFire, dict(tau=5.0, v_threshold=1.0, reset="subtract_pending")),
               "culi": (lif.CubaLeakyIntegrator, dict(tau_syn=2.0, tau_mem=5.0)),
               "culif": (lif.CubaLIF, dict(tau_syn=2.0, tau_mem=5.0, v_threshold=1.0, v_reset=-0.2,
                                           integration="exact"))}
    for name, (kind, options) in neurons.items():
        net.add(kind(name, n, **options))
        net.connect("drive.out", f"{name}.i")
        net.record(f"{name}.spikes" if kind.spiking else f"{name}.v")
    for source, target in (("spikes_in", "drive.x"), ("spikes_in", "late.x"), ("late.out", "gain.x"),
                           ("gain.out", "delayed.x"), ("delayed.out", "lif_.i")):
        net.connect(source, target)
    net.add(lif.Threshold("crossing", (n,), threshold=1.5))
    net.connect("li.v", "crossing.x")
    net.record("crossing.spikes")
    side = (size.side - 3) // 2 + 1                       # 3x3 kernel, stride 2: 28 -> 13
    kernel = np.random.default_rng(13).uniform(-0.2, 1.0, (4, 1, 3, 3))
    net.add(layers.Conv("conv", (1, size.side, size.side), kernel, bias=np.full(4, 0.05), stride=2))
    net.add(layers.SumPool("sum", (4, side, side), 2))
    net.add(layers.AvgPool("avg", (4, side // 2, side // 2), 2))
    pooled = (4, side // 4, side // 4)
    net.add(lif.LeakyIntegrateAndFire("vision", pooled, tau=5.0, v_threshold=0.2))
    for source, target in (("image", "conv.x"), ("conv.out", "sum.x"), ("sum.out", "avg.x"), ("avg.out", "vision.i")):
        net.connect(source, target)
    net.record("vision.spikes")
    return net


def build_sources(size: Size = DEFAULT) -> Network:
    """Sources and a monitor, driven by their own random numbers and an input current: Poisson
    trains (10-500 Hz) through stochastic release, 300 given spikes through a conductance synapse,
    white and OU noise, a constant current (a per-unit amplitude), a SpikeCounter. Normal draws are sqrt(2) erfinv(2u - 1): u is bit-exact
    on every target, but one float32 ulp of 2u - 1 moves a draw xi by sqrt(pi/2) e^{xi^2/2} 2^-24
    (1.8e-3 at xi = 4.5), so the noise amplitudes are small enough for the one-step bounds:
    white noise enters only through the soma (0.01 mV per pA), OU's state x has the 1e-5 bound of
    `.x` (std 0.02 pA: 8e-5 pA per unit of xi)."""
    n_in, n = size.n_in, size.n_out
    net = Network("conf_sources", dt=DT, batch=size.batch)
    net.add_input("current", (n,))
    pairs = np.random.default_rng(17).choice(200 * n_in, 300, replace=False)        # (step, unit), distinct
    net.add(sources.PoissonSource("pois", n_in, rate=np.linspace(10.0, 500.0, n_in), seed=1))
    net.add(sources.SpikeGenerator("gen", n_in, pairs % n_in, (pairs // n_in) * DT, dt=DT))
    net.add(sources.GaussianNoise("noise", n, mean=5.0, std=5.0, seed=2))
    net.add(sources.OUNoise("ou", n, mean=5.0, std=0.02, tau=5.0, seed=3))
    net.add(sources.ConstantCurrent("dc", n, amplitude=np.linspace(-2.0, 2.0, n)))
    net.add(synapses.DenseSynapse("release", (n_in, n), p_release_mean=0.5, resist_scale=10.0, seed=4))
    net.add(synapses.ExponentialSynapse("gen_syn", (n_in, n), tau_decay=5.0, g_syn_bar=0.2, syn_rest=0.0,
                                        p_conn=0.5, seed=5))
    _soma(net, somas.ExponentialSoma, "soma", n)
    net.add(monitors.SpikeCounter("count", n))
    for source, target in (("current", "soma.i"), ("noise.i", "soma.i"), ("ou.i", "soma.i"), ("dc.i", "soma.i"),
                           ("pois.spikes", "release.x"),
                           ("release.out", "soma.i"), ("soma.spikes", "count.s")):
        net.connect(source, target)
    net.connect("gen.spikes", "gen_syn.s"); net.connect("soma.v", "gen_syn.v"); net.connect("gen_syn.i", "soma.i")
    net.record("pois.spikes", "gen.spikes")
    return net


NETWORKS = {"somas": build_somas, "dense": build_dense, "hebbian": build_hebbian, "stdp": build_stdp,
            "structured": build_structured, "nir": build_nir, "sources": build_sources}


def conformance_inputs(net: Network, steps: int, seed: int = 7) -> dict[str, np.ndarray]:
    """Poisson spikes (rate RATE) on spike inputs and images, a reward in [-1, 1], a noisy
    current [pA]; (steps, batch, ...) float64, reproducible from `seed`."""
    rng = np.random.default_rng(seed)
    inputs = {}
    for name, shape in net.input_shapes.items():
        full = (steps, net.batch, *shape)
        if name == "reward":
            inputs[name] = rng.uniform(-1.0, 1.0, size=full)
        elif name == "current":
            inputs[name] = rng.normal(15.0, 15.0, size=full)
        else:
            inputs[name] = (rng.uniform(size=full) < RATE).astype(np.float64)
    return inputs


# -- tolerances -------------------------------------------------------------------------------------
# Every leaf must pass the target's policy (aotsnn.verify: |a - r| <= atol + rtol*|r|, rtol 1e-5,
# atol 1e-4, the right scale for membrane potentials of ~70 mV and threshold shifts of a few
# hundred mV after a few tens of float32 operations). Leaves of a smaller natural scale get a
# tighter bound on their largest absolute one-step error; the first pattern that matches the
# leaf's name (after the component) applies. Measured here, the same on every target: copies 0,
# moments <= 3.1e-8, weights <= 2.3e-7, the rest <= 7.7e-7 (docs/targets.md has the table).
LEAF_TOLERANCE = (
    (r"delay_buffer|prev_out|prev_spikes|adam_t|refractory", 0.0,
     "copies of inputs, spikes or step counts: no arithmetic that rounds"),
    (r"weights_[mv]|biases_[mv]|eligibility|dweights", 2e-7,
     "optimizer moments, eligibilities and accumulated updates stay below ~0.6 (measured: adam moments "
     "0.11, MSTDP-ET dweights 0.55), where float32 spacing is 6e-8: 3 ulp"),
    (r"weights$", 2e-6,
     "|W| <= w_bound = 1, where float32 spacing is 1.2e-7: 16 ulp leave room for the 196-term sums of a "
     "convolution kernel's update, and are 0.1% of one learning step (eta*A ~ 1e-3)"),
    (r"\.(g|h|u|x|Wdyn|trace|prev_trace|tols|t|theta|biases)$|\.out$", 1e-5,
     "conductances, STP resources, traces, clocks [ms] and synaptic outputs are at most ~20 (measured: "
     "a trace of 1-increments 11, t = 20 ms after 200 steps), where float32 spacing is 1.9e-6: 5 ulp"),
)


def leaf_bound(leaf: str) -> tuple[float, str] | None:
    """(absolute bound, why) of LEAF_TOLERANCE for `leaf`; None: the target's policy alone."""
    own = "." + leaf.partition(".")[2]          # "exp_syn.g" -> ".g"
    for pattern, bound, why in LEAF_TOLERANCE:
        if re.search(pattern, own):
            return bound, why
    return None


def check_leaves(report) -> list[str]:
    """The leaves whose largest one-step error exceeds their LEAF_TOLERANCE bound."""
    failures = []
    for error in report.one_step:
        bound = leaf_bound(error.name)
        if bound is not None and error.max_abs > bound[0]:
            failures.append(f"{error.name}: max abs error {error.max_abs:.3g} > {bound[0]:g} ({bound[1]})")
    return failures


# -- coverage ---------------------------------------------------------------------------------------
# Exported classes that are bases of others, not components of their own (each must stay a base of
# a class the matrix uses, so this list cannot hide a new component).
BASES = {"ConductanceSynapse", "WeightedSynapse", "PlasticSynapse", "PatchedSynapse", "ConvSynapse", "DeconvSynapse",
         "NIRNeuron"}


def component_classes() -> set[type]:
    """Every Component class the component packages export."""
    found = set()
    for package in (somas, synapses, plasticity, structured, lif, layers, sources, monitors):
        for name in package.__all__:
            obj = getattr(package, name)
            if inspect.isclass(obj) and issubclass(obj, Component):
                found.add(obj)
    return found


def test_every_component_class_is_in_the_matrix():
    used = {type(c) for build in NETWORKS.values() for c in build().components.values()}
    missing = sorted(c.__name__ for c in component_classes() if c not in used and c.__name__ not in BASES)
    assert not missing, f"component classes in no conformance network: {missing}"
    unused_bases = sorted(b for b in BASES if not any(b in {k.__name__ for k in c.__mro__} for c in used))
    assert not unused_bases, f"BASES that no network's component derives from: {unused_bases}"
    sizes = [c.shape for build in NETWORKS.values() for c in build().components.values()
             if isinstance(c, synapses.WeightedSynapse) and len(getattr(c, "shape", ())) == 2]
    assert min(n_in for n_in, _ in sizes) >= 50 and max(n_in for n_in, _ in sizes) >= 100
    assert build_structured().input_shapes["image"][:2] == (28, 28)


# -- the matrix -------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def conformance(tmp_path_factory):
    """compile(network, target, size) -> artifact path, each compiled once per session.

    The JAX reference of a network is the same program on every target, so XLA's compilations
    are kept in a persistent cache for the session (the second target on reuses them).
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    from aotsnn.export import compile_network

    root, built = tmp_path_factory.mktemp("conformance"), {}
    saved = {key: getattr(jax.config, key) for key in ("jax_compilation_cache_dir",
                                                        "jax_persistent_cache_min_compile_time_secs")}
    jax.config.update("jax_compilation_cache_dir", str(tmp_path_factory.mktemp("xla-cache")))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    compilation_cache.reset_cache()          # JAX decides once whether it caches: ask again

    def compile(network: str, target, size: Size = DEFAULT):
        key = (network, target.name, size)
        if key not in built:
            built[key] = compile_network(NETWORKS[network](size), root / f"{network}-{target.name}-{len(built)}.aot",
                                     target=target.name)
        return built[key]

    yield compile
    for key, value in saved.items():
        jax.config.update(key, value)
    compilation_cache.reset_cache()


@pytest.fixture()
def one_timed_run(monkeypatch):
    """compare() times its run() three times for steps/s; the matrix checks numbers, not speed,
    and one timed run (plus the trajectory) is enough (each costs a harness launch)."""
    monkeypatch.setattr("aotsnn.verify.report.TIMED_RUNS", 1)


def check_conformance(network: str, target, conformance, size: Size, steps: int) -> None:
    """The one-step check against float64 (policy and LEAF_TOLERANCE) and identical spike trains."""
    from aotsnn.runtime.harness import load_any
    from aotsnn.verify import compare

    net = NETWORKS[network](size)
    path = conformance(network, target, size)
    session = load_any(path)
    report = compare(session, net, conformance_inputs(net, steps))
    record(network, target, path, session, report)
    assert report.steps == steps and report.target == target.name
    assert report.passed, report.failures()
    assert not check_leaves(report), check_leaves(report)
    for train in report.free_run:
        assert train.identical, f"{train.name}: free run first differs from jax.jit(lax.scan) at {train.first_divergence}"
        assert 0 < train.artifact_spikes < output_units(net, train.name) * steps, f"{train.name}: {train.artifact_spikes} spikes test nothing"


def record(network: str, target, path, session, report) -> None:
    """With AOTSNN_CONFORMANCE_LOG=file, append what was measured as one JSON line (the tables of
    docs/targets.md are made from it)."""
    import json
    import os

    from aotsnn.verify.matrix import artifact_facts

    log = os.environ.get("AOTSNN_CONFORMANCE_LOG")
    if not log:
        return
    row = {"network": network, "target": target.name, "passed": report.passed,
           "steps_per_second": report.artifact_steps_per_second,
           "identical": all(t.identical for t in report.free_run),
           "spikes": {t.name: t.artifact_spikes for t in report.free_run},
           "leaves": {e.name: [e.max_abs, e.max_rel, e.spike_mismatches] for e in report.one_step},
           **artifact_facts(path, target, session.artifact.manifest)}
    if target.artifact == "c-bundle":
        row["build"] = {k: session.artifact.manifest["build"][k] for k in ("sizes", "arena_bytes", "workspace_bytes")}
    with open(log, "a") as handle:
        handle.write(json.dumps(row) + "\n")


def output_units(net: Network, port: str) -> int:
    """Values per step of the recorded output `port` ("comp.port"), batch included."""
    comp, _, name = port.partition(".")
    return net.batch * int(np.prod(net.components[comp].port("output", name).shape))


# The networks that hold every kernel kind between them (dense, event and CSR matmuls, the CSR
# scatter/densify/correlate of synapse lists, plasticity, random bits). riscv64-linux and the cuda
# build run only these by default and every network with -m slow: riscv64's C kernels are the c
# target's cross-compiled (c, aarch64-linux and cortex-m run all networks), and the GPU schedules
# are shared with opencl, which runs all networks.
CORE_NETWORKS = ("dense", "sources", "stdp")
CORE_ONLY_TARGETS = ("riscv64-linux",)


@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_network_matches_jax_on_target(network, target, conformance, one_timed_run, request):
    if target.name in CORE_ONLY_TARGETS and network not in CORE_NETWORKS and not slow_requested(request.config):
        pytest.skip(f"slow: {target.name} runs {', '.join(CORE_NETWORKS)} by default, every network with -m slow")
    check_conformance(network, target, conformance, DEFAULT, STEPS)


@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_bundle_needs_no_runtime_and_keeps_tvm_workspace_in_bss(network, target, conformance):
    """Nothing from outside but C99 libm, memcpy/memset and compiler helpers (no malloc, no TVM), and
    the kernels' workspace is one static arena in .bss of the size the manifest reports."""
    import json
    import subprocess

    from aotsnn.export.kernels.c_kernels import allowed_symbol, external_symbols

    if target.artifact != "c-bundle":
        pytest.skip(f"'{target.name}' builds a shared library that runs on TVM's FFI library")
    path = conformance(network, target)
    build = json.loads((path / "manifest.json").read_text())["build"]
    library = path / "c" / f"lib{build['prefix']}.a"
    needed = external_symbols(library, target)
    assert needed == set(build["external_symbols"])
    assert all(allowed_symbol(name) for name in needed), sorted(needed)
    assert not needed & {"malloc", "calloc", "realloc", "free", "aligned_alloc"}, sorted(needed)
    symbols = subprocess.run([target.nm_tool, "-S", str(library)], capture_output=True, text=True, check=True).stdout
    arena = [line.split() for line in symbols.splitlines() if line.endswith(f" {build['prefix']}_arena")]
    if build["arena_bytes"] == 0:
        assert not arena and not build["arena"]["kernels"]
        return
    ((_, size, kind, _),) = arena
    assert kind in "bB", f"the arena is in section '{kind}', not .bss"
    assert int(size, 16) == build["arena_bytes"] + 64       # + the alignment slack
    assert build["arena_bytes"] >= max(max(sizes) for sizes in build["arena"]["kernels"].values())


def test_the_matrix_exercises_the_arena(conformance):
    """STP, learning rules and delays at 100 x 50 make TVM ask for workspace (intermediates of
    1 KiB or more): the case that needed a TVM runtime before."""
    import json

    from aotsnn.targets import get

    c = get("c")
    ok, why = c.runs_here()
    if not ok:
        pytest.skip(why)
    build = json.loads((conformance("dense", c) / "manifest.json").read_text())["build"]
    assert build["arena_bytes"] >= 20000, build["arena"]


@pytest.mark.parametrize("network", [n if n in CORE_NETWORKS else pytest.param(n, marks=pytest.mark.slow)
                                     for n in sorted(NETWORKS)])
def test_network_builds_for_cuda(network, tmp_path):
    """cuda: built here wherever nvcc is; it runs only where a GPU is (the `target` fixture)."""
    from aotsnn.export import compile_network
    from aotsnn.targets import get

    cuda = get("cuda")
    ok, why = cuda.builds_here()
    if not ok:
        pytest.skip(why)
    if cuda.runs_here()[0]:
        pytest.skip("a GPU is here: test_network_matches_jax_on_target runs the cuda artifact")
    path = compile_network(NETWORKS[network](), tmp_path / f"{network}.aot", target="cuda")
    assert (path / "model.so").stat().st_size > 0 and (path / "driver.cu").is_file()


# -- refusals -------------------------------------------------------------------------------------
def test_an_op_without_a_c99_function_is_refused_naming_component_and_op(tmp_path, monkeypatch):
    """Without its C99 rule, fabs (in HebbianSynapse's weight bound) cannot be lowered: the export
    fails at compile time and says which component and which op."""
    from aotsnn.export import compile_network
    from aotsnn.export.kernels import c_math
    from aotsnn.export.errors import ExportError
    from aotsnn.targets import get

    ok, why = get("c").runs_here()
    if not ok:
        pytest.skip(why)
    monkeypatch.setenv("AOTSNN_CACHE", str(tmp_path / "cache"))
    real = c_math.c99_name
    monkeypatch.setattr(c_math, "c99_name", lambda function, dtype: None if function == "fabs" else real(function, dtype))
    with pytest.raises(ExportError, match=r"kernel '\w+' of [^;]*'(sgd|adam)' \(HebbianSynapse\)[^;]* needs the op tirx\.fabs"):
        compile_network(build_hebbian(Size(n_in=20, n_out=10)), tmp_path / "h.aot", target="c")


ARENA_PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include "aotsnn_ffi.h"
static char message[128];
void m_error_from_parts(const char *kind, const char **parts, int32_t n) {
  (void)n; snprintf(message, sizeof message, "%s: %s", kind, parts[0]);
}
@ARENA@
int main(void) {
  char *a = m_arena_alloc(1, 0, 100, 2, 32), *b = m_arena_alloc(1, 0, 1000, 2, 32);
  int aligned = ((uintptr_t)a % 64 == 0) && ((uintptr_t)b % 64 == 0) && b - a == 128;
  memset(a, 1, 100); memset(b, 2, 1000);
  int out_of_order = m_arena_free(1, 0, a);          /* b is still live: refused */
  printf("%d %d %s\n", aligned, out_of_order, message);
  int lifo = m_arena_free(1, 0, b) | m_arena_free(1, 0, a);
  void *whole = m_arena_alloc(1, 0, 1152, 2, 32);     /* the arena is 1152 bytes: all of it */
  void *more = m_arena_alloc(1, 0, 1, 2, 32);
  printf("%d %d %d %s\n", lifo, whole != NULL, more == NULL, message);
  m_arena_reset();
  printf("%d\n", m_arena_alloc(1, 0, 1152, 2, 32) != NULL);
  return 0;
}
"""


def test_arena_serves_tvm_requests_in_order_and_refuses_the_rest(tmp_path):
    """The arena's C: 64-byte aligned blocks, frees only in reverse order, NULL (with a message)
    once full, a reset gives it all back."""
    import subprocess

    from aotsnn.export.kernels.arena import ArenaPlan
    from aotsnn.export.artifact.bundle import ffi_header

    plan = ArenaPlan({"k1": (100, 1000), "k2": (1152,)})
    assert plan.nbytes == 1152 and plan.depth == 2
    (tmp_path / "aotsnn_ffi.h").write_text(ffi_header("gcc"))
    (tmp_path / "arena.c").write_text(ARENA_PROGRAM.replace("@ARENA@", plan.source("m")))
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function", "arena.c", "-o", "arena"],
                   cwd=tmp_path, check=True, capture_output=True)
    lines = subprocess.run(["./arena"], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.splitlines()
    assert lines[0] == "1 -1 RuntimeError: a kernel freed workspace out of order"
    assert lines[1] == "0 1 1 RuntimeError: the kernels' workspace arena is exhausted"
    assert lines[2] == "1"


# -- the bigger sweep -------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_big_network_matches_jax_on_target(network, target, conformance, one_timed_run):
    """Batch 2, 200 inputs x 100 outputs, 1,000 steps (`pytest -m slow`)."""
    check_conformance(network, target, conformance, BIG, 1000)


def test_non_finite_constants_become_c99(tmp_path):
    """TVM's C printer writes infinities and NaNs as `inff`/`nanf` (`inf`/`nan` in float64), which
    are not C: the bundle's kernels get INFINITY and NAN, and the file compiles as C99."""
    import subprocess

    from aotsnn.export.kernels.arena import ArenaPlan
    from aotsnn.export.kernels.c_kernels import CKernels
    from aotsnn.export.artifact.bundle import ffi_header
    from aotsnn.export.kernels.plan import Plan

    body = ("float k(float x) { return ((x) > (-inff) ? (x) : (-inff)) + nanf; }\n"
            "double d(double x) { return ((x) < (inf) ? (x) : (inf)) + nan; }\n")
    text = CKernels(Plan(), body, {}, {}, ArenaPlan({})).bundle_source("m", "m")
    assert "inff" not in text and "nanf" not in text and "(-INFINITY)" in text and "((double)NAN)" in text
    (tmp_path / "aotsnn_ffi.h").write_text(ffi_header("gcc"))
    (tmp_path / "k.c").write_text("#include <math.h>\n" + text)
    done = subprocess.run(["gcc", "-std=c99", "-Wall", "-Werror", "-c", "k.c"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
