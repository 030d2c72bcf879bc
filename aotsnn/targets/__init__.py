"""Compilation targets, one declarative file per target in this package, found by file name.

Two kinds of artifact:

- "library" (host): TVM-built kernels and the generated driver in one shared library,
  `model.so`, loaded in-process by the thin runtime (`aotsnn.runtime.load`).
- "c-bundle" (c, aarch64-linux, riscv64-linux, cortex-m): portable C99 sources (TVM's C
  kernels, the driver, `<model>.h`, a Makefile), built with the target's toolchain into a
  static library and a test harness; here the harness runs natively or under an emulator
  (`runner`), reading and writing binary files (`aotsnn.runtime.harness`).

A target says what it needs (`requires`: a program on PATH or an absolute path, each with the
Debian package that provides it); one whose needs are not met here reports itself unavailable
with the reason, and the tests that need it skip with that reason.

This module imports neither jax nor TVM: the runtime uses it to check that an artifact was
built for the machine that loads it.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import shutil
from dataclasses import dataclass, field
from typing import Any

ARTIFACT_KINDS = ("library", "c-bundle")


@dataclass(frozen=True)
class Target:
    """What a target is: TVM target dict, toolchain, how to run its code here, tolerances.

    `machine` is the `platform.machine()` an artifact of this target runs on (None: the
    machine that built it, or any machine that has `runner`). rtol/atol are the tolerances of
    float32 state versus the JAX float64 reference after one step from the same state (see
    aotsnn.verify and docs/targets.md).

    C bundles: `cc`, `ar`, `cflags` and `ldflags` become the defaults of the bundle's Makefile;
    `platform` picks the harness's I/O ("posix" or "semihost"); `runner` is the command that
    executes the harness here (empty: run it directly); `kernel_checks` keeps TVM's argument
    checks in the kernels (off where code size matters); `size_tool` (binutils `size` for the
    target) reports code size and static RAM.

    `native_cpu`: compile for the CPU of the machine that builds (LLVM `mcpu`, its vector
    extensions); the artifact records the extensions and refuses to load on a CPU without them.
    `device`: where the kernels run, "cpu", "cuda" (an NVIDIA GPU: builds anywhere `requires`
    is met, runs only where aotsnn.runtime.cuda finds a GPU) or "opencl" (any OpenCL device:
    runs only where aotsnn.runtime.opencl finds one).
    """

    name: str
    description: str
    tvm_target: dict[str, Any]
    machine: str | None = None
    artifact: str = "library"
    cc: str = "gcc"
    cflags: tuple[str, ...] = ("-O2",)
    ar: str = "ar"
    ldflags: tuple[str, ...] = ()
    platform: str = "posix"
    runner: tuple[str, ...] = ()
    kernel_checks: bool = True
    size_tool: str = "size"
    requires: dict[str, str] = field(default_factory=dict)
    rtol: float = 1e-5
    atol: float = 1e-4
    native_cpu: bool = False
    device: str = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.artifact not in ARTIFACT_KINDS:
            raise ValueError(f"target '{self.name}': `artifact` must be one of {ARTIFACT_KINDS}, got {self.artifact!r}.")

    @property
    def nm_tool(self) -> str:
        """binutils `nm` for the target: `size_tool` with `size` replaced by `nm`."""
        return self.size_tool[:-len("size")] + "nm" if self.size_tool.endswith("size") else "nm"

    def missing(self) -> list[str]:
        """What this machine lacks to build and run the target: 'thing (apt-get install pkg)'."""
        absent = []
        for need, package in self.requires.items():
            found = os.path.exists(need) if os.path.isabs(need) else shutil.which(need) is not None
            if not found:
                absent.append(f"{need} ({'apt-get install ' + package if package else 'not installed'})")
        return absent

    def runs_here(self) -> tuple[bool, str]:
        """(can this machine build and execute the target's artifacts, why not)."""
        if self.machine is not None and self.machine != platform.machine():
            return False, f"target '{self.name}' runs on {self.machine}, this machine is {platform.machine()}"
        absent = self.missing()
        if absent:
            return False, f"target '{self.name}' needs {', '.join(absent)}"
        if self.device == "cuda":
            from aotsnn.runtime.cuda import cuda_devices
            found, why = cuda_devices()
            if not found:
                return False, f"target '{self.name}' runs on an NVIDIA GPU: {why}"
        if self.device == "opencl":
            from aotsnn.runtime.opencl import choose_device
            found, why = choose_device()
            if found is None:
                return False, f"target '{self.name}' runs on an OpenCL device: {why}"
        return True, ""

    def builds_here(self) -> tuple[bool, str]:
        """(can this machine build the target's artifacts, why not)."""
        absent = self.missing()
        return (False, f"target '{self.name}' needs {', '.join(absent)}") if absent else (True, "")


class TargetError(ValueError):
    """An unknown target, or an artifact loaded where its target cannot run."""


class TargetUnavailableError(RuntimeError):
    """A known target whose toolchain or emulator is missing on this machine."""


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


def require(name: str) -> Target:
    """The target `name`, or TargetUnavailableError saying what this machine lacks."""
    target = get(name)
    ok, why = target.runs_here()
    if not ok:
        raise TargetUnavailableError(why)
    return target
