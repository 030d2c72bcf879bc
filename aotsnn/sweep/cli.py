"""`aotsnn sweep ARTIFACT --grid grid.toml -o OUT`: the sweep subcommand (needs the [sweep] extra)."""
from __future__ import annotations

import argparse
import importlib.util

INSTALL_SWEEP = 'pip install "aotsnn[sweep]"'


def add_sweep_parser(sub) -> None:
    s = sub.add_parser("sweep", help="run an artifact over a parameter grid and seeds on Dask",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    s.add_argument("artifact", help="the compiled artifact (.aot directory)")
    s.add_argument("--grid", required=True, help="TOML plan: steps, seeds, [grid], [[runs]], [inputs], [monitors] "
                                                 "(docs/sweeps.md)")
    s.add_argument("-o", "--out", required=True, help="results directory; rerun with the same one to resume")
    s.add_argument("--steps", type=int, help="steps per run (overrides the plan's)")
    s.add_argument("--scheduler", help="address of a running Dask scheduler, e.g. tcp://host:8786 "
                                       "(default: a LocalCluster on this machine)")
    s.add_argument("--workers", type=int, help="LocalCluster worker processes (default: one per CPU)")
    s.add_argument("--plot", help="write a PNG of the mean firing rate over the grid here")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> int:
    from aotsnn.commands.errors import CliError

    if importlib.util.find_spec("distributed") is None:
        raise CliError(f"'aotsnn sweep' needs the [sweep] extra (dask.distributed): {INSTALL_SWEEP}")
    from aotsnn.runtime import load
    from aotsnn.sweep import plan_from_toml, run_sweep
    from aotsnn.sweep.engine import monitored
    from aotsnn.sweep.summary import plot_rates, rates

    session = load(args.artifact)
    plan = monitored(plan_from_toml(args.grid, steps=args.steps), [n for n, _ in session.layout["outputs"]],
                     args.artifact)
    table = run_sweep(args.artifact, plan, args.out, scheduler=args.scheduler, workers=args.workers,
                      progress=not args.quiet)
    statuses = list(table["status"])
    print(f"{len(statuses)} runs: {statuses.count('ok')} ok, {len(statuses) - statuses.count('ok')} not "
          f"(index.json has each one's status and message); table: {args.out}/results.npz")
    summed = [leaf for leaf, reduction in plan.monitors.items() if reduction == "sum"]
    if summed:
        for params, rate, ok in rates(table, plan, summed[0], session.dt):
            print(f"  {params or '(defaults)'}: {summed[0]} {rate:.2f} Hz over {ok} run(s)")
        if args.plot:
            print(f"plot: {plot_rates(table, plan, summed[0], session.dt, args.plot)}")
    elif args.plot:
        raise CliError("--plot needs a monitor reduced with 'sum' (a spike count) to plot a rate; add one to "
                       "[monitors] in the grid file.")
    return 0
