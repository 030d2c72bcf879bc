"""The COBA network of aotsnn.workloads in Brian2's cpp_standalone device (run with a Python that
has brian2; see bench/README.md). Prints one JSON line: simulated seconds, wall seconds of the
simulation loop (device._last_run_time, compilation excluded), spike counts.

    python bench/brian2_coba.py --n 4000 --duration 1.0 --build-dir /tmp/brian_coba
"""
import argparse
import json
import time

from brian2 import (NeuronGroup, SpikeMonitor, Synapses, defaultclock, device, mV, ms, prefs, run, seed,
                    set_device)

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int, default=4000)
parser.add_argument("--duration", type=float, default=1.0, help="simulated seconds")
parser.add_argument("--build-dir", default="brian_coba_build")
parser.add_argument("--threads", type=int, default=1)
args = parser.parse_args()

set_device("cpp_standalone", directory=args.build_dir, build_on_run=False)
prefs.devices.cpp_standalone.openmp_threads = args.threads
defaultclock.dt = 0.1 * ms
seed(1)
taum, taue, taui = 20 * ms, 5 * ms, 10 * ms
El, Vr, Vt, VT, DeltaT = -60 * mV, -60 * mV, -50 * mV, -50.5 * mV, 0.5 * mV
Ee, Ei, I = 0 * mV, -80 * mV, 20 * mV
eqs = """
dv/dt = (ge*(Ee - v) + gi*(Ei - v) - (v - El) + DeltaT*exp((v - VT)/DeltaT) + I) / taum : volt (unless refractory)
dge/dt = -ge/taue : 1
dgi/dt = -gi/taui : 1
"""
n_exc = args.n * 4 // 5
P = NeuronGroup(args.n, eqs, threshold="v > Vt", reset="v = Vr", refractory=5 * ms, method="euler")
Ce = Synapses(P[:n_exc], P, on_pre="ge += 0.6")
Ci = Synapses(P[n_exc:], P, on_pre="gi += 6.7")
Ce.connect(p=0.02)
Ci.connect(p=0.02)
P.v = "Vr + rand() * (Vt - Vr)"
spikes = SpikeMonitor(P, record=False)
run(args.duration * 1000 * ms)
start = time.perf_counter()
device.build(directory=args.build_dir, compile=True, run=True, debug=False)
total = time.perf_counter() - start
print(json.dumps({"simulated_s": args.duration, "run_s": device._last_run_time, "build_and_run_s": total,
                  "spikes": int(spikes.num_spikes), "n": args.n}))
