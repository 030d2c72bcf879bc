"""Steps per second: the compiled artifact's run() versus JAX, on the demo network and a size sweep.

    python bench/run.py [--steps 5000] [--sizes 300,1000,3000] [--out bench/results]

For each network size (E/I demo network, 80/20 split, p_conn 0.1) it measures:
  artifact run        one session.run call over T steps (time loop in compiled C)
  jax.jit(lax.scan)   the same network, time loop in XLA, CPU
  artifact step loop  session.step from a Python loop
  jax.jit step loop   jax.jit(net.apply) from a Python loop
Each figure is the best of 3 repeats after a warm-up. Prints a table, saves results.json and a plot.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aotsnn.demo import build_ei_network, demo_inputs  # noqa: E402
from aotsnn.export import compile_network  # noqa: E402
from aotsnn.runtime import load  # noqa: E402


def best_of(fn, repeats: int = 3) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(n_total: int, steps: int, loop_steps: int, workdir: Path) -> dict:
    net = build_ei_network(n_exc=n_total * 4 // 5, n_inh=n_total // 5)
    start = time.perf_counter()
    path = compile_network(net, workdir / f"ei{n_total}.aot", use_cache=False)
    compile_s = time.perf_counter() - start
    manifest = json.loads((path / "manifest.json").read_text())
    session = load(path)
    inputs = {k: v.astype(np.float32) for k, v in demo_inputs(net, steps).items()}
    state0 = session.init_state()
    results = {"neurons": n_total, "compile_s": compile_s, "kernels": manifest["build"]["kernels"],
               "calls_per_step": manifest["build"]["kernel_calls_per_step"]}
    results["artifact_run"] = steps / best_of(lambda: session.run(state0, inputs))

    params = {k: jnp.asarray(v) for k, v in session.params.items()}
    jstate = {k: jnp.asarray(v) for k, v in state0.items()}
    jinputs = {k: jnp.asarray(v) for k, v in inputs.items()}
    scan = jax.jit(lambda p, s, x: net.run(s, x, p))
    results["jax_scan"] = steps / best_of(lambda: jax.block_until_ready(scan(params, jstate, jinputs)))

    short = {k: v[:loop_steps] for k, v in inputs.items()}

    def artifact_loop():
        state = state0
        for t in range(loop_steps):
            state, _ = session.step(state, {k: v[t] for k, v in short.items()})

    results["artifact_step_loop"] = loop_steps / best_of(artifact_loop)
    jstep = jax.jit(net.apply)
    jshort = {k: jnp.asarray(v) for k, v in short.items()}

    def jax_loop():
        state = jstate
        for t in range(loop_steps):
            state, _ = jstep(params, state, {k: v[t] for k, v in jshort.items()})
        jax.block_until_ready(state)

    results["jax_step_loop"] = loop_steps / best_of(jax_loop)
    return results


COLUMNS = ("artifact_run", "jax_scan", "artifact_step_loop", "jax_step_loop")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--loop-steps", type=int, default=500)
    parser.add_argument("--sizes", default="300,1000,3000")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in [int(s) for s in args.sizes.split(",")]:
            rows.append(measure(size, args.steps, args.loop_steps, Path(tmp)))
            r = rows[-1]
            print(f"measured N={size}: artifact {r['artifact_run']:,.0f} steps/s", flush=True)
    header = f"{'neurons':>8} {'compile s':>9} {'kernels':>7} " + " ".join(f"{c:>18}" for c in COLUMNS) + f" {'run/jax_scan':>12}"
    print(f"\nsteps/second on {platform.processor() or platform.machine()} ({args.steps} steps; loops {args.loop_steps})")
    print(header)
    for r in rows:
        print(f"{r['neurons']:>8} {r['compile_s']:>9.2f} {r['kernels']:>7} " +
              " ".join(f"{r[c]:>18,.0f}" for c in COLUMNS) + f" {r['artifact_run'] / r['jax_scan']:>12.2f}")
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(6, 4))
        for c in COLUMNS:
            ax.loglog([r["neurons"] for r in rows], [r[c] for r in rows], marker="o", label=c)
        ax.set_xlabel("neurons (E/I network, p_conn 0.1)")
        ax.set_ylabel("steps / second")
        ax.legend()
        ax.grid(True, which="both", alpha=0.3)
        fig.tight_layout()
        fig.savefig(out / "steps_per_second.png", dpi=120)
        print(f"plot: {out / 'steps_per_second.png'}")
    except ImportError:
        print("matplotlib not installed: no plot (pip install -e '.[bench]')")


if __name__ == "__main__":
    main()
