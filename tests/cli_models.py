"""Models for the command-line tests (tests/test_cli.py), importable as `cli_models:<name>`;
`synapse_lists` also serves the bundle and compile-path tests."""
from __future__ import annotations

from aotsnn.components.connectivity import Explicit, FixedInDegree
from aotsnn.components.somas.exponential import ExponentialSoma
from aotsnn.components.synapses import DenseSynapse
from aotsnn.components.synapses.conductance import ExponentialSynapse
from aotsnn.demo import build_ei_network
from aotsnn.network import Network


def small():
    """The E/I network of tests/conftest.py's `small_net` (so the compile cache has it)."""
    return build_ei_network(n_exc=40, n_inh=10, p_conn=0.3)


def spiking():
    """Spike trains in, through a conductance synapse, into 12 somas: one input of kind spikes."""
    net = Network("spiking", dt=0.1)
    net.add_input("pre", (16,))
    net.add(ExponentialSynapse("syn", (16, 12), tau_decay=5.0, g_syn_bar=2.0, syn_rest=0.0, p_conn=0.5, seed=1))
    net.add(ExponentialSoma("post", 12))
    net.project("pre", "syn", "post")
    net.record("post.spikes")
    return net


def synapse_lists():
    """Driven somas into somas through synapse lists: a conductance synapse with FixedInDegree and
    given pairs, one of them twice (a multapse)."""
    net = Network("lists", dt=0.1)
    net.add_input("drive", (20,))
    net.add(ExponentialSoma("pre", 20))
    net.add(ExponentialSynapse("syn", (20, 15), tau_decay=5.0, g_syn_bar=0.5, syn_rest=0.0,
                               connectivity=FixedInDegree(4), seed=1))
    net.add(DenseSynapse("given", (20, 15), connectivity=Explicit([0, 3, 3, 7, 19], [2, 5, 5, 14, 0]),
                         resist_scale=30.0, seed=2))
    net.add(ExponentialSoma("post", 15))
    net.connect("drive", "pre.i")
    net.project("pre", "syn", "post")
    net.connect("pre.spikes", "given.x")
    net.connect("given.out", "post.i")
    net.record("pre.spikes", "post.spikes")
    return net


def unwired():
    """A network with an unwired port: compiling it must fail with the network's message."""
    net = Network("net", dt=0.1)
    net.add(ExponentialSynapse("ee", (4, 4), tau_decay=5.0, g_syn_bar=1.0, syn_rest=0.0))
    net.add(ExponentialSoma("exc", 5))
    return net


def not_a_network():
    return "ei_demo"


def broken():
    raise ZeroDivisionError("division by zero")
