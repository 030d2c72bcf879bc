"""The component contract: parameters, an explicit state pytree and a pure step.

A component is a plain Python object that *describes* a piece of a network. It holds no
arrays that change during a run: the parameters (`default_params`) and the state
(`init_state`) are separate flat dicts of arrays, and the step is a pure function

    step(params, state, inputs, dt) -> (new_state, outputs)

so that a `Network` can hand parameters to the compiled artifact as run-time inputs and
save/restore state exactly. Leaf names inside a component are plain identifiers
("v", "g"); the network prefixes them with the component's name ("exc.v").

Shapes carry a leading batch axis wherever a component has inputs: a population of `n`
units has state leaves of shape (batch, n).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

Array = Any  # a jax or numpy array; components are traced by jax
Tree = dict[str, Array]


@dataclass(frozen=True)
class Port:
    """A named input or output of a component, with its per-sample shape (no batch axis)."""

    name: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ParamRule:
    """A range check on one parameter, enforced at construction and again by the runtime.

    `low`/`high` are bounds; `low_open`/`high_open` make them strict; `integer` asks for whole
    numbers (e.g. delays in steps). The runtime reads these rules from the artifact manifest, so a
    user changing a parameter without jax is checked by the same rule (aotsnn.runtime.params).
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    unit: str = ""
    integer: bool = False

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        text = " and ".join(parts) + (f" {self.unit}" if self.unit else "")
        return f"whole numbers {text}" if self.integer else text

    def violations(self, value: np.ndarray) -> np.ndarray:
        """Boolean mask of entries of `value` that break the rule (NaN always breaks it)."""
        value = np.asarray(value, dtype=np.float64)
        bad = np.isnan(value)
        if self.low is not None:
            bad |= (value <= self.low) if self.low_open else (value < self.low)
        if self.high is not None:
            bad |= (value >= self.high) if self.high_open else (value > self.high)
        if self.integer:
            bad |= np.isfinite(value) & (value != np.round(value))
        return bad

    def to_json(self) -> dict:
        return {"low": self.low, "high": self.high, "low_open": self.low_open,
                "high_open": self.high_open, "unit": self.unit, "integer": self.integer}

    @classmethod
    def from_json(cls, data: Mapping) -> "ParamRule":
        return cls(**data)


POSITIVE = ParamRule(low=0.0, low_open=True)
NON_NEGATIVE = ParamRule(low=0.0)


def check_param(owner: str, name: str, value: Any, rule: ParamRule) -> None:
    """Raise ValueError naming `owner.name` when any entry of `value` breaks `rule`."""
    bad = rule.violations(np.asarray(value))
    if np.any(bad):
        shown = np.asarray(value, dtype=np.float64)[bad].ravel()[:3]
        raise ValueError(f"In {owner}: `{name}` must be {rule.describe()}, got "
                         f"{', '.join(f'{x:g}' for x in shown)}{' ...' if bad.sum() > 3 else ''}.")


class Component(ABC):
    """Base class: subclasses define ports, parameters, state and the step.

    Subclasses set `inputs` and `outputs` (tuples of Port), implement `default_params`,
    `init_state` and `step`, and list range checks in `param_rules`. `label` is the
    component's path in a network, used in every error message.
    """

    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()
    label: str = ""

    def __init__(self, name: str) -> None:
        if not name.isidentifier():
            raise ValueError(f"{type(self).__name__}: `name` must be a Python identifier "
                             f"(it becomes part of state leaf names), got {name!r}.")
        self.name = name
        self.label = f"'{name}' ({type(self).__name__})"

    def param_rules(self) -> dict[str, ParamRule]:
        """Range rules per parameter name; parameters not listed are unconstrained."""
        return {}

    def topology_params(self) -> tuple[str, ...]:
        """Parameters that are topology: the compiler may specialise kernels to their values
        (e.g. sparse connectivity), so an artifact refuses to change them at run time."""
        return ()

    def shared_params(self) -> tuple[str, ...]:
        """Parameters that cannot take one value per sample (Network.per_sample) besides topology:
        the compiled kernel of a sparse synapse reads one weight vector for the whole batch."""
        return ()

    @abstractmethod
    def default_params(self) -> dict[str, np.ndarray]:
        """The parameter values given at construction, as numpy arrays."""

    @abstractmethod
    def init_state(self, batch: int) -> dict[str, np.ndarray]:
        """The state at t = 0 for `batch` independent samples, as numpy arrays."""

    @abstractmethod
    def step(self, params: Tree, state: Tree, inputs: Tree, dt: float) -> tuple[Tree, Tree]:
        """Advance one step of `dt` ms; pure, traceable by jax."""

    def initial_outputs(self, batch: int) -> dict[str, np.ndarray]:
        """Output values seen by components that read this one's outputs from the previous step,
        at step 0. Zeros unless a subclass knows better (a soma's `v` starts at rest)."""
        return {p.name: np.zeros((batch, *p.shape)) for p in self.outputs}

    def validate_params(self, params: Mapping[str, Any]) -> None:
        """Check every parameter against its rule, then that all are finite; raise ValueError
        naming the first bad one."""
        for name, rule in self.param_rules().items():
            if name in params:
                check_param(self.label, name, params[name], rule)
        for name, value in params.items():
            if np.asarray(value).dtype.kind in "iub":      # integer leaves (synapse indices) are always finite
                continue
            value = np.asarray(value, dtype=np.float64)
            if not np.all(np.isfinite(value)):
                raise ValueError(f"In {self.label}: `{name}` must be finite, got {value[~np.isfinite(value)].flat[0]:g}.")

    def port(self, direction: str, name: str) -> Port:
        ports = self.inputs if direction == "input" else self.outputs
        for port in ports:
            if port.name == name:
                return port
        known = ", ".join(p.name for p in ports) or "none"
        raise ValueError(f"{self.label} has no {direction} `{name}`; its {direction}s are: {known}.")


def as_param(owner: str, name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Turn a scalar or per-unit array into a float64 numpy parameter of `shape` or ().

    Scalars stay scalars (shape ()); arrays must match `shape` exactly.
    """
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return arr
    if arr.shape != tuple(shape):
        raise ValueError(f"In {owner}: `{name}` must be a scalar or have shape {tuple(shape)}, "
                         f"got shape {arr.shape}.")
    return arr
