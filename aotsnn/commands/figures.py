"""Which PNGs a run, an equivalence report and a cross-target matrix give, and their file names:

    raster.png            spike raster, one panel per spike output (population)
    traces.png            membrane traces of the chosen units, one panel per traced state leaf
    errors.png            one-step error over time per leaf, as a fraction of the tolerance
    errors-<target>.png   the same for each target of `verify --targets`
    targets.png           the cross-target error table as a heat map (leaves x targets)
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from aotsnn.commands.errors import CliError
from aotsnn.commands.recording import Recording

DEFAULT_UNITS = (0, 1, 2)


def parse_units(text: str) -> list[int]:
    """`0,5,9` -> [0, 5, 9]; refuses anything but non-negative whole numbers."""
    try:
        units = [int(u) for u in text.split(",") if u.strip()]
    except ValueError:
        raise CliError(f"--units must be comma-separated unit indices such as 0,1,2, got {text!r}.") from None
    if not units or min(units) < 0:
        raise CliError(f"--units must be comma-separated unit indices >= 0, got {text!r}.")
    return units


def plots_module():
    """aotsnn.plots, or a one-line CliError when matplotlib is missing."""
    try:
        from aotsnn import plots
        plots.pyplot()
    except ImportError as exc:
        raise CliError(str(exc)) from None
    return plots


def run_figures(rec: Recording, out_dir: Path, units: Sequence[int]) -> list:
    """raster.png (when the run has spike outputs) and traces.png (when it has traces)."""
    plots = plots_module()
    spikes = {k: v for k, v in rec.outputs.items() if k.rsplit(".", 1)[-1].endswith("spikes")}
    for name, value in rec.traces.items():
        n_units = int(np.prod(value.shape[2:], dtype=np.int64))
        if max(units) >= n_units:
            raise CliError(f"--units {','.join(map(str, units))}: '{name}' has {n_units} units (0 to {n_units - 1}); "
                           f"choose units below {n_units}.")
    if not spikes and not rec.traces:
        raise CliError("this run has neither spike outputs nor membrane traces to plot; record traces with "
                       "aotsnn run ARTIFACT --trace LEAF --save-outputs FILE.")
    made = []
    what = f"{rec.model}, {rec.steps} steps of {rec.dt:g} ms" + (f"; inputs: {rec.inputs}" if rec.inputs else "")
    if spikes:
        made.append(plots.spike_raster(spikes, rec.dt, out_dir / "raster.png", title=f"spike raster: {what}"))
    if rec.traces:
        made.append(plots.membrane_traces(rec.traces, rec.dt, out_dir / "traces.png", units=units,
                                          title=f"membrane potential: {rec.model}, sample 0"))
    return made


def report_figure(report, dt: float, path: Path):
    """errors.png of one equivalence report."""
    plots = plots_module()
    errors = {e.name: e.per_step for e in report.one_step if e.per_step is not None}
    if not errors:
        raise CliError("the check ran 0 steps, so there is no error over time to plot; give --steps 1 or more.")
    return plots.error_over_time(errors, dt, path, title=(
        f"{report.model} on '{report.target}' ({report.precision}): one-step error vs JAX float64, "
        f"tolerance {report.atol:g} + {report.rtol:g}*|ref|"))


def matrix_figures(matrix, dt: float, out_dir: Path) -> list:
    """targets.png (heat map) and errors-<target>.png for every target that ran."""
    plots = plots_module()
    leaves, targets = matrix.leaves(), [r.target for r in matrix.results]
    table = np.full((len(leaves), len(targets)), np.nan)
    for j, target in enumerate(targets):
        for i, leaf in enumerate(leaves):
            err = matrix.error(target, leaf)
            if err is not None:
                table[i, j] = err[0]
    made = []
    if leaves:
        made.append(plots.target_heatmap(leaves, targets, table, out_dir / "targets.png", title=(
            f"{matrix.model} ({matrix.precision}), {matrix.steps} steps: one-step max abs error vs JAX float64")))
    made += [report_figure(r.report, dt, out_dir / f"errors-{r.target}.png") for r in matrix.results
             if r.report is not None]
    return made


def print_figures(made: list, console=None) -> None:
    for figure in made:
        line = f"plot: {figure.path} ({figure.panels} panel{'s' if figure.panels != 1 else ''})"
        console.print(line) if console is not None else print(line)
