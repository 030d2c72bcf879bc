"""Sweep throughput: runs per second of one artifact over a parameter grid.

    python bench/sweep.py [--runs 32] [--steps 2000] [--out bench/results]

Rows, same machine and run, each the best of 3 (the LocalCluster is started once per worker
count and timed separately; a sweep writes every run's result file as a real one does):
  loop         Session.run one run after another in this process (inputs made per run)
  dask w=N     aotsnn.sweep.run_sweep on a LocalCluster of N worker processes
  batch B      the same, with the network compiled for batch B: B seeds per call
for the 300-neuron demo network (~1 ms of simulation per 1000 steps) and the same network with
10x the steps per run, to show where per-task overhead stops mattering. Prints a table, writes
sweep.json and sweep_throughput.png under --out.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dask.distributed import Client, LocalCluster  # noqa: E402

from aotsnn.demo import build_ei_network  # noqa: E402
from aotsnn.export import compile_network  # noqa: E402
from aotsnn.runtime import load  # noqa: E402
from aotsnn.sweep import make_plan, run_sweep  # noqa: E402
from aotsnn.sweep.inputs import make_inputs  # noqa: E402


def plan_for(runs: int, steps: int):
    taus = list(np.linspace(4.0, 8.0, max(runs // 4, 1)))
    return make_plan(steps=steps, grid={"exc.potential_tau": [float(t) for t in taus]}, seeds=4,
                     monitors={"exc.spikes": "sum"})


def loop(path: Path, plan) -> float:
    """Seconds for every run of `plan`, one after another with Session.run."""
    session = load(path, threads=1)
    defaults = session.params
    layout = [(n, s[1:]) for n, s in session.layout["inputs"]]
    start = time.perf_counter()
    for run in plan.runs:
        session.set_params(**{**defaults, **run.params})
        inputs = {k: v.astype(np.float32) for k, v in make_inputs(plan.inputs, layout, plan.steps, run.seed).items()}
        session.run(session.init_state(), inputs)
    return time.perf_counter() - start


def swept(path: Path, plan, client) -> float:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        run_sweep(path, plan, out, client=client, progress=False)
        return time.perf_counter() - start


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--runs", type=int, default=32)
    cli.add_argument("--steps", type=int, default=2000)
    cli.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = cli.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="aotsnn-bench-sweep-"))
    artifacts = {b: compile_network(build_ei_network(batch=b), root / f"ei_b{b}.aot") for b in (1, 4)}
    rows = []
    for steps in (args.steps, args.steps * 10):
        plan = plan_for(args.runs, steps)
        best = lambda f: min(f() for _ in range(3))               # noqa: E731
        rows.append({"case": "loop", "steps": steps, "seconds": best(lambda: loop(artifacts[1], plan))})
        for workers in sorted({1, min(2, os.cpu_count() or 1)}):
            started = time.perf_counter()
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                              dashboard_address=":0") as cluster, Client(cluster) as client:
                startup = time.perf_counter() - started
                for batch, path in artifacts.items():
                    rows.append({"case": f"dask w={workers}" + (f" batch {batch}" if batch > 1 else ""),
                                 "steps": steps, "startup_s": startup,
                                 "seconds": best(lambda: swept(path, plan, client))})
        for row in rows[-(1 + 2 * len({1, min(2, os.cpu_count() or 1)})):]:
            row["runs"] = len(plan.runs)
            row["runs_per_s"] = len(plan.runs) / row["seconds"]
    base = {r["steps"]: r["runs_per_s"] for r in rows if r["case"] == "loop"}
    print(f"{'case':<22} {'steps':>7} {'runs':>5} {'runs/s':>9} {'vs loop':>8} {'cluster start':>14}")
    for r in rows:
        start = f"{r['startup_s']:.2f} s" if "startup_s" in r else "-"
        print(f"{r['case']:<22} {r['steps']:>7} {r['runs']:>5} {r['runs_per_s']:>9.1f} "
              f"{r['runs_per_s'] / base[r['steps']]:>7.2f}x {start:>14}")
    (out / "sweep.json").write_text(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=1))
    plot(rows, out / "sweep_throughput.png")


def plot(rows, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = sorted({r["steps"] for r in rows})
    cases = list(dict.fromkeys(r["case"] for r in rows))
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    width = 0.8 / len(cases)
    for i, case in enumerate(cases):
        values = [next(r["runs_per_s"] for r in rows if r["case"] == case and r["steps"] == s) for s in steps]
        ax.bar(np.arange(len(steps)) + i * width, values, width, label=case)
    ax.set_xticks(np.arange(len(steps)) + width * (len(cases) - 1) / 2, [f"{s} steps/run" for s in steps])
    ax.set_ylabel("runs per second")
    ax.set_title("demo network (300 neurons): sweep throughput")
    ax.legend()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
