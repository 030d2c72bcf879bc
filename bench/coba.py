"""COBA benchmark: aotsnn (dense and sparse kernels) vs jax.jit(lax.scan) vs Brian2 cpp_standalone.

    python bench/coba.py [--n 4000] [--steps 2000] [--brian-python PATH]

Brian2 runs in its own interpreter (it needs Python >= 3.12 with NumPy 2; see bench/README.md):
pass --brian-python or set BRIAN2_PYTHON; without one that row is skipped and the reason printed.
Reports simulated seconds per wall second, ratios to each peer, and for each aotsnn variant the
bytes that must move per step (event-driven: the weight rows of the neurons that spiked, plus the
state read and written once), achieved bandwidth, and its fraction of this machine's copy bandwidth.
"""
from __future__ import annotations

import argparse
import json
import os
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
from aotsnn.runtime import load  # noqa: E402
from aotsnn.workloads import coba_initial_state, coba_inputs, coba_network  # noqa: E402


def copy_bandwidth(nbytes: int = 1 << 28) -> float:
    """Bytes per second of a large numpy copy (read + write counted), best of 5."""
    src = np.ones(nbytes // 8)
    dst = np.empty_like(src)
    best = min(_timed(lambda: np.copyto(dst, src)) for _ in range(5))
    return 2 * nbytes / best


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bytes_per_step(net, spikes_per_step: dict[str, float], sparse: bool, state_bytes: int) -> float:
    """Weight bytes the event-driven kernels must read per step, plus state read and written once."""
    total = 2.0 * state_bytes
    for name, comp in net.components.items():
        if not hasattr(comp, "shape"):
            continue
        pre = {"e": "exc", "i": "inh"}[name[0]]
        mask = net.params[f"{name}.mask"]
        row = (np.count_nonzero(mask) / mask.shape[0]) * 8 if sparse else mask.shape[1] * 4
        total += spikes_per_step[pre] * row
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--brian-python", default=os.environ.get("BRIAN2_PYTHON"))
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    net = coba_network(args.n)
    state0 = coba_initial_state(net)
    inputs = {k: v.astype(np.float32) for k, v in coba_inputs(net, args.steps).items()}
    simulated = args.steps * net.dt / 1000.0
    rows = {}
    copy_bw = copy_bandwidth()
    with tempfile.TemporaryDirectory() as tmp:
        for label, threshold in (("aotsnn sparse (CSR)", 1.0), ("aotsnn dense event-driven", 0.0)):
            start = time.perf_counter()
            session = load(compile_network(net, Path(tmp) / f"{threshold}.aot", sparse_threshold=threshold, use_cache=False))
            compile_s = time.perf_counter() - start
            state = {k: v.astype(np.float32) for k, v in state0.items()}
            session.run(state, {k: v[:10] for k, v in inputs.items()})
            wall = _timed(lambda: session.run(state, inputs))
            _, out = session.run(state, inputs)
            spikes = {pop: float(out[f"{pop}.spikes"].sum()) / args.steps for pop in ("exc", "inh")}
            state_bytes = sum(v.nbytes for v in state.values())
            moved = bytes_per_step(net, spikes, threshold > 0, state_bytes) * args.steps / wall
            rows[label] = {"wall_s": wall, "compile_s": compile_s, "spikes": sum(spikes.values()) * args.steps,
                           "bandwidth": moved}
        params = {k: jnp.asarray(v, jnp.float32) for k, v in net.params.items()}
        jstate = {k: jnp.asarray(v, jnp.float32) for k, v in state0.items()}
        jinputs = {k: jnp.asarray(v) for k, v in inputs.items()}
        scan = jax.jit(lambda p, s, x: net.run(s, x, p))
        jax.block_until_ready(scan(params, jstate, {k: v[:args.steps] for k, v in jinputs.items()}))
        wall = _timed(lambda: jax.block_until_ready(scan(params, jstate, jinputs)))
        _, jout = scan(params, jstate, jinputs)
        rows["jax.jit(lax.scan)"] = {"wall_s": wall, "spikes": float(sum(jnp.sum(v) for v in jout.values()))}
        if args.brian_python:
            result = subprocess.run([args.brian_python, str(Path(__file__).parent / "brian2_coba.py"), "--n", str(args.n),
                                     "--duration", str(simulated), "--build-dir", str(Path(tmp) / "brian")],
                                    capture_output=True, text=True)
            if result.returncode == 0:
                b = json.loads(result.stdout.strip().splitlines()[-1])
                rows["Brian2 cpp_standalone"] = {"wall_s": b["run_s"], "spikes": b["spikes"]}
            else:
                print(f"Brian2 failed: {result.stderr[-2000:]}")
        else:
            print("Brian2: no interpreter given (--brian-python or BRIAN2_PYTHON); row skipped.")
    print(f"\nCOBA, {args.n} neurons, {args.steps} steps = {simulated:g} s simulated; copy bandwidth "
          f"{copy_bw / 1e9:.1f} GB/s")
    print(f"{'':28} {'sim s / wall s':>15} {'spikes':>9} {'rate Hz':>8} {'vs jax':>7} {'vs brian2':>9} {'GB/s':>6} {'of copy':>8}")
    for label, r in rows.items():
        speed = simulated / r["wall_s"]
        ratio = lambda peer: f"{speed / (simulated / rows[peer]['wall_s']):.2f}" if peer in rows else "-"
        bw = r.get("bandwidth")
        print(f"{label:28} {speed:>15.3f} {r['spikes']:>9.0f} {r['spikes'] / args.n / simulated:>8.1f} "
              f"{ratio('jax.jit(lax.scan)'):>7} {ratio('Brian2 cpp_standalone'):>9} "
              f"{'-' if bw is None else f'{bw / 1e9:.2f}':>6} {'-' if bw is None else f'{bw / copy_bw:.1%}':>8}")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "coba.json").write_text(json.dumps({"rows": rows, "copy_bandwidth": copy_bw}, indent=2))


if __name__ == "__main__":
    main()
