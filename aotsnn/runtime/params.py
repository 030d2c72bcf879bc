"""Parameter checks shared by every session (the in-process runtime and the C-bundle harness).
numpy only.

One rule set for a parameter change, wherever it is made: the value must be real numbers of the
leaf's shape; cast to the artifact precision it must obey the model's range rule (read from the
manifest: bounds, and `integer` for whole-number parameters such as delays) and be finite; a
topology parameter (a connection mask the kernels were specialised to) must keep its compiled
value. In float16 a time constant (a rule `> 0 ms`) must also be at least dt (see `FLOAT16_TAU`).

    checker = ParamChecker(manifest)
    staged = checker.stage({"exc.potential_tau": 10.0})    # name -> array in the artifact precision
"""
from __future__ import annotations

import hashlib
from typing import Mapping

import numpy as np

from aotsnn.runtime.format import INTEGER_DTYPES, bfloat16_bits, bfloat16_values, numpy_dtype

FLOAT16_TAU = ("in float16 a time constant must be at least dt ({dt:g} ms, {low:g} in float16): dt / tau above 1 "
               "makes the Euler step overshoot, and float16 (largest value 65504) overflows to Inf and NaN")


STORAGE_KINDS = ("dense", "packed", "compiled", "indices")     # aotsnn.export.codegen.param_storage


def stored_values(values: np.ndarray, storage: str, mask: np.ndarray | None = None) -> np.ndarray:
    """What a C bundle stores of one parameter (aotsnn.export.codegen.param_storage), flat: all
    its values ("dense", and "indices": integer topology in an array of its own type), those at
    the non-zeros of `mask` row by row ("packed"), or none ("compiled"). The compiler writes
    them into the bundle; the harness sends those of the float parameters (not "indices")."""
    if storage == "packed":
        return np.asarray(values)[np.nonzero(mask)]
    flat = np.asarray(values).reshape(-1)
    return flat[:0] if storage == "compiled" else flat


def describe_rule(rule: Mapping) -> str:
    """`> 0 ms`, `whole numbers >= 1 and <= 3 steps`: the text of a manifest rule."""
    bounds = " and ".join(p for p in (
        None if rule["low"] is None else f"{'>' if rule['low_open'] else '>='} {rule['low']:g}",
        None if rule["high"] is None else f"{'<' if rule['high_open'] else '<='} {rule['high']:g}") if p)
    whole = "whole numbers" if rule.get("integer") else ""
    return " ".join(p for p in (whole, bounds, rule.get("unit", "")) if p)


def rule_violations(rule: Mapping, value: np.ndarray) -> np.ndarray:
    """Boolean mask of the entries of `value` (float64) that break `rule` (NaN always does)."""
    bad = np.isnan(value)
    if rule["low"] is not None:
        bad |= value <= rule["low"] if rule["low_open"] else value < rule["low"]
    if rule["high"] is not None:
        bad |= value >= rule["high"] if rule["high_open"] else value > rule["high"]
    if rule.get("integer"):
        with np.errstate(invalid="ignore"):
            bad |= np.isfinite(value) & (value != np.round(value))
    return bad


def precision_rule(rule: Mapping, precision: str, dt: float) -> tuple[Mapping, str]:
    """(the rule as it applies in `precision`, why it is tighter there or ""). In float16 a time
    constant (`> 0 ms`) must be >= dt as the kernels hold it (rounded to float16): see FLOAT16_TAU."""
    is_time_constant = rule.get("unit") == "ms" and rule["low"] == 0 and rule["low_open"]
    if precision != "float16" or not is_time_constant:
        return rule, ""
    low = float(np.float16(dt))
    return {**rule, "low": low, "low_open": False}, FLOAT16_TAU.format(dt=dt, low=low)


class ParamChecker:
    """The parameter leaves of one artifact and the rules every change must obey."""

    def __init__(self, manifest: Mapping) -> None:
        self.model, self.precision, self.dt = manifest["model"], manifest["precision"], float(manifest["dt"])
        self.dtype = numpy_dtype(self.precision)
        self.shapes = {leaf["name"]: tuple(leaf["shape"]) for leaf in manifest["layout"]["params"]}
        self.integers = {leaf["name"]: np.dtype(leaf["dtype"]) for leaf in manifest["layout"]["params"]
                         if leaf["dtype"] in INTEGER_DTYPES}
        self.rules = manifest.get("param_rules", {})
        self.topology = manifest.get("topology", {})

    def stage(self, values: Mapping[str, object]) -> dict[str, np.ndarray]:
        """Every value of `values` checked and cast (name -> array in the artifact precision);
        the first bad one raises ValueError or TypeError naming it."""
        return {name: self.cast(name, value) for name, value in values.items()}

    def cast(self, name: str, value: object) -> np.ndarray:
        """`value` in the artifact precision, checked for name, type, shape, range, finiteness
        and topology."""
        if name not in self.shapes:
            raise ValueError(f"'{self.model}' has no parameter '{name}'; parameters: {', '.join(self.shapes)}.")
        array = np.asarray(value)
        if array.dtype.kind not in "fiu":
            raise TypeError(f"parameter '{name}' must be real numbers, got dtype {array.dtype}.")
        if array.shape != self.shapes[name]:
            raise ValueError(f"parameter '{name}' must have shape {self.shapes[name]}, got {array.shape}.")
        if name in self.integers:
            return self._cast_integers(name, array)
        if self.precision == "bfloat16":
            cast = array if array.dtype == np.uint16 else bfloat16_bits(array)
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                cast = array.astype(self.dtype, copy=False)
        if name not in self.rules and self.precision != "bfloat16" and np.all(np.isfinite(cast)):
            self._check_topology(name, cast)        # nothing more to check: no float64 copies of big leaves
            return cast
        values = self.as_float(cast)
        given = values if array.dtype == self.dtype else array.astype(np.float64)
        self._check_rule(name, values, given)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"parameter '{name}' must be finite, got {self._shown(values, given, ~np.isfinite(values))}.")
        self._check_topology(name, cast)
        return cast

    def _cast_integers(self, name: str, array: np.ndarray) -> np.ndarray:
        """An integer leaf (synapse indices) in its own dtype, refused if a value does not fit."""
        dtype = self.integers[name]
        if array.dtype.kind not in "iu":
            raise TypeError(f"parameter '{name}' holds {dtype} indices, got dtype {array.dtype}.")
        cast = array.astype(dtype, copy=False)
        if cast is not array and not np.array_equal(cast, array):
            raise ValueError(f"parameter '{name}' holds {dtype} indices; some values do not fit in {dtype}.")
        self._check_topology(name, cast)
        return cast

    def as_float(self, array: np.ndarray) -> np.ndarray:
        """The values of an array of the artifact dtype as float64 (decodes bfloat16 bits)."""
        return (bfloat16_values(array) if self.precision == "bfloat16" else array).astype(np.float64)

    def _shown(self, values: np.ndarray, given: np.ndarray, bad: np.ndarray) -> str:
        """The first bad value, and what the user gave when the cast changed it."""
        value, before = values[bad].ravel()[0], given[bad].ravel()[0]
        changed = not (value == before or (np.isnan(value) and np.isnan(before)))
        return f"{before:g}, which is {value:g} in {self.precision}" if changed else f"{value:g}"

    def _check_rule(self, name: str, value: np.ndarray, given: np.ndarray) -> None:
        if name not in self.rules:
            return
        rule, why = precision_rule(self.rules[name], self.precision, self.dt)
        bad = rule_violations(rule, value)
        if np.any(bad):
            where = f" in {self.precision} ({why})" if why else ""
            raise ValueError(f"parameter '{name}' must be {describe_rule(rule)}{where}, "
                             f"got {self._shown(value, given, bad)}.")

    def _check_topology(self, name: str, cast: np.ndarray) -> None:
        expected = self.topology.get(name)
        if expected is not None and hashlib.sha256(np.ascontiguousarray(cast).data).hexdigest() != expected:
            raise ValueError(f"parameter '{name}' is topology, fixed when '{self.model}' was compiled "
                             "(kernels are specialised to it); recompile to change it.")
