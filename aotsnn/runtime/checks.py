"""The boundary checks of a session's state, inputs and parameters files, shared by the host
Session (aotsnn.runtime.session) and the C bundle session (aotsnn.runtime.harness), so both
refuse the same trees with the same messages (docs/errors.md). numpy only.

A class that mixes in `LayoutChecks` sets `name`, `precision`, `dtype` (the numpy dtype of
its leaves), `layout` (group -> [(leaf name, shape)]) and `integer_state` (state leaf name ->
numpy dtype, for the integer state leaves that keep their own dtype: random keys, counters;
`integer_state_of(manifest)`), and `integer_params` likewise (a sparse synapse's indices).
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from aotsnn.runtime.format import INTEGER_DTYPES, bfloat16_values, check_run_size


def integer_leaves_of(manifest: Mapping, group: str) -> dict[str, np.dtype]:
    """The leaves of `group` that are integers (their own dtype, not the precision): random keys
    and counters in the state, a sparse synapse's indices in the parameters."""
    return {leaf["name"]: np.dtype(leaf["dtype"]) for leaf in manifest["layout"][group]
            if leaf["dtype"] in INTEGER_DTYPES}


def integer_state_of(manifest: Mapping) -> dict[str, np.dtype]:
    """The state leaves of an artifact that are integers."""
    return integer_leaves_of(manifest, "state")


class LayoutChecks:
    """Names, types, dtypes, shapes and finiteness of leaf trees, by the artifact's layout; and
    `step`, which is a checked `run` of one step on every kind of session (which define `run`)."""

    name: str
    precision: str
    dtype: np.dtype
    layout: dict[str, list[tuple[str, tuple[int, ...]]]]
    integer_state: dict[str, np.dtype] = {}
    integer_params: dict[str, np.dtype] = {}

    def _integers(self, group: str) -> dict[str, np.dtype]:
        return {"state": self.integer_state, "params": self.integer_params}.get(group, {})

    def leaf_dtype(self, group: str, name: str) -> np.dtype:
        """The numpy dtype of leaf `name` of `group`: the artifact's, or an integer leaf's own."""
        return self._integers(group).get(name, self.dtype)

    def leaf_precision(self, group: str, name: str) -> str:
        """The dtype name a tensor of this leaf is labelled with (aotsnn.runtime.dlpack.tensor)."""
        integer = self._integers(group).get(name)
        return self.precision if integer is None else integer.name

    def _check_names(self, tree: object, group: str, what: str, error: type[Exception] | None = None) -> None:
        """`tree` is a dict with exactly the leaf names of `group`."""
        if not isinstance(tree, Mapping):
            raise (error or TypeError)(f"{what} must be a dict of leaf name -> numpy array, got {type(tree).__name__}.")
        names = [n for n, _ in self.layout[group]]
        missing = [n for n in names if n not in tree]
        extra = [str(n) for n in tree if n not in names]
        if missing or extra:
            raise (error or ValueError)(f"{what}: " + "; ".join(p for p in (
                f"missing {', '.join(missing)}" if missing else "", f"unknown {', '.join(extra)}" if extra else "") if p) + ".")

    def _check_tree(self, tree: Mapping[str, np.ndarray], group: str, what: str, error: type[Exception] | None = None,
                    steps: int | None = None) -> None:
        """Names, types, dtypes and shapes ((steps, *shape) when `steps` is given) of `tree`.

        `error` is raised for every problem (ArtifactError for files); by default TypeError for
        types and dtypes, ValueError for names and shapes.
        """
        self._check_names(tree, group, what, error)
        for name, shape in self.layout[group]:
            self._check_leaf(name, tree[name], shape if steps is None else (steps, *shape), what, error,
                             dtype=self.leaf_dtype(group, name))

    def _check_leaf(self, name: str, value: object, shape: tuple[int, ...], what: str,
                    error: type[Exception] | None = None, dtype: np.dtype | None = None) -> None:
        """`value` is a numpy array of `dtype` (default: the artifact dtype) and of `shape`."""
        if not isinstance(value, np.ndarray):
            raise (error or TypeError)(f"{what}: '{name}' must be a numpy array, got {type(value).__name__}.")
        if dtype is not None and dtype != self.dtype:
            if value.dtype != dtype:
                raise (error or TypeError)(f"{what}: '{name}' must have dtype {dtype.name} (an integer leaf: a "
                                           f"random key, a counter or synapse indices), got {value.dtype} "
                                           f"(use .astype(np.{dtype.name})).")
        elif value.dtype != self.dtype:
            hint = "bfloat16 leaves are uint16 bit patterns: use aotsnn.runtime.bfloat16_bits(x)" \
                if self.precision == "bfloat16" else f"use .astype(np.{self.dtype.name})"
            raise (error or TypeError)(f"{what}: '{name}' must have dtype {self.precision}, got {value.dtype} "
                                       f"({hint}).")
        if value.shape != shape:
            raise (error or ValueError)(f"{what}: '{name}' must have shape {shape}, got {value.shape}.")

    def _check_finite(self, tree: Mapping[str, np.ndarray], what: str) -> None:
        """NaN/Inf anywhere in `tree` is refused. A finite sum (one fast pass, no temporary array)
        proves every value finite; only a sum that overflowed is checked value by value."""
        values = {name: bfloat16_values(v) if self.precision == "bfloat16" else v for name, v in tree.items()
                  if np.asarray(v).dtype.kind not in "iub"}        # integers are always finite
        with np.errstate(over="ignore", invalid="ignore"):
            totals = {name: v.sum() for name, v in values.items()}
        for name, v in values.items():
            if not np.isfinite(totals[name]) and not np.all(np.isfinite(v)):
                raise ValueError(f"{what}: '{name}' contains NaN or Inf (pass check_finite=False to allow).")

    def _steps_of(self, inputs: Mapping[str, np.ndarray]) -> int:
        """T, the length of the time axis of the first input (checked to have one)."""
        if not self.layout["inputs"]:
            raise ValueError(f"'{self.name}' has no inputs: pass steps=T.")
        name, shape = self.layout["inputs"][0]
        value = inputs[name]
        if not isinstance(value, np.ndarray):
            raise TypeError(f"inputs: '{name}' must be a numpy array, got {type(value).__name__}.")
        if value.ndim != len(shape) + 1:
            raise ValueError(f"inputs: '{name}' must have shape (T, {', '.join(map(str, shape))}) for T steps, "
                             f"got {value.shape}.")
        return value.shape[0]

    def _check_run(self, state: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray], steps: int | None,
                   check_finite: bool) -> int:
        """Everything `run` checks before it runs (names, steps, dtypes, shapes, the outputs' size,
        finiteness with `check_finite`); returns T."""
        self._check_names(state, "state", "state")
        self._check_names(inputs, "inputs", "inputs")
        if steps is None:
            steps = self._steps_of(inputs)
        if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 0:
            raise ValueError(f"`steps` must be a non-negative integer, got {steps!r}.")
        self._check_tree(state, "state", "state")
        self._check_tree(inputs, "inputs", "inputs", steps=steps)
        check_run_size(self.layout["outputs"], self.dtype, inputs, steps)
        if check_finite:
            self._check_finite(state, "state")
            self._check_finite(inputs, "inputs")
        return int(steps)

    def step(self, state: Mapping[str, np.ndarray], inputs: Mapping[str, np.ndarray],
             *, check_finite: bool = True) -> tuple[dict, dict]:
        """One step; inputs (batch, ...) -> outputs (batch, ...): a `run` of T = 1, checked as `run`."""
        self._check_tree(inputs, "inputs", "inputs")
        new_state, outs = self.run(state, {k: np.asarray(v)[None] for k, v in inputs.items()},
                                   steps=1, check_finite=check_finite)
        return new_state, {k: v[0] for k, v in outs.items()}
