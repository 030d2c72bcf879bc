"""aotsnn benchmarks: one command, one table, plots.

    python bench/run.py [--quick] [--brian-python PATH] [--out bench/results]

Workloads (aotsnn.workloads):
  coba         COBA, 4000 neurons, 80/20 E/I, p = 0.02, conductance synapses, dt = 0.1 ms, its
               constant 20 pA drive a ConstantCurrent inside the network (also as an input array)
  feedforward  784-512-10 dense layers (current-based exponential synapses), 20 Hz Poisson input
  sweep        one recurrent population, N = 100 ... 10,000, p = 0.02, noisy drive (no kernel is
               large enough to be split across threads)
  driven       N = 16k ... 262k neurons, one input each, no synapses: the element-wise kernels that
               are split across threads (from 32,768 elements), every CPU vs 1 thread
  demo         the 300-neuron E/I demo network, also stepped from a Python loop (session.step,
               session.stepper().advance and jax.jit(net.apply)), to show what one compiled call
               over T steps saves and what the stateful fast path costs per step; onnxruntime
               running the artifact's step.onnx the same way; and batches of 1, 4 and 16 samples
               (steps x samples per second, one thread), as for the feed-forward network
Peers, same machine and run: jax.jit of the same network with the time loop in lax.scan (CPU),
and, for COBA, Brian2 cpp_standalone and NEST 3.10 (each in its own interpreter: --brian-python
or BRIAN2_PYTHON, --nest-python or NEST_PYTHON; see bench/README.md). Each figure is the best of 3 timed runs after a warm-up. For every aotsnn run
the table gives the bytes that must move per step (event-driven: the weight rows of the neurons
that spiked, plus state read and written once), the achieved bandwidth and its fraction of the
measured copy bandwidth. Results go to results.json and plots to *.png under --out.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aotsnn.export import compile_network  # noqa: E402
from aotsnn.export.kernels.sparse_matmul import MAX_SPARSE_DENSITY  # noqa: E402
from aotsnn.runtime import load  # noqa: E402
from aotsnn import workloads  # noqa: E402
from aotsnn.demo import build_ei_network, demo_inputs  # noqa: E402


def best_of(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def copy_bandwidth(nbytes: int = 1 << 28) -> float:
    """Bytes per second of a large numpy copy (read + write counted), best of 5."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    return 2 * nbytes / min(best_of(lambda: np.copyto(dst, src), 1) for _ in range(5))


def bytes_per_step(net, spikes_per_step: dict[str, float], sparse_threshold: float, state_bytes: int) -> float:
    """Weight bytes the event-driven kernels read per step (the rows of spiking inputs: value +
    index per synapse of a sparse or CSR row, the whole float32 row of a dense one) + state in
    and out."""
    total = 2.0 * state_bytes
    sources = {w.target.split(".")[0]: w.source for w in net.wires if w.target.endswith((".s", ".x"))}
    topology = net.topology()
    for comp, source in sources.items():
        synapse = net.components[comp]
        if len(getattr(synapse, "shape", ())) != 2:
            continue
        n_in, n_out = synapse.shape
        mask = topology.get(f"{comp}.mask")
        if getattr(synapse, "sparse", False):
            row = synapse.n_synapses / n_in * 8
        elif mask is not None and np.count_nonzero(mask) <= sparse_threshold * mask.size:
            row = np.count_nonzero(mask) / n_in * 8
        else:
            row = n_out * 4
        total += spikes_per_step.get(source, 0.0) * row
    return total


def run_aotsnn(net, state, inputs, workdir: Path, label: str, sparse_threshold: float | None = None,
               threads: tuple[int | None, ...] = (None,), steps: int | None = None) -> list[dict]:
    """Compile once; time run() once per entry of `threads` (None: the default, every CPU).
    `steps` is needed by a network without inputs (its drive is inside: COBA's ConstantCurrent)."""
    options = {} if sparse_threshold is None else {"sparse_threshold": sparse_threshold}
    start = time.perf_counter()
    path = compile_network(net, workdir / f"{label}.aot", use_cache=False, **options)
    compile_s = time.perf_counter() - start
    state = {k: v.astype(np.float32) for k, v in state.items()}
    inputs = {k: v.astype(np.float32) for k, v in inputs.items()}
    steps = next(iter(inputs.values())).shape[0] if inputs else steps
    threshold = MAX_SPARSE_DENSITY if sparse_threshold is None else sparse_threshold
    results = []
    for count in threads:
        session = load(path, threads=count)
        wall = best_of(lambda: session.run(state, inputs, steps=steps))
        _, out = session.run(state, inputs, steps=steps)
        spikes = {name: float(out[name].sum()) / steps for name in out}
        spikes.update({w.source: spikes.get(w.source, 0.0) for w in net.wires})
        spikes.update({k: float(v.sum()) / steps for k, v in inputs.items() if set(np.unique(v)) <= {0.0, 1.0}})
        moved = bytes_per_step(net, spikes, threshold, sum(v.nbytes for v in state.values()))
        results.append({"wall_s": wall, "compile_s": compile_s, "steps": steps, "bandwidth": moved * steps / wall,
                        "spikes": float(sum(out[k].sum() for k in out)), "outputs": out, "threads": session.threads})
    return results


def run_jax(net, state, inputs, steps: int | None = None) -> dict:
    params, jstate, jinputs = (net.cast(tree, jnp.float32) for tree in (net.params, state, inputs))
    steps = next(iter(inputs.values())).shape[0] if inputs else steps
    scan = jax.jit(lambda p, s, x: net.run(s, x, p, steps=steps))
    wall = best_of(lambda: jax.block_until_ready(scan(params, jstate, jinputs)))
    _, out = scan(params, jstate, jinputs)
    return {"wall_s": wall, "steps": steps, "spikes": float(sum(jnp.sum(v) for v in out.values())),
            "outputs": {k: np.asarray(v) for k, v in out.items()}}


def run_brian2(python: str, n: int, steps: int, workdir: Path) -> dict | str:
    script = Path(__file__).parent / "brian2_coba.py"
    result = subprocess.run([python, str(script), "--n", str(n), "--duration", str(steps * 1e-4),
                             "--build-dir", str(workdir / "brian")], capture_output=True, text=True)
    if result.returncode != 0:
        return f"Brian2 failed: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}"
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return {"wall_s": data["run_s"], "steps": steps, "spikes": float(data["spikes"])}


def run_nest(python: str, n: int, steps: int) -> dict | str:
    script = Path(__file__).parent / "nest_coba.py"
    result = subprocess.run([python, str(script), "--n", str(n), "--duration", str(steps * 1e-4)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return f"NEST failed: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}"
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return {"wall_s": data["run_s"], "steps": steps, "spikes": float(data["spikes"])}


def onnx_loop(path: Path, state, inputs, steps: int) -> dict:
    """Steps/s of onnxruntime running the artifact's step.onnx from a Python loop (one session)."""
    import onnxruntime

    session = load(path)
    ort = onnxruntime.InferenceSession(str(path / "step.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in ort.get_inputs()]
    params = {k: v.astype(np.float32) for k, v in session.params.items()}
    per_step = [{k: v[t].astype(np.float32) for k, v in inputs.items()} for t in range(steps)]
    state_names = [n for n, _ in session.layout["state"]]

    def loop():
        current = {k: v.astype(np.float32) for k, v in state.items()}
        for x in per_step:
            feed = {**params, **current, **x}
            results = ort.run(None, {name: feed[name] for name in names})
            current = dict(zip(state_names, results[:len(state_names)]))

    return {"wall_s": best_of(loop), "steps": steps, "spikes": float("nan")}


def batch_rows(build, make_inputs, workdir: Path, label: str, steps: int) -> list[tuple[int, dict]]:
    """(batch, result) of `build(batch=b)` at batch 1, 4 and 16, one thread; steps counts
    steps x samples."""
    rows = []
    for batch in (1, 4, 16):
        net = build(batch=batch)
        result = run_aotsnn(net, net.init_state(), make_inputs(net, steps), workdir, f"{label}_b{batch}",
                            threads=(1,))[0]
        rows.append((batch, {**result, "steps": result["steps"] * batch}))
    return rows


def step_loops(net, state, inputs, workdir: Path, steps: int) -> tuple[dict, dict, dict]:
    """Steps/s of session.step, of a Stepper's advance (the stateful fast path: the same input
    buffers refilled every step) and of jax.jit(net.apply), each called from a Python loop."""
    session = load(compile_network(net, workdir / "loop.aot"))
    state32 = {k: v.astype(np.float32) for k, v in state.items()}
    per_step = [{k: v[t].astype(np.float32) for k, v in inputs.items()} for t in range(steps)]

    def artifact_loop():
        current = state32
        for x in per_step:
            current, _ = session.step(current, x)

    live = session.stepper(state32)
    buffers = {k: np.empty_like(v) for k, v in per_step[0].items()}

    def advance_loop():
        for x in per_step:
            for k, buffer in buffers.items():
                buffer[...] = x[k]
            live.advance(buffers)

    apply = jax.jit(net.apply)
    params = {k: jnp.asarray(v, jnp.float32) for k, v in net.params.items()}
    jax_steps = [{k: jnp.asarray(v) for k, v in x.items()} for x in per_step]

    def jax_loop():
        current = {k: jnp.asarray(v) for k, v in state32.items()}
        for x in jax_steps:
            current, _ = apply(current, x, params)
        jax.block_until_ready(current)

    timed = lambda loop: {"wall_s": best_of(loop), "steps": steps, "spikes": float("nan")}  # noqa: E731
    return timed(artifact_loop), timed(advance_loop), timed(jax_loop)


def identical(a: dict, b: dict) -> bool:
    """Spike trains equal over the steps both runs made."""
    steps = min(a["steps"], b["steps"])
    return all(np.array_equal(a["outputs"][k][:steps], b["outputs"][k][:steps]) for k in a["outputs"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and sizes (a smoke run)")
    parser.add_argument("--brian-python", default=os.environ.get("BRIAN2_PYTHON"))
    parser.add_argument("--nest-python", default=os.environ.get("NEST_PYTHON"))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    steps = 500 if args.quick else 2000
    sizes = (100, 1000) if args.quick else (100, 300, 1000, 3000, 10000)
    threads_sizes, thread_steps = ((65536,), 100) if args.quick else ((16384, 65536, 262144), 300)
    copy_bw = copy_bandwidth()
    rows: list[dict] = []

    def add(workload: str, label: str, result: dict | str, jax_row: dict | None = None, brian_row=None):
        if isinstance(result, str):
            print(f"{workload}/{label}: {result}")
            return
        sim_s = result["steps"] * 1e-4
        row = {"workload": workload, "runner": label, "sim_per_wall": sim_s / result["wall_s"],
               "steps_per_s": result["steps"] / result["wall_s"], "spikes": result["spikes"],
               "compile_s": result.get("compile_s"), "bandwidth": result.get("bandwidth")}
        if jax_row is not None and "outputs" in result:
            row["identical_to_jax"] = identical(result, jax_row)
        row["vs_jax"] = row["steps_per_s"] / (jax_row["steps"] / jax_row["wall_s"]) if jax_row else None
        row["vs_brian2"] = (row["steps_per_s"] / (brian_row["steps"] / brian_row["wall_s"])
                            if isinstance(brian_row, dict) else None)
        rows.append(row)
        print(f"  {workload:<14} {label:<26} {row['steps_per_s']:>12,.0f} steps/s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print("COBA ...", flush=True)
        net = workloads.coba_network(4000, drive="dc")
        state = workloads.coba_initial_state(net)
        jax_row = run_jax(net, state, {}, steps)
        brian = run_brian2(args.brian_python, 4000, steps, tmp) if args.brian_python else \
            "no Brian2 interpreter (--brian-python or BRIAN2_PYTHON): row skipped"
        add("coba", "aotsnn (auto: CSR)", run_aotsnn(net, state, {}, tmp, "coba", steps=steps)[0], jax_row, brian)
        add("coba", "aotsnn (dense event)", run_aotsnn(net, state, {}, tmp, "coba_dense", 0.0, steps=steps)[0],
            jax_row, brian)
        fed = workloads.coba_network(4000, drive="current")
        add("coba", "aotsnn (drive as input)", run_aotsnn(fed, workloads.coba_initial_state(fed),
                                                          workloads.coba_inputs(fed, steps), tmp, "coba_fed")[0],
            jax_row, brian)
        add("coba", "jax.jit(lax.scan)", jax_row, jax_row, brian)
        add("coba", "Brian2 cpp_standalone", brian, jax_row, brian)
        nest = run_nest(args.nest_python, 4000, steps) if args.nest_python else \
            "no NEST interpreter (--nest-python or NEST_PYTHON): row skipped"
        add("coba", "NEST 3.10 aeif_cond_exp", nest, jax_row, brian)

        print("feed-forward 784-512-10 ...", flush=True)
        net = workloads.feedforward_network()
        state, inputs = net.init_state(), workloads.poisson_inputs(net, steps)
        jax_row = run_jax(net, state, inputs)
        add("feedforward", "aotsnn", run_aotsnn(net, state, inputs, tmp, "ff")[0], jax_row)
        add("feedforward", "jax.jit(lax.scan)", jax_row, jax_row)

        print("demo network ...", flush=True)
        net = build_ei_network()
        state, inputs = net.init_state(), demo_inputs(net, steps)
        jax_row = run_jax(net, state, inputs)
        add("demo E/I 300", "aotsnn run()", run_aotsnn(net, state, inputs, tmp, "demo")[0], jax_row)
        add("demo E/I 300", "jax.jit(lax.scan)", jax_row, jax_row)
        artifact_loop, advance_loop, jax_loop = step_loops(net, state, inputs, tmp, min(steps, 500))
        add("demo E/I 300", "aotsnn step() in a loop", artifact_loop, jax_row)
        add("demo E/I 300", "aotsnn stepper().advance() in a loop", advance_loop, jax_row)
        add("demo E/I 300", "jax.jit(step) in a loop", jax_loop, jax_row)
        add("demo E/I 300", "onnxruntime step.onnx in a loop",
            onnx_loop(tmp / "demo.aot", state, inputs, min(steps, 500)), jax_row)
        for batch, result in batch_rows(build_ei_network, demo_inputs, tmp, "demo", steps):
            add(f"demo batch {batch}", "aotsnn run() (steps x samples)", result)
        for batch, result in batch_rows(workloads.feedforward_network, workloads.poisson_inputs, tmp, "ff", steps):
            add(f"ff batch {batch}", "aotsnn run() (steps x samples)", result)

        print("size sweep ...", flush=True)
        for n in sizes:
            net = workloads.recurrent_population(n)
            state, inputs = net.init_state(), workloads.noisy_drive(net, steps)
            # the dense JAX step reads n^2 weights per step: fewer steps at large n keep the run short
            jax_steps = steps if n <= 3000 else min(steps, 200)
            jax_row = run_jax(net, state, {k: v[:jax_steps] for k, v in inputs.items()})
            add(f"sweep N={n}", "aotsnn", run_aotsnn(net, state, inputs, tmp, f"sweep{n}")[0], jax_row)
            add(f"sweep N={n}", "jax.jit(lax.scan)", jax_row, jax_row)

        print("threads ...", flush=True)
        for n in threads_sizes:
            net = workloads.driven_population(n)
            state, inputs = net.init_state(), workloads.noisy_drive(net, thread_steps, mean=25.0, std=10.0)
            jax_row = run_jax(net, state, inputs)
            # interleaved, best of two sessions each: the first session of a process runs slower
            runs = run_aotsnn(net, state, inputs, tmp, f"driven{n}", threads=(1, None, 1, None))
            one, every = (min(runs[i::2], key=lambda r: r["wall_s"]) for i in (0, 1))
            add(f"driven N={n}", f"aotsnn, {every['threads']} threads", every, jax_row)
            add(f"driven N={n}", "aotsnn, 1 thread", one, jax_row)
            add(f"driven N={n}", "jax.jit(lax.scan)", jax_row, jax_row)

    print(f"\n{platform.machine()}, {os.cpu_count()} cores, copy bandwidth {copy_bw / 1e9:.1f} GB/s, {steps} steps "
          f"of 0.1 ms")
    print(f"{'workload':<14} {'runner':<26} {'steps/s':>10} {'sim s/wall s':>12} {'vs jax':>7} {'vs brian2':>9} "
          f"{'spikes':>8} {'== jax':>6} {'GB/s':>6} {'of copy':>7} {'compile s':>9}")
    for r in rows:
        bw = r["bandwidth"]
        fmt = lambda x, spec: "-" if x is None else format(x, spec)
        print(f"{r['workload']:<14} {r['runner']:<26} {r['steps_per_s']:>10,.0f} {r['sim_per_wall']:>12.3f} "
              f"{fmt(r['vs_jax'], '.2f'):>7} {fmt(r['vs_brian2'], '.2f'):>9} {r['spikes']:>8.0f} "
              f"{'-' if 'identical_to_jax' not in r else ('yes' if r['identical_to_jax'] else 'no'):>6} "
              f"{fmt(None if bw is None else bw / 1e9, '.2f'):>6} {fmt(None if bw is None else bw / copy_bw, '.1%'):>7} "
              f"{fmt(r['compile_s'], '.1f'):>9}")
    (out / "results.json").write_text(json.dumps({"copy_bandwidth": copy_bw, "steps": steps, "rows": rows}, indent=2))
    plot(rows, out)


def plot(rows: list[dict], out: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot (pip install -e '.[bench]')")
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for runner in dict.fromkeys(r["runner"] for r in rows if r["workload"].startswith("sweep")):
        sweep = [r for r in rows if r["workload"].startswith("sweep") and r["runner"] == runner]
        ax.loglog([int(r["workload"].split("=")[1]) for r in sweep], [r["steps_per_s"] for r in sweep],
                  marker="o", label=runner)
    ax.set_xlabel("neurons (one recurrent population, p = 0.02)")
    ax.set_ylabel("steps / second")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "sweep.png", dpi=120)
    print(f"plot: {out / 'sweep.png'}")


if __name__ == "__main__":
    main()
