"""Make the Sinabs NIR graphs in this folder with Sinabs' own exporter (`sinabs.to_nir`) and record
Sinabs' own simulation of them as the reference (spike trains and states, float64).

Run in a throwaway venv (torch is too large for CI; the tests only read the files written here):

    python3.11 -m venv /tmp/nirfw2
    /tmp/nirfw2/bin/pip install torch==2.13.0 sinabs==3.1.3 h5py    # pulls nir==1.0.4, nirtorch==2.0.2
    /tmp/nirfw2/bin/python tests/data/nir/make_sinabs_graphs.py

Sinabs 3.1.3 pins nir <= 1.0.4, whose LIF/IF nodes have no v_reset and reset by subtraction; the
tests read the files with nir 1.0.8, where the same file means a reset to v_reset = 0. aotsnn's
`reset` option is what decides (docs/nir.md, Traps).

Sinabs' time constants are in time steps (alpha = exp(-1/tau_mem)) and its exporter writes them
as they are, so the graphs are imported with dt = 1 in any unit (the tests use time_unit="ms").
Every neuron uses `spike_fn=SingleSpike` (Sinabs' default MultiSpike emits floor(v/threshold)
events per step, which no NIR node expresses) and LIF keeps the default `norm_input=True`
(v = alpha v + (1 - alpha) I: NIR's LIF with r = 1 under exact integration). Sinabs tests
v >= threshold where NIR tests v > threshold; the script checks that no membrane lands exactly on
a threshold, so the two rules give the same spikes here.

Graphs (Sequential index = layer key in the .npz):
- sinabs_lif: Linear -> LIF -> Linear -> LIF, MembraneSubtract (reset="subtract").
- sinabs_if: Linear -> IAF -> Linear -> IAF, MembraneReset(0) (reset="zero").
- sinabs_conv: Conv2d -> LIF -> SumPool2d -> Flatten -> Linear -> LIF, MembraneSubtract.
- sinabs_synaptic: Linear -> LIF(tau_syn=...) -> Linear -> LIF(tau_syn=...): Sinabs' synaptic-current
  neuron. Its exporter writes a plain LIF and drops tau_syn, so this graph does NOT compute what
  Sinabs simulates; it is shipped so that a test shows the difference.
Sinabs 3.1.3 has no recurrent layer its exporter handles (LIFRecurrent fails in to_nir; checked below).

Parameters are rounded to float32 before the float64 simulation (the exporter traces in float32),
so the graph holds exactly the simulated values. Writes <name>.nir and <name>.npz (inputs
(T, 1, ...), per layer index "<i>.spikes" and "<i>.v_mem" / "<i>.i_syn") per model.
"""
from __future__ import annotations

import copy
from pathlib import Path

import nir
import numpy as np
import torch

HERE = Path(__file__).parent
T, T_CONV, N_IN, N_HID, N_OUT = 200, 100, 12, 20, 5
torch.set_default_dtype(torch.float64)


def spikes(shape, seed, p=0.25, steps=T):
    return (np.random.default_rng(seed).uniform(size=(steps, 1, *shape)) < p).astype(np.float64)


def linear(n_in, n_out, gain, seed):
    torch.manual_seed(seed)
    layer = torch.nn.Linear(n_in, n_out)
    with torch.no_grad():
        layer.weight.mul_(gain)
    return layer


def save(name, graph, x, record):
    nir.write(HERE / f"{name}.nir", graph)
    np.savez_compressed(HERE / f"{name}.npz", inputs=x, **{k: np.stack(v) for k, v in record.items()})
    print(name, {k: (np.stack(v).shape, float(np.stack(v).sum())) for k, v in record.items() if "spikes" in k})


def sinabs_models():
    import sinabs
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, MembraneSubtract, SingleSpike

    def taus(shape, seed, low=5.0, high=20.0):        # in time steps
        return torch.tensor(np.random.default_rng(seed).uniform(low, high, shape))

    def run(net, x, layers):
        for module in net:
            if isinstance(module, sl.StatefulLayer):
                module.reset_states()
        record = {f"{k}.spikes": [] for k in layers} | {f"{k}.{s}": [] for k, m in layers.items() for s in m[1]}
        margin = np.inf
        with torch.no_grad():
            for t in range(len(x)):
                h = torch.tensor(x[t])
                for index, module in enumerate(net):
                    h = module(h).double()        # SingleSpike returns float32 0/1 (exact)
                    if str(index) in layers:
                        record[f"{index}.spikes"].append(h.numpy().copy())
                        spiked = h.numpy() > 0
                        v = module.v_mem.numpy()       # after the reset: undo it to see the tested value
                        if isinstance(module.reset_fn, MembraneSubtract):
                            tested = v + spiked * module.spike_threshold.numpy()
                            margin = min(margin, float(np.min(np.abs(tested - module.spike_threshold.numpy()))))
                        else:
                            tested = np.where(spiked, np.inf, v)
                            margin = min(margin, float(np.min(np.abs(tested - module.spike_threshold.numpy()))))
                for k, (module, states) in layers.items():
                    for s in states:
                        record[f"{k}.{s}"].append(getattr(module, s).numpy().copy())
        assert margin > 1e-9, f"a membrane landed on the threshold (margin {margin}); >= and > would differ"
        return record

    def make(name, net, x, layers):
        net.float().double()                          # parameters rounded to float32, simulated in float64
        record = run(net, x, layers)
        traced = copy.deepcopy(net).float()
        for module in traced:
            if isinstance(module, sl.StatefulLayer):
                module.reset_states()
        graph = sinabs.to_nir(traced, torch.tensor(x[0]).float())
        # Sinabs leaves Conv2d.input_shape and Flatten.input_type as None, which nir.write cannot
        # store (TypeError from h5py): fill them in from the shapes a forward pass sees.
        shapes, h = {}, torch.tensor(x[0]).float()
        for index, module in enumerate(traced):
            shapes[str(index)], h = tuple(h.shape[1:]), module(h)
        for key, node in graph.nodes.items():
            if isinstance(node, nir.Conv2d) and node.input_shape is None:
                node.input_shape = np.array(shapes[key][1:])
            if isinstance(node, nir.Flatten) and node.input_type["input"] is None:
                node.input_type = {"input": np.array(shapes[key])}
        save(name, graph, x, record)

    squeeze = dict(batch_size=1, spike_fn=SingleSpike)

    # the exporter asserts that tau and threshold have one shape: per-neuron taus need per-neuron thresholds
    l1 = sl.LIFSqueeze(tau_mem=taus(N_HID, 1), spike_threshold=torch.ones(N_HID), reset_fn=MembraneSubtract(), **squeeze)
    l2 = sl.LIFSqueeze(tau_mem=taus(N_OUT, 2), spike_threshold=torch.ones(N_OUT), reset_fn=MembraneSubtract(), **squeeze)
    net = torch.nn.Sequential(linear(N_IN, N_HID, 10.0, 1), l1, linear(N_HID, N_OUT, 25.0, 2), l2)
    make("sinabs_lif", net, spikes((N_IN,), 20), {"1": (l1, ["v_mem"]), "3": (l2, ["v_mem"])})

    i1 = sl.IAFSqueeze(spike_threshold=torch.tensor(1.5), reset_fn=MembraneReset(), **squeeze)
    i2 = sl.IAFSqueeze(reset_fn=MembraneReset(), **squeeze)
    net = torch.nn.Sequential(linear(N_IN, N_HID, 1.0, 3), i1, linear(N_HID, N_OUT, 1.5, 4), i2)
    make("sinabs_if", net, spikes((N_IN,), 21), {"1": (i1, ["v_mem"]), "3": (i2, ["v_mem"])})

    torch.manual_seed(13)
    conv = torch.nn.Conv2d(1, 3, 3, padding=1)
    with torch.no_grad():
        conv.weight.mul_(8.0)
    c1 = sl.LIFSqueeze(tau_mem=torch.tensor(8.0), reset_fn=MembraneSubtract(), **squeeze)
    l2 = sl.LIFSqueeze(tau_mem=taus(N_OUT, 5), spike_threshold=torch.ones(N_OUT), reset_fn=MembraneSubtract(), **squeeze)
    net = torch.nn.Sequential(conv, c1, sl.SumPool2d(2), torch.nn.Flatten(), linear(27, N_OUT, 10.0, 5), l2)
    make("sinabs_conv", net, spikes((1, 6, 6), 22, p=0.3, steps=T_CONV), {"1": (c1, ["v_mem"]), "5": (l2, ["v_mem"])})

    s1 = sl.LIFSqueeze(tau_mem=taus(N_HID, 6), tau_syn=taus(N_HID, 7, 2.0, 5.0), spike_threshold=torch.ones(N_HID),
                       reset_fn=MembraneSubtract(), **squeeze)
    s2 = sl.LIFSqueeze(tau_mem=taus(N_OUT, 8), tau_syn=taus(N_OUT, 9, 2.0, 5.0), spike_threshold=torch.ones(N_OUT),
                       reset_fn=MembraneSubtract(), **squeeze)
    net = torch.nn.Sequential(linear(N_IN, N_HID, 10.0, 6), s1, linear(N_HID, N_OUT, 12.0, 7), s2)
    make("sinabs_synaptic", net, spikes((N_IN,), 23), {"1": (s1, ["v_mem", "i_syn"]), "3": (s2, ["v_mem", "i_syn"])})

    recurrent = torch.nn.Sequential(linear(N_IN, N_HID, 1.0, 8),
                                    sl.LIFRecurrent(tau_mem=10.0, rec_connect=torch.nn.Linear(N_HID, N_HID),
                                                    spike_fn=SingleSpike)).float()
    try:
        sinabs.to_nir(recurrent, torch.zeros(1, 1, N_IN))
        print("sinabs.to_nir exported LIFRecurrent: add a recurrent graph")
    except Exception as exc:                          # documented in docs/nir.md
        print(f"sinabs.to_nir(LIFRecurrent) fails: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    sinabs_models()
