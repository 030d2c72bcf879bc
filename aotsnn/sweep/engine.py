"""Running a plan on Dask: a LocalCluster of worker processes by default, or any cluster.

    results = run_sweep("net.aot", plan, "out/")                          # this machine, all cores
    results = run_sweep("net.aot", plan, "out/", scheduler="tcp://host:8786")
    results = run_sweep("net.aot", plan, "out/", client=existing_client)  # e.g. dask-jobqueue

The artifact is scattered once (its bytes, keyed by its content hash) to every worker, which
loads it once per process (aotsnn.sweep.worker). Runs that share parameters (all but the
artifact's per-sample ones) are packed up to the artifact's batch size into one call, and short calls are grouped into tasks (about four per
worker). Results are written as tasks finish, so an interrupted sweep
resumes with the runs it lacks; a task lost with a worker is rescheduled by Dask on another one.
"""
from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from aotsnn.runtime import load
from aotsnn.sweep.plan import Run, SweepPlan
from aotsnn.sweep.store import ResultStore
from aotsnn.sweep.worker import artifact_blob, artifact_digest, batch_of, per_sample_of, run_packs


def tasks(packs_: list[list[Run]], workers: int) -> list[list[list[Run]]]:
    """Packs grouped into tasks, about 4 per worker (so a slow or lost worker leaves others work):
    Dask costs milliseconds per task, as much as a short run, so short runs travel together."""
    per_task = max(1, len(packs_) // (4 * max(workers, 1)))
    return [packs_[i:i + per_task] for i in range(0, len(packs_), per_task)]


def packs(runs: list[Run], batch: int, per_sample: tuple[str, ...] = ()) -> list[list[Run]]:
    """Runs grouped by the parameters they share (in plan order), each group cut into packs of
    `batch`: runs that differ only in seeds or in the artifact's per-sample parameters share a call."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(repr(sorted((k, v) for k, v in run.params.items() if k not in per_sample)), []).append(run)
    return [group[i:i + batch] for group in groups.values() for i in range(0, len(group), batch)]




def run_sweep(artifact: str | Path, plan: SweepPlan, out: str | Path, *, client: Any = None,
              scheduler: str | None = None, workers: int | None = None, progress: bool = True,
              retries: int = 2) -> dict[str, np.ndarray]:
    """Run every run of `plan` not yet in `out`, then gather the table (see aotsnn.sweep.store).

    `client`: a dask.distributed Client to use; else `scheduler` (an address) to connect to; else
    a LocalCluster of `workers` processes (default: one per CPU, at most one per task) with one
    thread each, closed at the end. `retries`: re-runs of a task that raised (worker loss is
    handled by Dask itself).
    """
    from dask.distributed import Client, LocalCluster, as_completed

    session = load(artifact)
    plan = monitored(plan, [name for name, _ in session.layout["outputs"]], artifact)
    digest = artifact_digest(artifact)
    store = ResultStore(out, plan, digest)
    done = store.finished()
    todo = packs([r for r in plan.runs if r.run_id not in done], batch_of(session), per_sample_of(session))
    if todo:
        with ExitStack() as stack:
            if client is None:
                if scheduler is None:
                    count = max(1, min(workers or os.cpu_count() or 1, len(todo)))
                    cluster = stack.enter_context(LocalCluster(n_workers=count, threads_per_worker=1,
                                                               processes=True, dashboard_address=":0"))
                    client = stack.enter_context(Client(cluster))
                else:
                    client = stack.enter_context(Client(scheduler))
            blob = client.scatter(artifact_blob(artifact), broadcast=True, hash=False)
            workers_now = max(len(client.scheduler_info().get("workers", {})), 1)
            futures = [client.submit(run_packs, digest, blob, [[run_record(r) for r in pack] for pack in task],
                                     plan.steps, plan.inputs, plan.monitors,
                                     key=f"aotsnn-sweep-{digest[:8]}-{task[0][0].run_id}", retries=retries, pure=False)
                       for task in tasks(todo, workers_now)]
            with progress_bar(progress, len(plan.runs), len(plan.runs) - sum(map(len, todo))) as advance:
                for future in as_completed(futures):
                    records = future.result()
                    for record in records:
                        store.write(record)
                    advance(len(records))
    return store.gather()


def monitored(plan: SweepPlan, outputs: list[str], artifact: str | Path) -> SweepPlan:
    """`plan` with its monitors checked against the artifact's `outputs`; without monitors, every
    output summed over time (spike counts for spike outputs)."""
    if not plan.monitors:
        return SweepPlan(plan.runs, plan.steps, plan.inputs, {name: "sum" for name in outputs})
    unknown = set(plan.monitors) - set(outputs)
    if unknown:
        raise ValueError(f"sweep: monitors {sorted(unknown)} are not outputs of {artifact}; its outputs are "
                         f"{outputs}.")
    return plan


def run_record(run: Run) -> dict[str, Any]:
    return {"run_id": run.run_id, "params": run.params, "seed": run.seed}


class progress_bar:
    """A rich progress bar over runs (silent when `enabled` is False or rich is not installed)."""

    def __init__(self, enabled: bool, total: int, already: int) -> None:
        self.enabled, self.total, self.already = enabled, total, already

    def __enter__(self):
        self.bar = None
        if self.enabled:
            try:
                from rich.progress import Progress
            except ImportError:
                return lambda n: None
            self.bar = Progress(transient=False)
            self.bar.start()
            self.task = self.bar.add_task("sweep runs", total=self.total, completed=self.already)
            return lambda n: self.bar.advance(self.task, n)
        return lambda n: None

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
