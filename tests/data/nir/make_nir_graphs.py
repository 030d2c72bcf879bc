"""Make the NIR graphs in this folder with snnTorch and record snnTorch's own simulation of them as
the reference (spike trains and states, float64).

Run in a throwaway venv (torch is too large for CI; the tests only read the files written here):

    python3.11 -m venv /tmp/nirfw
    /tmp/nirfw/bin/pip install torch==2.13.0 snntorch==1.0.0 nir==1.0.8 h5py
    /tmp/nirfw/bin/python tests/data/nir/make_nir_graphs.py

snnTorch: a feed-forward LIF net, a CubaLIF net, a recurrent LIF net (RLeaky; RSynaptic with
reset_delay=False raises a TypeError in snnTorch 1.0.0) and a small conv net, all with
`reset_delay=False` (the reset right after the spike, as NIR's equations have it; snnTorch's
default delays it by a step). Parameters are rounded to float32 before the float64 simulation
(the exporter traces in float32), so the graph holds exactly the simulated values. Writes
<name>.nir and <name>.npz (inputs (T, 1, ...), per layer index "<i>.spikes" and states) per model.
"""
from __future__ import annotations

import copy
from pathlib import Path

import nir
import numpy as np
import torch

HERE = Path(__file__).parent
T, N_IN, N_HID, N_OUT = 200, 12, 20, 5
torch.set_default_dtype(torch.float64)


def spikes(shape, seed, p=0.25):
    return (np.random.default_rng(seed).uniform(size=(T, 1, *shape)) < p).astype(np.float64)


def linear(n_in, n_out, gain, seed, bias=True):
    torch.manual_seed(seed)
    layer = torch.nn.Linear(n_in, n_out, bias=bias)
    with torch.no_grad():
        layer.weight.mul_(gain)
    return layer


def exportable(net):
    """`net` with every parameter rounded to float32 (the exporters trace in float32), and a float32 copy to
    trace; the float64 simulation then runs exactly the values the graph holds."""
    net.float().double()
    return copy.deepcopy(net).float()


def save(name, graph, x, record):
    nir.write(HERE / f"{name}.nir", graph)
    np.savez_compressed(HERE / f"{name}.npz", inputs=x, **{k: np.stack(v) for k, v in record.items()})
    print(name, {k: (np.stack(v).shape, float(np.stack(v).sum())) for k, v in record.items() if "spikes" in k})


# -- snnTorch -------------------------------------------------------------------------------------
def snntorch_models():
    import snntorch as snn
    from snntorch import utils
    from snntorch.export_nir import export_to_nir

    beta = lambda n, seed: torch.tensor(np.random.default_rng(seed).uniform(0.8, 0.95, n))
    alpha = lambda n, seed: torch.tensor(np.random.default_rng(seed).uniform(0.5, 0.8, n))
    thr = lambda n: torch.ones(n)
    # Inputs stay small enough that v after a subtraction is below threshold: where it is not,
    # snnTorch (reset_delay=False) subtracts again at the next step and undoes it unless that step
    # spikes, which no NIR graph expresses.
    # Spikes in the state's dtype (snnTorch's surrogate returns float32 even in float64); the forward
    # pass is snnTorch's own Heaviside (x > 0), the surrogate only shapes gradients.
    common = dict(init_hidden=True, reset_delay=False, spike_grad=lambda x: (x > 0).to(x.dtype))

    def make(name, net, x, layers, sample=None):
        traced = exportable(net)
        record = run(net, x, layers)
        sample = x[0, 0] if sample is None else sample
        save(name, export_to_nir(traced, torch.tensor(sample).float()), x, record)

    def run(net, x, layers):
        utils.reset(net)
        record = {f"{k}.spikes": [] for k in layers} | {f"{k}.{s}": [] for k, m in layers.items() for s in m[1]}
        with torch.no_grad():
            for t in range(T):
                h = torch.tensor(x[t])
                for index, module in enumerate(net):
                    h = module(h)
                    h = h[0] if isinstance(h, tuple) else h
                    if str(index) in layers:
                        record[f"{index}.spikes"].append(h.numpy().copy())
                for k, (module, states) in layers.items():
                    for s in states:
                        record[f"{k}.{s}"].append(getattr(module, s).numpy().copy())
        return record

    # feed-forward LIF, reset by subtraction
    l1 = snn.Leaky(beta=beta(N_HID, 1), threshold=thr(N_HID), reset_mechanism="subtract", **common)
    l2 = snn.Leaky(beta=beta(N_OUT, 2), threshold=thr(N_OUT), reset_mechanism="subtract", output=True, **common)
    net = torch.nn.Sequential(linear(N_IN, N_HID, 1.0, 1), l1, linear(N_HID, N_OUT, 2.0, 2), l2)
    x = spikes((N_IN,), 10)
    make("snntorch_lif", net, x, {"1": (l1, ["mem"]), "3": (l2, ["mem"])})

    # CubaLIF (Synaptic), reset to zero
    s1 = snn.Synaptic(alpha=alpha(N_HID, 3), beta=beta(N_HID, 4), threshold=thr(N_HID), reset_mechanism="zero", **common)
    s2 = snn.Synaptic(alpha=alpha(N_OUT, 5), beta=beta(N_OUT, 6), threshold=thr(N_OUT), reset_mechanism="zero",
                      output=True, **common)
    net = torch.nn.Sequential(linear(N_IN, N_HID, 1.0, 3), s1, linear(N_HID, N_OUT, 1.0, 4), s2)
    x = spikes((N_IN,), 11)
    make("snntorch_cubalif", net, x, {"1": (s1, ["syn", "mem"]), "3": (s2, ["syn", "mem"])})

    # recurrent LIF (RLeaky, all-to-all) into a LIF readout, reset by subtraction. (RSynaptic with
    # reset_delay=False raises a TypeError in snnTorch 1.0.0, so snnTorch gives no recurrent CubaLIF.)
    r1 = snn.RLeaky(beta=beta(N_HID, 7), threshold=thr(N_HID), linear_features=N_HID, reset_mechanism="subtract", **common)
    with torch.no_grad():
        torch.manual_seed(9)
        r1.recurrent.weight.copy_(torch.randn(N_HID, N_HID) * 0.1)
        r1.recurrent.bias.zero_()
    l2 = snn.Leaky(beta=beta(N_OUT, 9), threshold=thr(N_OUT), reset_mechanism="subtract", output=True, **common)
    net = torch.nn.Sequential(linear(N_IN, N_HID, 1.0, 5), r1, linear(N_HID, N_OUT, 1.5, 6), l2)
    x = spikes((N_IN,), 12)
    make("snntorch_rlif", net, x, {"1": (r1, ["mem"]), "3": (l2, ["mem"])})

    # conv: Conv2d -> Leaky -> AvgPool2d -> Flatten -> Linear -> Leaky
    torch.manual_seed(13)
    conv = torch.nn.Conv2d(1, 3, 3, padding=1)
    with torch.no_grad():
        conv.weight.mul_(1.0)
    c1 = snn.Leaky(beta=torch.full((3, 8, 8), 0.9), threshold=torch.ones(3, 8, 8), reset_mechanism="subtract", **common)
    l2 = snn.Leaky(beta=beta(N_OUT, 14), threshold=thr(N_OUT), reset_mechanism="subtract", output=True, **common)
    net = torch.nn.Sequential(conv, c1, torch.nn.AvgPool2d(2), torch.nn.Flatten(0), linear(48, N_OUT, 1.0, 7), l2)
    x = spikes((1, 8, 8), 13, p=0.3)
    # traced unbatched (nir's shape inference takes no batch axis); Flatten(0) is batch-1 only
    make("snntorch_conv", net, x, {"1": (c1, ["mem"]), "5": (l2, ["mem"])})


if __name__ == "__main__":
    snntorch_models()
