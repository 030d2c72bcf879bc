"""Cross-check an artifact against the JAX reference of the same network.

Two comparisons from the same initial state on the same inputs:

1. One-step (pass/fail). At every step t the artifact's own state s_t (upcast) goes through the
   JAX step in float64 and the result is compared with the artifact's s_{t+1}: per leaf the max
   absolute and relative error, and for spike leaves the number of steps where a spike decision
   differs. This measures the arithmetic of the artifact without the amplification of a chaotic
   network. A leaf passes when |a - r| <= atol + rtol*|r| everywhere (tolerances from the
   target); spike decisions must all agree, except one that JAX at the artifact's precision
   makes too from the same state (decided by rounding at the threshold: aotsnn.verify.rounding),
   which is counted and shown.
2. Free run (informational, and the spike-train check). The artifact and `jax.jit(lax.scan)` of
   the network at the artifact's precision each run T steps alone; the report gives the spike
   counts, whether the trains are identical, and the first step and unit where they diverge, plus
   the state error at the end.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from aotsnn.network import Network
from aotsnn.runtime import Session
from aotsnn.runtime.format import numpy_dtype
from aotsnn.verify.onnx_check import OnnxRuntimeError, onnxruntime_steps
from aotsnn.verify.rounding import excuse_rounding

TIMED_RUNS = 3        # run() calls timed for steps/s; the best counts (the first pays cold caches)


@dataclass
class LeafError:
    name: str
    max_abs: float
    max_rel: float
    within_tolerance: bool
    spike_mismatches: int | None = None       # one-step spike decisions that differ (spike leaves)
    # per step: the largest |a - r| / (atol + rtol*|r|) over units (<= 1 passes); one-step checks only
    per_step: np.ndarray | None = field(default=None, repr=False, compare=False)
    rounded_spikes: int = 0                   # decisions that differ from float64 only by the precision (rounding.py)


@dataclass
class SpikeTrainCheck:
    name: str
    artifact_spikes: int
    reference_spikes: int
    identical: bool
    first_divergence: tuple[int, int] | None     # (step, flat unit index)


@dataclass
class EquivalenceReport:
    model: str
    target: str
    precision: str
    steps: int
    rtol: float
    atol: float
    one_step: list[LeafError] = field(default_factory=list)
    free_run: list[SpikeTrainCheck] = field(default_factory=list)
    free_run_state: list[LeafError] = field(default_factory=list)
    artifact_steps_per_second: float = 0.0
    onnxruntime: list[LeafError] | None = None   # step.onnx in onnxruntime, one step (None: not run)
    onnxruntime_note: str = ""                   # why onnxruntime did not run, when it could not
    free_run_digest: str = ""        # SHA-256 of the free run's final state and outputs (bit-level identity)

    @property
    def onnxruntime_passed(self) -> bool | None:
        """Whether onnxruntime's one-step results are within tolerance (informational; None: not run)."""
        if self.onnxruntime is None:
            return None
        return all(e.within_tolerance and not e.spike_mismatches for e in self.onnxruntime)

    @property
    def passed(self) -> bool:
        return all(e.within_tolerance and not e.spike_mismatches for e in self.one_step)

    def failures(self) -> list[str]:
        return [f"{e.name}: max abs {e.max_abs:.3g}, max rel {e.max_rel:.3g}"
                + (f", {e.spike_mismatches} spike decisions differ" if e.spike_mismatches else "")
                for e in self.one_step if not (e.within_tolerance and not e.spike_mismatches)]


def is_spike_leaf(name: str) -> bool:
    return name.rsplit(".", 1)[-1].endswith("spikes")


def leaf_error(name: str, got: np.ndarray, ref: np.ndarray, rtol: float, atol: float, *,
               over_time: bool = False, rounded_spikes: int = 0) -> LeafError:
    """The error of `got` against `ref`; with `over_time` (arrays (T, ...)) also the error of each step.
    Integer leaves (random keys, counters) must be equal: their tolerance is 0."""
    if np.asarray(ref).dtype.kind in "iu" or np.asarray(got).dtype.kind in "iu":
        rtol, atol = 0.0, 0.0
    got, ref = np.asarray(got, np.float64), np.asarray(ref, np.float64)
    diff = np.abs(got - ref)
    finite = np.isfinite(got) & np.isfinite(ref)
    bad_nonfinite = bool(np.any(np.isfinite(got) != np.isfinite(ref)))
    with np.errstate(over="ignore"):        # rel is read only where |ref| > atol
        rel = diff / np.maximum(np.abs(ref), np.finfo(np.float64).tiny)
    max_abs = float(diff[finite].max()) if finite.any() else 0.0
    max_rel = float(rel[finite & (np.abs(ref) > atol)].max()) if (finite & (np.abs(ref) > atol)).any() else 0.0
    ok = (not bad_nonfinite) and bool(np.all(diff[finite] <= atol + rtol * np.abs(ref[finite])))
    spikes = int(np.count_nonzero((got > 0.5) != (ref > 0.5))) if is_spike_leaf(name) else None
    per_step = None
    if over_time:
        tol = atol + rtol * np.abs(np.where(finite, ref, 0.0))
        exceeded = np.where(finite & (diff > 0), np.inf, 0.0)        # where the tolerance is 0
        ratio = np.divide(np.where(finite, diff, 0.0), tol, out=exceeded, where=finite & (tol > 0))
        ratio = np.where(np.isfinite(got) != np.isfinite(ref), np.inf, ratio)
        per_step = ratio.reshape(len(ratio), -1).max(axis=1) if ratio.size else np.zeros(len(ratio))
    return LeafError(name, max_abs, max_rel, ok, spikes, per_step, rounded_spikes)


def _from_storage(array: np.ndarray, precision: str) -> np.ndarray:
    """Artifact arrays as float64 (bfloat16 arrives as uint16 bits); integer leaves (random keys)
    keep their dtype."""
    if array.dtype.kind in "iub":
        return array
    if precision == "bfloat16":
        import ml_dtypes
        return array.view(ml_dtypes.bfloat16).astype(np.float64)
    return array.astype(np.float64)


def _to_storage(array: np.ndarray, precision: str) -> np.ndarray:
    if precision == "bfloat16":
        import ml_dtypes
        return np.asarray(array).astype(ml_dtypes.bfloat16).view(np.uint16)
    return np.asarray(array).astype(numpy_dtype(precision))


def run_digest(state: dict, outputs: dict) -> str:
    """SHA-256 of the bytes of a run's final state and outputs, leaves in name order."""
    digest = hashlib.sha256()
    for tree in (state, outputs):
        for name in sorted(tree):
            digest.update(name.encode() + np.ascontiguousarray(tree[name]).tobytes())
    return digest.hexdigest()


def artifact_trajectory(session, state0: dict, inputs: dict, steps: int) -> tuple[list[dict], list[dict]]:
    """([s_0 .. s_T], [outputs of each step]) of the artifact, one step per call from its own state.

    Sessions that run out of process (aotsnn.runtime.harness) provide `trajectory`, which does the
    same steps in one launch; others are stepped here.
    """
    if hasattr(session, "trajectory"):
        return session.trajectory(state0, inputs)
    states, outputs = [state0], []
    for t in range(steps):
        nxt, out = session.run(states[-1], {k: v[t:t + 1] for k, v in inputs.items()})
        states.append(nxt)
        outputs.append({k: v[0] for k, v in out.items()})
    return states, outputs


def compare(session: Session, net: Network, inputs: dict[str, np.ndarray], *, rtol: float | None = None,
            atol: float | None = None, state: dict[str, np.ndarray] | None = None) -> EquivalenceReport:
    """Run `session` and the JAX reference of `net` on `inputs` (name -> (T, batch, ...) floats)."""
    with jax.enable_x64(True):
        return _compare(session, net, inputs, rtol, atol, state)


def check_same_layout(session: Session, net: Network) -> None:
    """Raise ValueError when `net` is not the model the artifact was built from (names, shapes)."""
    expected = {"params": net.params, "state": net.init_state(), "inputs": net.example_inputs()}
    for group, tree in expected.items():
        mine = {k: tuple(np.shape(v)) for k, v in tree.items()}
        theirs = dict(session.layout[group])
        if mine != theirs:
            diff = sorted(set(mine.items()) ^ set(theirs.items()))[:4]
            raise ValueError(f"the model '{net.name}' does not match the artifact '{session.name}': its {group} "
                             f"differ ({', '.join(f'{k}{s}' for k, s in diff)}).")


REFERENCE_ELEMENTS = 2 ** 27     # about 1 GiB of float64 per chunk of one-step references


def reference_chunk(steps: int, params: dict) -> int:
    """How many one-step references to vmap at once: all of them for a small network; for a large
    one few enough that the per-synapse intermediates (about one value per parameter element
    per step) stay near REFERENCE_ELEMENTS."""
    elements = sum(int(np.size(v)) for v in params.values())
    return max(1, min(steps, REFERENCE_ELEMENTS // max(elements, 1)))


def _compare(session, net, inputs, rtol, atol, state) -> EquivalenceReport:
    check_same_layout(session, net)
    from aotsnn.targets import get as get_target

    target = get_target(session.artifact.manifest["target"]["name"])
    rtol = target.rtol if rtol is None else rtol
    atol = target.atol if atol is None else atol
    precision = session.precision
    steps = int(next(iter(inputs.values())).shape[0]) if inputs else 0
    stored_inputs = {k: _to_storage(v, precision) for k, v in inputs.items()}
    state0 = session.init_state() if state is None else state
    report = EquivalenceReport(net.name, target.name, precision, steps, rtol, atol)

    # The artifact, step by step (its state at every step), and as one call, timed (best of 3).
    states, outputs = artifact_trajectory(session, state0, stored_inputs, steps)
    timings = []
    for _ in range(TIMED_RUNS):
        start = time.perf_counter()
        final, run_out = session.run(state0, stored_inputs)
        timings.append(getattr(session, "last_run_seconds", None) or (time.perf_counter() - start))
    report.artifact_steps_per_second = steps / max(min(timings), 1e-12)
    report.free_run_digest = run_digest(final, run_out)

    # 1. One step in float64 from each of the artifact's states.
    params64 = {k: jnp.asarray(_from_storage(v, precision)) for k, v in session.params.items()}
    stack = lambda trees: {k: jnp.asarray(np.stack([_from_storage(t[k], precision) for t in trees])) for k in trees[0]}
    inputs64 = {k: jnp.asarray(_from_storage(v, precision)) for k, v in stored_inputs.items()}
    dtype = jnp.bfloat16 if precision == "bfloat16" else jnp.dtype(precision)
    cast = lambda tree: {k: jnp.asarray(_from_storage(v, precision)) if v.dtype.kind in "iub"
                         else jnp.asarray(_from_storage(v, precision), dtype) for k, v in tree.items()}
    if steps:
        chunk = reference_chunk(steps, params64)
        one_step = jax.jit(lambda s, x, p: jax.lax.map(lambda sx: net.apply(*sx, p), (s, x), batch_size=chunk))
        as_numpy = lambda trees: {k: np.asarray(v) for tree in trees for k, v in tree.items()}
        reference = as_numpy(one_step(stack(states[:-1]), inputs64, params64))
        got = as_numpy((stack(states[1:]), stack(outputs)))
        # the same step at the artifact precision, needed only when a spike decision differs (rounding.py)
        low = lambda: as_numpy(one_step(cast({k: np.stack([t[k] for t in states[:-1]]) for k in states[0]}),
                                        cast(stored_inputs), cast(session.params)))
        reference, rounded = excuse_rounding(got, reference, low, is_spike_leaf)
        for name in [n for n, _ in session.layout["state"]] + [n for n, _ in session.layout["outputs"]]:
            report.one_step.append(leaf_error(name, got[name], reference[name], rtol, atol, over_time=True,
                                              rounded_spikes=rounded.get(name, 0)))
        try:
            ort = onnxruntime_steps(session, states[:-1], stored_inputs)
        except OnnxRuntimeError as exc:
            ort, report.onnxruntime_note = None, str(exc)
        if ort is not None:
            report.onnxruntime = [leaf_error(name, values[name], reference[name], rtol, atol)
                                  for values in ort for name in values]

    # 2. Free run of the JAX reference at the artifact precision.
    ref_final, ref_run = jax.jit(lambda p, s, x: net.run(s, x, p))(
        cast(session.params), cast(state0), cast(stored_inputs))
    for name in [n for n, _ in session.layout["outputs"]] + [n for n, _ in session.layout["state"]]:
        if not is_spike_leaf(name) or name not in run_out:
            continue
        got, ref = run_out[name] > 0.5, np.asarray(ref_run[name], np.float64) > 0.5
        diverged = np.argwhere((got != ref).reshape(steps, -1))
        report.free_run.append(SpikeTrainCheck(name, int(got.sum()), int(ref.sum()), not len(diverged),
                                               tuple(int(x) for x in diverged[0]) if len(diverged) else None))
    for name in [n for n, _ in session.layout["state"]]:
        report.free_run_state.append(leaf_error(name, _from_storage(final[name], precision),
                                                np.asarray(ref_final[name], np.float64), rtol, atol))
    return report


def one_step_table(title: str, errors: list[LeafError]):
    """A rich table of one-step leaf errors: max abs/rel error, spike decisions, verdict."""
    from rich.table import Table

    table = Table(title=title)
    for col in ("leaf", "max abs err", "max rel err", "spike decisions differ", "ok"):
        table.add_column(col, justify="left" if col == "leaf" else "right")
    for e in errors:
        table.add_row(e.name, f"{e.max_abs:.3g}", f"{e.max_rel:.3g}",
                      "-" if e.spike_mismatches is None else
                      str(e.spike_mismatches) + (f" (+{e.rounded_spikes} by rounding)" if e.rounded_spikes else ""),
                      "yes" if e.within_tolerance and not e.spike_mismatches else "[red]NO[/red]")
    return table


def render(report: EquivalenceReport, console=None) -> None:
    """Print the report as tables (rich)."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    console.print(one_step_table(f"{report.model} on '{report.target}' ({report.precision}), {report.steps} steps: "
                                 f"one step from the artifact's state vs JAX float64 "
                                 f"(tolerance |err| <= {report.atol:g} + {report.rtol:g}*|ref|)", report.one_step))
    free = Table(title=f"free run, artifact vs jax.jit(lax.scan) at {report.precision}")
    for col in ("spike leaf", "artifact spikes", "reference spikes", "identical", "first divergence (step, unit)"):
        free.add_column(col, justify="left" if col == "spike leaf" else "right")
    for s in report.free_run:
        free.add_row(s.name, str(s.artifact_spikes), str(s.reference_spikes), "yes" if s.identical else "no",
                     "-" if s.first_divergence is None else str(s.first_divergence))
    console.print(free)
    end = Table(title="free run, final state vs the same reference")
    for col in ("state leaf", "max abs err", "max rel err"):
        end.add_column(col, justify="left" if col == "state leaf" else "right")
    for e in report.free_run_state:
        end.add_row(e.name, f"{e.max_abs:.3g}", f"{e.max_rel:.3g}")
    console.print(end)
    if report.onnxruntime is not None:
        console.print(one_step_table("step.onnx in onnxruntime (an independent implementation): one step from the "
                                     "artifact's state vs JAX float64, same tolerance (informational)",
                                     report.onnxruntime))
    elif report.onnxruntime_note:
        console.print(f"step.onnx in onnxruntime: not run ({report.onnxruntime_note})")
    console.print(f"artifact: {report.artifact_steps_per_second:,.0f} steps/s in one run() call; "
                  f"verdict: {'[green]PASS[/green]' if report.passed else '[red]FAIL[/red]: ' + '; '.join(report.failures())}")
