"""Compilation targets, one declarative file per target in this package, found by file name.

This module imports neither jax nor TVM: the runtime uses it to check that an artifact was
built for the machine that loads it.
"""
from __future__ import annotations

import importlib
import pkgutil
import platform
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Target:
    """What a target is: TVM target dict, toolchain, how to run its code here, tolerances.

    `machine` is the `platform.machine()` an artifact of this target runs on (None: the
    machine that built it). rtol/atol are the tolerances of float32 state versus the JAX
    float64 reference after one step from the same state (see aotsnn.verify).
    """

    name: str
    description: str
    tvm_target: dict[str, Any]
    machine: str | None = None
    cc: str = "gcc"
    cflags: tuple[str, ...] = ("-O2",)
    rtol: float = 1e-5
    atol: float = 1e-4
    extra: dict[str, Any] = field(default_factory=dict)

    def runs_here(self) -> tuple[bool, str]:
        """(can this machine execute the target's artifacts, why not)."""
        if self.machine is None or self.machine == platform.machine():
            return True, ""
        return False, f"target '{self.name}' runs on {self.machine}, this machine is {platform.machine()}"


class TargetError(ValueError):
    """An unknown target, or an artifact loaded where its target cannot run."""


def registry() -> dict[str, Target]:
    """Every target defined by a module of this package (a module-level TARGET)."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        target = getattr(module, "TARGET", None)
        if isinstance(target, Target):
            found[target.name] = target
    return found


def get(name: str) -> Target:
    targets = registry()
    if name not in targets:
        raise TargetError(f"unknown target {name!r}; known targets: {', '.join(sorted(targets))}.")
    return targets[name]
