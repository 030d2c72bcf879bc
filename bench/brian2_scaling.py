"""The COBA network of brian2_coba.py with fixed in-degree, in Brian2's cpp_standalone device, for
the size sweep (run with a Python that has brian2; see bench/README.md).

Every neuron receives exactly 64 excitatory and 16 inhibitory presynaptic partners, drawn with
numpy (seeded) uniformly without replacement per postsynaptic neuron (autapses allowed), and
passed to Brian2 as explicit index arrays. The project is compiled without running; the compiled
binary then runs under a small helper so that os.wait4 reports the simulation process's own peak
RSS (not the compiler's, nor this interpreter's). Prints one JSON line:
n, synapses, steps, run_s (the simulation loop, Brian2's last_run_info.txt), us_per_step,
peak_rss_mb (MiB, ru_maxrss of ./main), build_s (code generation and compilation),
process_s (wall time of ./main: loading, synapse creation, loop, writing results), spikes.

    python bench/brian2_scaling.py --n 16000 --steps 1000 --build-dir /tmp/brian_scaling_16000
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
from brian2 import (Network, NeuronGroup, SpikeMonitor, Synapses, defaultclock, get_device, mV, ms, prefs, seed,
                    set_device)

K_EXC, K_INH = 64, 16  # presynaptic partners per neuron
CONSTANTS = {"taum": 20 * ms, "taue": 5 * ms, "taui": 10 * ms, "El": -60 * mV, "Vr": -60 * mV, "Vt": -50 * mV,
             "VT": -50.5 * mV, "DeltaT": 0.5 * mV, "Ee": 0 * mV, "Ei": -80 * mV, "I": 20 * mV}


def draw_presynaptic(rng: np.random.Generator, n_pre: int, n_post: int, k: int) -> np.ndarray:
    """(n_post, k) int32 presynaptic indices in [0, n_pre), distinct within each row.

    Rows are drawn with replacement; only rows with a repeated index are re-drawn, until none is.
    """
    if n_pre < k:
        raise ValueError(f"Cannot draw {k} distinct partners from {n_pre} neurons; use a larger --n.")
    pre = rng.integers(0, n_pre, size=(n_post, k), dtype=np.int32)
    redraw = np.arange(n_post)
    while redraw.size:
        rows = np.sort(pre[redraw], axis=1)
        redraw = redraw[(rows[:, 1:] == rows[:, :-1]).any(axis=1)]
        pre[redraw] = rng.integers(0, n_pre, size=(redraw.size, k), dtype=np.int32)
    return pre


def connect_fixed_in_degree(synapses: Synapses, rng: np.random.Generator, n_pre: int, n_post: int,
                            k: int) -> None:
    """Give every target neuron of `synapses` exactly k distinct sources, as explicit arrays."""
    pre = draw_presynaptic(rng, n_pre, n_post, k)
    post = np.repeat(np.arange(n_post, dtype=np.int32), k)
    synapses.connect(i=pre.ravel(), j=post)


def build_network(n: int, rng: np.random.Generator) -> tuple[Network, SpikeMonitor]:
    """The COBA network (exponential integrate-and-fire, conductances ge/gi, 80/20 E/I) and its
    spike counter, in an explicit Network (which keeps the synapses alive)."""
    eqs = """
    dv/dt = (ge*(Ee - v) + gi*(Ei - v) - (v - El) + DeltaT*exp((v - VT)/DeltaT) + I) / taum : volt (unless refractory)
    dge/dt = -ge/taue : 1
    dgi/dt = -gi/taui : 1
    """
    n_exc = n * 4 // 5
    P = NeuronGroup(n, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * ms, method="euler",
                    namespace=CONSTANTS)
    Ce = Synapses(P[:n_exc], P, on_pre="ge += 0.6")
    Ci = Synapses(P[n_exc:], P, on_pre="gi += 6.7")
    connect_fixed_in_degree(Ce, rng, n_exc, n, K_EXC)
    connect_fixed_in_degree(Ci, rng, n - n_exc, n, K_INH)
    P.v = "Vr + rand() * (Vt - Vr)"
    spikes = SpikeMonitor(P, record=False)
    return Network(P, Ce, Ci, spikes), spikes


# Linux keeps a process's peak RSS across exec, so a child of this (large) interpreter would report
# at least our own peak. A small helper interpreter forks ./main and reports its os.wait4 rusage:
# max(main's true peak, ~5 MiB of the helper's pages), exact above that.
SPAWN_AND_MEASURE = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(2, 1)  # main's output to stderr; our stdout carries only the measurement
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - start, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def run_binary(build_dir: str, results_dir: str) -> tuple[float, float]:
    """Run ./main in build_dir as CPPStandaloneDevice.run does, but as a grandchild (see
    SPAWN_AND_MEASURE); returns (its wall seconds, its peak RSS in MiB)."""
    helper = [sys.executable, "-I", "-S", "-c", SPAWN_AND_MEASURE, "./main", "--results_dir", results_dir]
    out = subprocess.run(helper, cwd=build_dir, stdout=subprocess.PIPE, text=True, check=True).stdout
    wall, maxrss_kib, code = out.split()
    if int(code):
        raise RuntimeError(f"{build_dir}/main exited with {code}")
    return float(wall), int(maxrss_kib) / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--build-dir", default="brian_scaling_build")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    set_device("cpp_standalone", directory=args.build_dir, build_on_run=False)
    device = get_device()  # the device itself, not brian2.device's proxy (which cannot be assigned to)
    prefs.devices.cpp_standalone.openmp_threads = args.threads if args.threads > 1 else 0  # 0: no OpenMP
    prefs.devices.cpp_standalone.extra_make_args_unix = ["-j", "-s"]  # silent make: stdout is the JSON line
    defaultclock.dt = 0.1 * ms
    seed(1)
    net, spikes = build_network(args.n, np.random.default_rng(1))
    net.run(args.steps * defaultclock.dt)
    start = time.perf_counter()
    device.build(directory=args.build_dir, compile=True, run=False, debug=False)
    build_s = time.perf_counter() - start
    process_s, peak_rss_mb = run_binary(args.build_dir, device.results_dir)
    device.has_been_run = True  # lets the monitor read its results from the build directory
    with open(os.path.join(device.results_dir, "last_run_info.txt")) as f:
        run_s = float(f.read().split()[0])
    print(json.dumps({"n": args.n, "synapses": args.n * (K_EXC + K_INH), "steps": args.steps, "run_s": run_s,
                      "us_per_step": round(run_s / args.steps * 1e6, 3), "peak_rss_mb": round(peak_rss_mb, 1),
                      "build_s": round(build_s, 2), "process_s": round(process_s, 3),
                      "spikes": int(spikes.num_spikes)}))


if __name__ == "__main__":
    main()
