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

Then the crossover of per-sample parameters (`Network.per_sample`), in this process without Dask:
microseconds per run of B parameter sets of exc.potential_tau made one by one on the batch-1
artifact (set_params + run each) against one call of the batch-B artifact whose tau is per sample
(set_params of the stacked values + run), for runs of 10 to 10,000 steps (best of 5).
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
    cross = crossover(root)
    print(f"\n{'steps/run':>9} " + " ".join(f"{'B=' + str(b) + ' one by one':>16} {'per-sample B=' + str(b):>16} "
                                         f"{'gain':>6}" for b in BATCHES) + "   (us per run)")
    for row in cross:
        print(f"{row['steps']:>9} " + " ".join(f"{row[f'loop_{b}']:>16.1f} {row[f'batched_{b}']:>16.1f} "
                                             f"{row[f'loop_{b}'] / row[f'batched_{b}']:>5.2f}x" for b in BATCHES))
    (out / "sweep.json").write_text(json.dumps({"cpus": os.cpu_count(), "rows": rows, "crossover": cross}, indent=1))
    plot(rows, out / "sweep_throughput.png")


BATCHES = (4, 16)


def crossover(root: Path) -> list[dict]:
    """Microseconds per run: B parameter sets one by one (batch-1 artifact) vs one per-sample call."""
    single = load(compile_network(build_ei_network(), root / "ei_b1.aot"), threads=1)
    batched = {}
    for b in BATCHES:
        net = build_ei_network(batch=b)
        net.per_sample("exc.potential_tau")
        batched[b] = load(compile_network(net, root / f"ei_ps{b}.aot"), threads=1)
    rows = []
    for steps in (10, 100, 1000, 10000):
        row = {"steps": steps}
        for b, session in batched.items():
            taus = np.linspace(4.0, 8.0, b)
            x1 = {k: np.random.default_rng(0).normal(45, 25, (steps, 1, *s[1:])).astype(np.float32)
                  for k, s in single.layout["inputs"]}
            xb = {k: np.repeat(v, b, axis=1) for k, v in x1.items()}

            def one_by_one() -> float:
                start = time.perf_counter()
                for tau in taus:
                    single.set_params(**{"exc.potential_tau": tau})
                    single.run(single.init_state(), x1)
                return time.perf_counter() - start

            def together() -> float:
                start = time.perf_counter()
                session.set_params(**{"exc.potential_tau": taus})
                session.run(session.init_state(), xb)
                return time.perf_counter() - start

            row[f"loop_{b}"] = min(one_by_one() for _ in range(5)) / b * 1e6
            row[f"batched_{b}"] = min(together() for _ in range(5)) / b * 1e6
        rows.append(row)
    return rows


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
