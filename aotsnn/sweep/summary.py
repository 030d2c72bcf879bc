"""A sweep's table summarised: mean firing rate per parameter set, as text and as a plot.

rate [Hz] = spikes / (steps * dt [ms] / 1000) / units, from a monitor reduced with "sum", averaged
over the seeds of each parameter set (runs that did not finish ok are left out).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from aotsnn.sweep.plan import SweepPlan


def rates(table: dict[str, np.ndarray], plan: SweepPlan, leaf: str, dt_ms: float) -> list[tuple[dict, float, int]]:
    """(parameter set, mean rate over its ok runs [Hz], number of ok runs) per parameter set."""
    if plan.monitors.get(leaf) != "sum":
        raise ValueError(f"sweep summary: '{leaf}' must be monitored with 'sum' to give a rate, "
                         f"got {plan.monitors.get(leaf)!r}.")
    seconds = plan.steps * dt_ms / 1000.0
    groups: dict[str, tuple[dict, list[float]]] = {}
    for row, run in enumerate(plan.runs):
        entry = groups.setdefault(repr(sorted(run.params.items())), (run.params, []))
        if table["status"][row] == "ok":
            counts = np.asarray(table[leaf][row])
            entry[1].append(float(counts.sum()) / seconds / max(counts.size, 1))
    return [(params, float(np.mean(r)) if r else float("nan"), len(r)) for params, r in groups.values()]


def plot_rates(table: dict[str, np.ndarray], plan: SweepPlan, leaf: str, dt_ms: float, path: str | Path) -> Path:
    """A line over one swept parameter, a heat map over two; else one bar per parameter set."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = rates(table, plan, leaf, dt_ms)
    names = sorted({k for params, _, _ in summary for k in params})
    fig, ax = plt.subplots(figsize=(6, 4), constrained_layout=True)
    if len(names) == 1:
        xs = [params[names[0]] for params, _, _ in summary]
        ax.plot(xs, [r for _, r, _ in summary], "o-")
        ax.set_xlabel(names[0])
        ax.set_ylabel(f"{leaf} rate [Hz]")
    elif len(names) == 2:
        xs, ys = sorted({p[names[0]] for p, _, _ in summary}), sorted({p[names[1]] for p, _, _ in summary})
        grid = np.full((len(ys), len(xs)), np.nan)
        for params, rate, _ in summary:
            grid[ys.index(params[names[1]]), xs.index(params[names[0]])] = rate
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
        ax.set_xticks(range(len(xs)), [f"{x:g}" for x in xs])
        ax.set_yticks(range(len(ys)), [f"{y:g}" for y in ys])
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        fig.colorbar(image, ax=ax, label=f"{leaf} rate [Hz]")
    else:
        ax.bar(range(len(summary)), [r for _, r, _ in summary])
        ax.set_xlabel("parameter set")
        ax.set_ylabel(f"{leaf} rate [Hz]")
    ax.set_title(f"mean over seeds, {plan.steps} steps of {dt_ms:g} ms")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
