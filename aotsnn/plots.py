"""PNG figures of runs and checks (matplotlib, the [bench] extra; never imported by the runtime).

- `spike_raster`: one panel per spike leaf (population), spike times x unit, sample 0 of the batch;
- `membrane_traces`: one panel per traced state leaf, chosen units over time;
- `error_over_time`: one panel per leaf, the one-step error against the float64 reference at each
  step as a fraction of the tolerance (the pass/fail line is 1);
- `target_heatmap`: the cross-target matrix, leaves x targets, log10 of the one-step max abs error.

Each returns a `Figure` record: where the PNG went and how many panels it has.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

INSTALL_PLOTS = 'pip install "aotsnn[bench]"'


@dataclass(frozen=True)
class Figure:
    path: Path
    panels: int
    title: str


def pyplot():
    """matplotlib.pyplot with the file-only Agg backend; a clear error when matplotlib is missing."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError(f"plots need matplotlib, which is not installed: {INSTALL_PLOTS}") from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    return plt


def _grid(n: int, *, height: float = 1.9, width: float = 9.0):
    plt = pyplot()
    fig, axes = plt.subplots(n, 1, figsize=(width, 1.2 + height * n), sharex=True, squeeze=False,
                             layout="constrained")
    return plt, fig, list(axes[:, 0])


def _save(plt, fig, path: Path, title: str) -> Figure:
    fig.suptitle(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    panels = sum(1 for ax in fig.axes if ax.get_label() != "<colorbar>")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Figure(path, panels, title)


def spike_raster(spikes: Mapping[str, np.ndarray], dt: float, path: str | Path, *, title: str) -> Figure:
    """Spike leaf -> (T, batch, n) 0/1 array: a raster per leaf (sample 0), with the mean rate."""
    if not spikes:
        raise ValueError("no spike leaves to plot (outputs named '*.spikes'); record one with net.record(...).")
    plt, fig, axes = _grid(len(spikes))
    for ax, (name, value) in zip(axes, spikes.items()):
        flat = np.asarray(value)[:, 0].reshape(len(value), -1) if len(value) else np.zeros((0, 1))
        steps, units = np.nonzero(flat > 0.5)
        rate = flat.mean() * 1000.0 / dt if flat.size else 0.0
        ax.scatter(steps * dt, units, s=2, marker="|", color="black", linewidths=0.8)
        ax.set_xlim(0, max(len(flat), 1) * dt)
        ax.set_ylim(-0.5, flat.shape[1] - 0.5)
        ax.set_ylabel(f"{name}\nunit")
        ax.set_title(f"{name}: {len(steps)} spikes, {flat.shape[1]} units, mean rate {rate:.1f} Hz",
                     fontsize=9, loc="left")
        if not len(steps):
            ax.text(0.5, 0.5, "no spikes in this run", transform=ax.transAxes, ha="center", va="center")
    axes[-1].set_xlabel("time [ms]")
    return _save(plt, fig, Path(path), title)


def membrane_traces(traces: Mapping[str, np.ndarray], dt: float, path: str | Path, *, units: Sequence[int],
                    title: str, unit_label: str = "mV") -> Figure:
    """State leaf -> (T, batch, n): the chosen units (sample 0) over time, one panel per leaf."""
    if not traces:
        raise ValueError("no membrane traces to plot; record them with aotsnn run --trace LEAF --save-outputs FILE.")
    plt, fig, axes = _grid(len(traces), height=2.2)
    for ax, (name, value) in zip(axes, traces.items()):
        flat = np.asarray(value)[:, 0].reshape(len(value), -1)
        chosen = [u for u in units if u < flat.shape[1]] or [0]
        t = np.arange(1, len(flat) + 1) * dt
        for u in chosen:
            ax.plot(t, flat[:, u], linewidth=0.9, label=f"unit {u}")
        ax.set_ylabel(f"{name}\n[{unit_label}]")
        ax.set_title(f"{name}: units {', '.join(map(str, chosen))} of {flat.shape[1]}", fontsize=9, loc="left")
        ax.legend(loc="upper right", fontsize=7, ncol=min(len(chosen), 5))
    axes[-1].set_xlabel("time [ms]")
    return _save(plt, fig, Path(path), title)


def error_over_time(errors: Mapping[str, np.ndarray], dt: float, path: str | Path, *, title: str) -> Figure:
    """Leaf -> (T,) the largest |artifact - reference| / (atol + rtol*|reference|) over units at each
    step; a leaf passes where the curve stays below 1 (drawn in red)."""
    if not errors:
        raise ValueError("no one-step errors to plot (a run of 0 steps).")
    plt, fig, axes = _grid(len(errors), height=1.3)
    for ax, (name, value) in zip(axes, errors.items()):
        value = np.asarray(value, np.float64)
        t = np.arange(1, len(value) + 1) * dt
        worst = float(value.max()) if len(value) else 0.0
        ax.axhline(1.0, color="red", linewidth=0.8, linestyle="--")
        if worst > 0:
            ax.semilogy(t, np.maximum(value, 1e-6), linewidth=0.8)
            ax.set_ylim(1e-6, max(10.0, worst * 2))
        else:
            ax.set_yscale("log")
            ax.set_ylim(1e-6, 10.0)
            ax.text(0.5, 0.5, "identical to the float64 reference at every step", transform=ax.transAxes,
                    ha="center", va="center")
        ax.set_ylabel("err / tol", fontsize=8)
        ax.set_title(f"{name}: worst {worst:.3g} of the tolerance", fontsize=8, loc="left")
        ax.set_xlim(0, max(len(value), 1) * dt)
    axes[-1].set_xlabel("time [ms] (red: the tolerance; below it passes)")
    return _save(plt, fig, Path(path), title)


def target_heatmap(leaves: Sequence[str], targets: Sequence[str], errors: np.ndarray, path: str | Path, *,
                   title: str) -> Figure:
    """errors[leaf, target]: one-step max abs error (NaN: target not run); log10 colour, values written."""
    plt = pyplot()
    errors = np.asarray(errors, np.float64)
    fig, ax = plt.subplots(figsize=(3.5 + 1.6 * len(targets), 1.8 + 0.38 * len(leaves)), layout="constrained")
    shown = np.log10(np.maximum(errors, 1e-12))
    image = ax.imshow(np.ma.masked_invalid(shown), cmap="viridis", aspect="auto", vmin=-12,
                      vmax=max(-1.0, float(np.nanmax(shown)) if np.isfinite(shown).any() else -1.0))
    ax.set_xticks(range(len(targets)), labels=list(targets), rotation=20, ha="right")
    ax.set_yticks(range(len(leaves)), labels=list(leaves), fontsize=8)
    for i in range(len(leaves)):
        for j in range(len(targets)):
            value = errors[i, j]
            text = "not run" if np.isnan(value) else ("0" if value == 0 else f"{value:.1e}")
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if not np.isnan(value) and shown[i, j] < -6 else "black")
    bar = fig.colorbar(image, ax=ax)
    bar.set_label("log10 one-step max abs error")
    bar.ax.set_label("<colorbar>")
    return _save(plt, fig, Path(path), title)
