"""Parameter sweeps and ensembles of one artifact, on Dask (`pip install "aotsnn[sweep]"`).

    from aotsnn.sweep import make_plan, run_sweep
    plan = make_plan(steps=2000, grid={"exc.potential_tau": [4.0, 5.0, 6.0]}, seeds=8,
                     monitors={"exc.spikes": "sum"})
    table = run_sweep("ei.aot", plan, "sweep-out/")          # table["exc.spikes"]: (24, n_exc)

Pipeline: plan (what to run) -> engine (Dask tasks) -> worker (runtime only) -> store (one file
per finished run, resumable) -> gathered table. `aotsnn sweep net.aot --grid grid.toml -o out/`
is the same from the command line; docs/sweeps.md has the details.
"""
from aotsnn.sweep.engine import run_sweep
from aotsnn.sweep.plan import Run, SweepPlan, make_plan, plan_from_toml

__all__ = ["Run", "SweepPlan", "make_plan", "plan_from_toml", "run_sweep"]
