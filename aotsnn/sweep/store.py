"""Where a sweep's results live, written run by run so an interrupted sweep loses nothing.

    <out>/plan.json         the plan and the artifact's content hash (a resume must match both)
    <out>/runs/<id>.npz     one finished run: status, message, one array per monitor
    <out>/results.npz       the gathered table (written by `gather`), one row per run in plan order:
                            "<leaf>" (runs, ...) float64 (NaN rows for runs that did not finish ok),
                            "param.<leaf>" (runs, ...) the parameter values, "seed", "status"
    <out>/index.json        run id, parameters, seed, status and message of every run
Every file is written atomically (a temporary file, then a rename), so a killed process leaves
whole files or none. Run files skip fsync (8 ms each here, more than a small run takes): after a
power loss one may be empty or missing, and then it is unreadable, so a resume runs it again.
numpy only.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from aotsnn.runtime.format import arrays_from_file, arrays_to_bytes, write_atomic
from aotsnn.sweep.plan import SweepPlan

STATUSES = ("ok", "failed", "non-finite")


class ResultStore:
    """The results directory of one plan on one artifact."""

    def __init__(self, out: str | Path, plan: SweepPlan, digest: str) -> None:
        self.out, self.plan, self.digest = Path(out), plan, digest
        self.runs_dir = self.out / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        described = json.dumps({"artifact": digest, **plan.describe()}, indent=1, sort_keys=True)
        plan_file = self.out / "plan.json"
        if plan_file.exists():
            previous = json.loads(plan_file.read_text())
            if previous.get("artifact") != digest:
                raise ValueError(f"sweep: {self.out} holds results of another artifact (seal "
                                 f"{previous.get('artifact')}); give a new output directory or remove it.")
        write_atomic(plan_file, described.encode())

    def path(self, run_id: str) -> Path:
        return self.runs_dir / f"{run_id}.npz"

    def finished(self) -> set[str]:
        """Run ids of this plan whose result file is complete and readable."""
        done = set()
        for run in self.plan.runs:
            try:
                arrays_from_file(self.path(run.run_id))
            except Exception:                       # missing, or cut short by a crash before the rename
                continue
            done.add(run.run_id)
        return done

    def write(self, record: dict[str, Any]) -> None:
        arrays = {"status": np.array(record["status"]), "message": np.array(record["message"]),
                  **{f"value.{k}": np.asarray(v) for k, v in record["values"].items()}}
        path = self.path(record["run_id"])
        partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        partial.write_bytes(arrays_to_bytes(arrays))
        os.replace(partial, path)

    def gather(self) -> dict[str, np.ndarray]:
        """The table of every run in plan order; also written to results.npz and index.json."""
        rows = [arrays_from_file(self.path(run.run_id)) for run in self.plan.runs]
        table: dict[str, np.ndarray] = {"seed": np.array([run.seed for run in self.plan.runs]),
                                        "status": np.array([str(r["status"]) for r in rows])}
        for leaf in self.plan.monitors:
            shape = next((r[f"value.{leaf}"].shape for r in rows if f"value.{leaf}" in r), ())
            table[leaf] = np.stack([r[f"value.{leaf}"] if f"value.{leaf}" in r else np.full(shape, np.nan)
                                    for r in rows]) if rows else np.zeros((0,))
        for name in sorted({k for run in self.plan.runs for k in run.params}):
            try:
                table[f"param.{name}"] = np.array([run.params.get(name, np.nan) for run in self.plan.runs], np.float64)
            except ValueError:                 # per-unit values of different shapes: index.json has them
                continue
        write_atomic(self.out / "results.npz", arrays_to_bytes(table))
        index = [{"id": run.run_id, "params": run.params, "seed": run.seed, "status": str(r["status"]),
                  "message": str(r["message"])} for run, r in zip(self.plan.runs, rows)]
        write_atomic(self.out / "index.json", json.dumps(index, indent=1).encode())
        return table
