"""Scaling of sparse COBA (fixed in-degree 80) from 1,000 to 1,000,000 neurons, next to Brian2.

    python bench/scaling.py [--sizes 1000,4000,16000,100000,1000000] [--steps 1000]
                            [--verify-steps 50] [--brian-python /tmp/brian/bin/python]

For each N, each phase runs in its own process, so its peak RSS is its own:

    compile  coba_network(N, in_degree=80) built and compiled for host: build and compile seconds,
             artifact bytes, peak RSS (the compiler's)
    run      aotsnn.runtime only (numpy + tvm_ffi, as on a device): load seconds, then `steps`
             steps with the 20 pA drive streamed in chunks and spike counts recorded (so memory is
             the network's, not the recording's): microseconds per step (best of 2), synapses/s
             (synapses x steps / second), peak RSS, bytes of RSS per synapse
    verify   the artifact against the sparse JAX float64 reference over `verify_steps` steps
             (aotsnn.verify.compare: one step from every artifact state, spike trains of the free
             run): pass/fail and seconds
    brian2   bench/brian2_scaling.py (cpp_standalone, the same model and in-degree) in the given
             interpreter: microseconds per step and peak RSS of the simulation process

Prints a table, saves bench/results/scaling.json and scaling.png (time and memory against N).
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

ROOT = Path(__file__).resolve().parent.parent
IN_DEGREE = 80


def child_compile(n: int, workdir: Path) -> dict:
    from aotsnn.export import compile_network
    from aotsnn.workloads import coba_network

    start = time.perf_counter()
    net = coba_network(n, in_degree=IN_DEGREE)
    built = time.perf_counter()
    path = compile_network(net, workdir / f"coba_{n}.aot", use_cache=False)
    done = time.perf_counter()
    synapses = sum(comp.n_synapses for comp in net.components.values() if getattr(comp, "sparse", False))
    return {"build_s": built - start, "compile_s": done - built, "synapses": synapses,
            "artifact_bytes": sum(f.stat().st_size for f in Path(path).iterdir())}


def spread_potentials(state: dict, seed: int = 1) -> dict:
    """COBA's initial V, uniform between reset and threshold (aotsnn.workloads.coba_initial_state,
    restated here with numpy so that this process imports only the runtime)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for pop in ("exc", "inh"):
        leaf = state[f"{pop}.v_rel"]
        state[f"{pop}.v_rel"] = rng.uniform(0.0, 10.0, size=leaf.shape).astype(leaf.dtype)
        state[f"{pop}.prev_v"] = (state[f"{pop}.v_rel"] - 60.0).astype(leaf.dtype)
    return state


def child_run(n: int, workdir: Path, steps: int) -> dict:
    import numpy as np

    from aotsnn.runtime import load

    start = time.perf_counter()
    session = load(workdir / f"coba_{n}.aot")
    loaded = time.perf_counter()
    state = spread_potentials(session.init_state())
    chunk = min(steps, 100)
    drive = {name: np.full((chunk, *shape), 20.0, session.dtype) for name, shape in session.layout["inputs"]}
    inputs = lambda first, count: {k: v[:count] for k, v in drive.items()}
    times, spikes = [], 0
    for _ in range(2):
        begin = time.perf_counter()
        _, recorded = session.run(state, inputs, steps=steps, record=["exc.spikes:count", "inh.spikes:count"],
                                  chunk=chunk)
        times.append(time.perf_counter() - begin)
        spikes = int(sum(v.sum() for v in recorded.values()))
    return {"load_s": loaded - start, "us_per_step": min(times) / steps * 1e6, "spikes": spikes,
            "jax_imported": "jax" in sys.modules}


def child_verify(n: int, workdir: Path, steps: int) -> dict:
    import numpy as np

    from aotsnn.runtime import load
    from aotsnn.verify.report import compare
    from aotsnn.workloads import coba_initial_state, coba_inputs, coba_network

    start = time.perf_counter()
    net = coba_network(n, in_degree=IN_DEGREE)
    session = load(workdir / f"coba_{n}.aot")
    state = {k: np.asarray(v, session.leaf_dtype("state", k)) for k, v in coba_initial_state(net).items()}
    report = compare(session, net, coba_inputs(net, steps), state=state)
    return {"verified": bool(report.passed), "verify_s": time.perf_counter() - start}


def in_child(args: list[str]) -> tuple[dict, float]:
    """(the child's JSON line, its peak RSS in MB)."""
    process = subprocess.Popen([sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"{' '.join(args)} failed (status {status}); output: {out[-2000:]}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def brian2(python: str, n: int, steps: int, workdir: Path) -> dict | str:
    done = subprocess.run([python, str(ROOT / "bench" / "brian2_scaling.py"), "--n", str(n), "--steps", str(steps),
                           "--build-dir", str(workdir / f"brian_{n}")], capture_output=True, text=True)
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(n: int, args, workdir: Path) -> dict:
    row: dict = {"n": n}
    compiled, row["compile_rss_mb"] = in_child(["compile", str(n), str(workdir)])
    row.update(compiled)
    ran, row["run_rss_mb"] = in_child(["run", str(n), str(workdir), str(args.steps)])
    row.update(ran)
    row["synapses_per_s"] = row["synapses"] / (row["us_per_step"] * 1e-6)
    row["run_bytes_per_synapse"] = row["run_rss_mb"] * 2 ** 20 / row["synapses"]
    if args.verify_steps:
        verified, row["verify_rss_mb"] = in_child(["verify", str(n), str(workdir), str(args.verify_steps)])
        row.update(verified)
    if args.brian_python:
        row["brian2"] = brian2(args.brian_python, n, args.steps, workdir)
    return row


def table(rows: list[dict]) -> str:
    head = ("N", "synapses", "µs/step", "synapses/s", "run RSS MB", "B/syn", "artifact MB", "compile s", "load s",
            "verified", "Brian2 µs/step", "Brian2 RSS MB", "Brian2 B/syn", "speed vs Brian2")
    lines = [" | ".join(head), " | ".join("---:" for _ in head)]
    for r in rows:
        b = r.get("brian2") if isinstance(r.get("brian2"), dict) else None
        cells = [f"{r['n']:,}", f"{r['synapses']:,}", f"{r['us_per_step']:.1f}", f"{r['synapses_per_s']:.2e}",
                 f"{r['run_rss_mb']:.0f}", f"{r['run_bytes_per_synapse']:.1f}", f"{r['artifact_bytes'] / 2 ** 20:.1f}",
                 f"{r['compile_s']:.1f}", f"{r['load_s']:.2f}", str(r.get("verified", "-")),
                 f"{b['us_per_step']:.1f}" if b else str(r.get("brian2", "-")), f"{b['peak_rss_mb']:.0f}" if b else "-",
                 f"{b['peak_rss_mb'] * 2 ** 20 / b['synapses']:.1f}" if b else "-",
                 f"{b['us_per_step'] / r['us_per_step']:.2f}x" if b else "-"]
        lines.append(" | ".join(cells))
    return "\n".join(lines)


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = [r["n"] for r in rows]
    brian = [(r["n"], r["brian2"]) for r in rows if isinstance(r.get("brian2"), dict)]
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(10, 4))
    speed.loglog(n, [r["us_per_step"] for r in rows], "o-", label="aotsnn (host)")
    memory.loglog(n, [r["run_rss_mb"] for r in rows], "o-", label="aotsnn run (runtime only)")
    if brian:
        speed.loglog([b[0] for b in brian], [b[1]["us_per_step"] for b in brian], "s--", label="Brian2 cpp_standalone")
        memory.loglog([b[0] for b in brian], [b[1]["peak_rss_mb"] for b in brian], "s--", label="Brian2 simulation")
    speed.set(xlabel="neurons N (in-degree 80)", ylabel="µs per step (dt = 0.1 ms)", title="time per step")
    memory.set(xlabel="neurons N (in-degree 80)", ylabel="peak RSS [MB]", title="memory")
    for ax in (speed, memory):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,4000,16000,100000,1000000")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--verify-steps", type=int, default=50, help="0: skip the comparison with JAX")
    parser.add_argument("--brian-python", default=os.environ.get("BRIAN2_PYTHON"))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        phase, n, workdir, *rest = args.child
        run = {"compile": child_compile, "run": child_run, "verify": child_verify}[phase]
        print(json.dumps(run(int(n), Path(workdir), *(int(x) for x in rest))))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="aotsnn-scaling-") as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            rows.append(measure(n, args, Path(tmp)))
            print(json.dumps(rows[-1]), flush=True)
    (args.out / "scaling.json").write_text(json.dumps(rows, indent=1))
    print(table(rows))
    plot(rows, args.out / "scaling.png")
    print(f"saved {args.out / 'scaling.json'} and {args.out / 'scaling.png'}")


if __name__ == "__main__":
    main()
