"""What a sweep runs: parameter sets x seeds, each a `Run` with a stable id. Standard library only.

A plan comes from a grid (every combination of the listed values), an explicit list of
parameter sets, or both, times a list of seeds; or from a TOML file:

    steps = 2000
    seeds = [0, 1, 2, 3]                   # or: seeds = 4  (0, 1, 2, 3)
    [grid]
    "exc.potential_tau" = [4.0, 5.0, 6.0]
    "ee.g_syn_bar" = [0.01, 0.02]
    [inputs]                               # how each run's inputs are made (aotsnn.sweep.inputs)
    kind = "gaussian"
    mean = 45.0
    std = 25.0
    [monitors]                             # output leaf -> "sum" | "mean" | "last" | "full"
    "exc.spikes" = "sum"

A run's id is a hash of everything that determines its result (parameters, seed, steps, inputs,
monitors), so a resumed sweep recognises finished runs and never mixes results of another plan.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

REDUCTIONS = ("sum", "mean", "last", "full")


@dataclass(frozen=True)
class Run:
    """One simulation: parameter overrides (leaf -> number or nested list) and an input seed."""

    run_id: str
    params: dict[str, Any]
    seed: int


@dataclass(frozen=True)
class SweepPlan:
    """Runs, steps per run, the input recipe and the monitors (output leaf -> reduction over time)."""

    runs: tuple[Run, ...]
    steps: int
    inputs: dict[str, Any] = field(default_factory=lambda: {"kind": "gaussian", "mean": 45.0, "std": 25.0})
    monitors: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The plan as JSON-able data (written next to the results)."""
        return {"steps": self.steps, "inputs": self.inputs, "monitors": self.monitors,
                "runs": [{"id": r.run_id, "params": r.params, "seed": r.seed} for r in self.runs]}


def make_plan(*, steps: int, grid: Mapping[str, Sequence[Any]] | None = None,
              param_sets: Sequence[Mapping[str, Any]] | None = None, seeds: int | Sequence[int] = (0,),
              inputs: Mapping[str, Any] | None = None, monitors: Mapping[str, str] | None = None) -> SweepPlan:
    """Every parameter set (the grid's combinations, then `param_sets`) with every seed."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"sweep: `steps` must be a positive integer, got {steps!r}.")
    seeds = list(range(seeds)) if isinstance(seeds, int) and not isinstance(seeds, bool) else list(seeds)
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ValueError(f"sweep: `seeds` must be a count or a list of integers >= 0, got {seeds!r}.")
    sets = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] if grid else []
    for name, values in (grid or {}).items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ValueError(f"sweep: grid entry '{name}' must be a non-empty list of values, got {values!r}.")
    sets += [dict(p) for p in (param_sets or [])]
    if not sets:
        sets = [{}]
    monitors = dict(monitors or {})
    for leaf, reduction in monitors.items():
        if reduction not in REDUCTIONS:
            raise ValueError(f"sweep: monitor '{leaf}' must reduce with one of {REDUCTIONS}, got {reduction!r}.")
    recipe = dict(inputs or SweepPlan.__dataclass_fields__["inputs"].default_factory())
    runs = tuple(Run(run_id(p, s, steps, recipe, monitors), p, s) for p in sets for s in seeds)
    duplicates = len(runs) - len({r.run_id for r in runs})
    if duplicates:
        raise ValueError(f"sweep: {duplicates} run(s) repeat another (same parameters and seed); list each once.")
    return SweepPlan(runs, steps, recipe, monitors)


def run_id(params: Mapping[str, Any], seed: int, steps: int, inputs: Mapping[str, Any],
           monitors: Mapping[str, str]) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of what determines the run's result."""
    body = json.dumps({"params": params, "seed": seed, "steps": steps, "inputs": inputs, "monitors": monitors},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def plan_from_toml(path: str | Path, *, steps: int | None = None) -> SweepPlan:
    """A plan from a TOML file (format in the module docstring); `steps` overrides the file's."""
    try:
        data = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"sweep: cannot read the grid file {path}: {exc}") from exc
    unknown = set(data) - {"steps", "seeds", "grid", "runs", "inputs", "monitors"}
    if unknown:
        raise ValueError(f"sweep: {path} has unknown keys {sorted(unknown)}; allowed: steps, seeds, grid, runs, "
                         "inputs, monitors.")
    if steps is None and "steps" not in data:
        raise ValueError(f"sweep: {path} gives no `steps`; add `steps = N` or pass --steps.")
    return make_plan(steps=steps if steps is not None else data["steps"], grid=data.get("grid"),
                     param_sets=data.get("runs"), seeds=data.get("seeds", [0]), inputs=data.get("inputs"),
                     monitors=data.get("monitors"))
