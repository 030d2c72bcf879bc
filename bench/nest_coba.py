"""The COBA network of bench/brian2_coba.py in NEST 3.10 (run with a Python that has nest-simulator;
see bench/README.md). Prints one JSON line: simulated seconds, wall seconds of nest.Simulate
(network construction excluded), spike count.

    python bench/nest_coba.py --n 4000 --duration 1.0

The same model as the Brian2 script and aotsnn.workloads.coba_network: exponential integrate-and-
fire neurons with exponentially decaying conductances, in NEST's `aeif_cond_exp` without
adaptation (a = b = 0). Brian2's dimensionless conductances (in units of the leak conductance)
become nS with g_L = 1 nS, so C_m = tau_m * g_L = 20 pF and the drive I = 20 mV * g_L = 20 pA:

    C_m dV/dt = -g_L (V - E_L) + g_L Delta_T exp((V - V_T) / Delta_T) - g_e (V - E_e) - g_i (V - E_i) + I_e
    tau_e dg_e/dt = -g_e,  tau_i dg_i/dt = -g_i,  g_e += 0.6 nS / g_i += 6.7 nS per spike (delay dt)

spike at V > V_peak = -50 mV, reset to -60 mV, refractory 5 ms; 80/20 E/I, p = 0.02 (NEST takes a
negative weight as an inhibitory conductance increment). NEST
integrates the neuron with GSL's adaptive RKF45 (not forward Euler), so spike counts are close to,
not equal to, the other implementations': this row compares speed, not numbers.
"""
import argparse
import json
import time

import nest

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int, default=4000)
parser.add_argument("--duration", type=float, default=1.0, help="simulated seconds")
parser.add_argument("--threads", type=int, default=1)
args = parser.parse_args()

nest.set_verbosity("M_ERROR")
nest.ResetKernel()
nest.SetKernelStatus({"resolution": 0.1, "local_num_threads": args.threads, "rng_seed": 1})
params = {"C_m": 20.0, "g_L": 1.0, "E_L": -60.0, "V_th": -50.5, "Delta_T": 0.5, "V_peak": -50.0,
          "V_reset": -60.0, "t_ref": 5.0, "a": 0.0, "b": 0.0, "E_ex": 0.0, "E_in": -80.0,
          "tau_syn_ex": 5.0, "tau_syn_in": 10.0, "I_e": 20.0}
population = nest.Create("aeif_cond_exp", args.n, params=params)
population.V_m = nest.random.uniform(-60.0, -50.0)
n_exc = args.n * 4 // 5
connectivity = {"rule": "pairwise_bernoulli", "p": 0.02}
nest.Connect(population[:n_exc], population, connectivity, {"weight": 0.6, "delay": 0.1})
nest.Connect(population[n_exc:], population, connectivity, {"weight": -6.7, "delay": 0.1})   # < 0: g_i
recorder = nest.Create("spike_recorder")
nest.Connect(population, recorder)
start = time.perf_counter()
nest.Simulate(args.duration * 1000.0)
run_s = time.perf_counter() - start
print(json.dumps({"simulated_s": args.duration, "run_s": run_s, "spikes": int(recorder.n_events), "n": args.n}))
