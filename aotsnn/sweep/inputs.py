"""Each run's inputs, made where the run happens from its seed. numpy only.

A recipe is a dict with a `kind`:
    {"kind": "gaussian", "mean": 45.0, "std": 25.0}   currents [pA], every input, N(mean, std) per step
    {"kind": "bernoulli", "rate": 0.02}               0/1 spikes, every input, P(1) = rate per step
    {"kind": "zeros"}
    {"kind": "function", "function": "module:name", ...}   name(layout, steps, seed, **rest) -> dict
For seed s every input is drawn from numpy.random.default_rng(s) in the artifact's input order, one
array (steps, 1, *shape) per input, so a run's inputs do not depend on where or with what else it
runs; "gaussian" with the demo's mean and std gives exactly `aotsnn.demo.demo_inputs(net, steps,
seed=s)`.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

import numpy as np

Layout = list[tuple[str, tuple[int, ...]]]     # (input name, per-step shape without the batch axis)


def _gaussian(layout: Layout, steps: int, rng: np.random.Generator, *, mean: float, std: float) -> dict:
    return {name: rng.normal(mean, std, size=(steps, 1, *shape)) for name, shape in layout}


def _bernoulli(layout: Layout, steps: int, rng: np.random.Generator, *, rate: float) -> dict:
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"sweep inputs: `rate` must be a probability per step in [0, 1], got {rate!r}.")
    return {name: (rng.uniform(size=(steps, 1, *shape)) < rate).astype(np.float64) for name, shape in layout}


def _zeros(layout: Layout, steps: int, rng: np.random.Generator) -> dict:
    return {name: np.zeros((steps, 1, *shape)) for name, shape in layout}


KINDS: dict[str, Callable[..., dict]] = {"gaussian": _gaussian, "bernoulli": _bernoulli, "zeros": _zeros}


def make_inputs(recipe: Mapping[str, Any], layout: Layout, steps: int, seed: int) -> dict[str, np.ndarray]:
    """float64 inputs (steps, 1, *shape) per input of `layout` for one run."""
    options = dict(recipe)
    kind = options.pop("kind", None)
    if kind == "function":
        target = options.pop("function", "")
        module_name, _, func_name = str(target).partition(":")
        try:
            func = getattr(importlib.import_module(module_name), func_name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ValueError(f"sweep inputs: cannot import function {target!r} (give it as module:name, "
                             f"importable on every worker): {exc}") from exc
        made = func(layout, steps, seed, **options)
        missing = {name for name, _ in layout} - set(made)
        if missing:
            raise ValueError(f"sweep inputs: {target} made no input {sorted(missing)}.")
        return {name: np.asarray(made[name], np.float64).reshape(steps, 1, *shape) for name, shape in layout}
    if kind not in KINDS:
        raise ValueError(f"sweep inputs: `kind` must be one of {sorted(KINDS) + ['function']}, got {kind!r}.")
    try:
        return KINDS[kind](layout, steps, np.random.default_rng(seed), **options)
    except TypeError as exc:
        raise ValueError(f"sweep inputs: bad options {options} for kind {kind!r}: {exc}") from exc
