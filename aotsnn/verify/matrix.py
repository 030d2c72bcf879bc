"""The cross-target equivalence matrix: one network, every named target, one table.

    matrix = verify_targets(net, ["host", "c", "aarch64-linux", "riscv64-linux", "cortex-m"], inputs)
    render_matrix(matrix)

Each target is compiled (`aotsnn.export.compile_network`), run from the same initial state on the
same inputs, and checked by `aotsnn.verify.compare` against the JAX reference: per state leaf
and output the largest one-step error versus float64 (the pass/fail criterion, with the
target's tolerances), the free-run spike trains versus `jax.jit(lax.scan)` at the artifact
precision (identical, or the first step and unit where they diverge), the artifact's size and
its steps per second. A target this machine cannot build or run is listed with the reason.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from aotsnn.network import Network
from aotsnn.targets import Target, get
from aotsnn.verify.report import EquivalenceReport, compare


@dataclass
class TargetResult:
    target: str
    available: bool
    reason: str = ""                       # why the target is unavailable here
    report: EquivalenceReport | None = None
    artifact_bytes: int | None = None      # host: model.so; C bundle: code + constant data of the model
    artifact_what: str = ""
    runs_on: str = ""                      # "this CPU", or the emulator that ran it
    static_ram_bytes: int | None = None    # C bundles: state + workspace + the library's .data/.bss

    @property
    def passed(self) -> bool:
        return self.report is not None and self.report.passed


@dataclass
class TargetMatrix:
    model: str
    precision: str
    steps: int
    results: list[TargetResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every available target passes the one-step check."""
        return all(r.passed for r in self.results if r.available)

    def leaves(self) -> list[str]:
        for r in self.results:
            if r.report is not None:
                return [e.name for e in r.report.one_step]
        return []

    def error(self, target: str, leaf: str) -> tuple[float, float] | None:
        """(max abs, max rel) one-step error of `leaf` on `target`, None if not run."""
        for r in self.results:
            if r.target == target and r.report is not None:
                for e in r.report.one_step:
                    if e.name == leaf:
                        return e.max_abs, e.max_rel
        return None


def artifact_facts(path: Path, target: Target, manifest: dict) -> dict:
    """Size facts of a compiled artifact: what counts as its size, and static RAM for bundles."""
    if target.artifact == "library":
        return {"artifact_bytes": (path / "model.so").stat().st_size, "artifact_what": "model.so"}
    build = manifest["build"]
    prefix = build["prefix"]
    library = build["sizes"][f"lib{prefix}.a"]
    state_bytes = sum(int(np.prod(leaf["shape"], dtype=np.int64)) for leaf in manifest["layout"]["state"]) \
        * np.dtype(manifest["precision"]).itemsize
    return {"artifact_bytes": library["text"] + library["data"], "artifact_what": f"text+data of lib{prefix}.a",
            "static_ram_bytes": state_bytes + build["workspace_bytes"] + library["data"] + library["bss"]}


def verify_targets(net: Network, targets: Sequence[str], inputs: dict[str, np.ndarray], *,
                   precision: str = "float32", workdir: str | Path | None = None, progress=None) -> TargetMatrix:
    """Compile `net` for every target in `targets`, run each on `inputs` (name -> (T, batch, ...))
    and compare with the JAX reference. Artifacts go to `workdir` (default: a temporary one).
    `progress` (a rich Progress, optional) gets one task per target and the compile stages."""
    from aotsnn.export import compile_network
    from aotsnn.runtime.harness import load_any

    steps = int(next(iter(inputs.values())).shape[0]) if inputs else 0
    matrix = TargetMatrix(net.name, precision, steps)
    with tempfile.TemporaryDirectory(prefix="aotsnn-matrix-") as tmp:
        root = Path(workdir) if workdir is not None else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        for name in targets:
            target = get(name)
            ok, why = target.runs_here()
            if not ok:
                matrix.results.append(TargetResult(name, False, why))
                continue
            task = progress.add_task(f"{name}: compile, run, compare", total=3) if progress is not None else None
            path = compile_network(net, root / f"{net.name}-{name}.aot", target=name, precision=precision,
                               progress=progress)
            _advance(progress, task)
            session = load_any(path)
            _advance(progress, task)
            report = compare(session, net, inputs)
            _advance(progress, task)
            matrix.results.append(TargetResult(
                name, True, report=report, runs_on=runs_on(target),
                **artifact_facts(path, target, session.artifact.manifest)))
    return matrix


def runs_on(target) -> str:
    """Where a target's artifact ran here: its emulator, the OpenCL device, or this CPU."""
    if target.runner:
        return target.runner[0]
    if target.device == "opencl":
        from aotsnn.runtime.opencl import choose_device
        device, _ = choose_device()
        return f"OpenCL {device.kind} {device.platform}:{device.index}" if device is not None else "no OpenCL device"
    return "this CPU"


def _advance(progress, task) -> None:
    if progress is not None:
        progress.advance(task)


def _size(n: int | None) -> str:
    return "-" if n is None else f"{n / 1024:,.1f} KiB"


def render_matrix(matrix: TargetMatrix, console=None) -> None:
    """Print the matrix as one table (rich): rows are leaves and facts, columns are targets."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"{matrix.model} ({matrix.precision}), {matrix.steps} steps: one-step max abs / max rel "
                        f"error vs JAX float64, free run vs jax.jit(lax.scan)")
    table.caption = ("artifact size: model.so (library targets), code + constant data of the model library "
                     "(C bundles); static RAM: state + workspace + the library's data and bss (C bundles); "
                     "steps/s: best of 3 run() calls, emulated speed under qemu")
    table.add_column("leaf", no_wrap=True)
    for r in matrix.results:
        table.add_column(r.target, justify="right")
    for leaf in matrix.leaves():
        cells = []
        for r in matrix.results:
            err = matrix.error(r.target, leaf)
            cells.append("-" if err is None else f"{err[0]:.1e}/{err[1]:.1e}")
        table.add_row(leaf, *cells)
    first = next((r for r in matrix.results if r.report is not None), None)
    facts = {
        "spike trains": lambda r: ", ".join(
            "identical" if s.identical else f"{s.name} diverges at {s.first_divergence}" for s in r.report.free_run)
            if r.report.free_run else "-",
        f"same bits as {first.target if first else '-'}":
            lambda r: "yes" if r.report.free_run_digest == first.report.free_run_digest else "no",
        "artifact size": lambda r: _size(r.artifact_bytes),
        "static RAM": lambda r: _size(r.static_ram_bytes),
        "steps/s": lambda r: f"{r.report.artifact_steps_per_second:,.0f}",
        "runs on": lambda r: r.runs_on,
        "verdict": lambda r: "[green]PASS[/green]" if r.passed else "[red]FAIL[/red]",
    }
    table.add_section()
    for label, cell in facts.items():
        table.add_row(label, *(cell(r) if r.report is not None else ("unavailable" if label == "verdict" else "-")
                               for r in matrix.results))
    console.print(table)
    for r in matrix.results:
        if not r.available:
            console.print(f"[yellow]{r.target}[/yellow]: skipped, {r.reason}")
