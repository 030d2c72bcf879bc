"""Write an artifact directory the same way for every target: stage, describe, seal, publish.

Both the library path (aotsnn.export.artifact.library) and the C-bundle path (aotsnn.export.artifact.bundle)
build their target-specific files into a staging directory next to `out`; this module writes
the files every artifact has (the StableHLO, ONNX, parameters and initial state), the sealed
manifest, and replaces `out` with one rename, so a reader never sees half an artifact.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

import aotsnn
from aotsnn.export.errors import ExportError
from aotsnn.export.frontend.lower import LoweredStep
from aotsnn.export.kernels.plan import dtype_numpy
from aotsnn.runtime.format import FORMAT_VERSION, MANIFEST, arrays_to_bytes, sealed_manifest, sha256_of, write_atomic


def to_precision(arrays: dict[str, np.ndarray], precision: str) -> dict[str, np.ndarray]:
    """Cast float64 arrays to the artifact precision; bfloat16 is stored as its uint16 bits.
    Integer arrays (random keys, counters) keep their dtype."""
    out = {}
    for k, v in arrays.items():
        v = np.asarray(v)
        if v.dtype.kind in "iub":
            out[k] = v
            continue
        cast = v.astype(dtype_numpy(precision))
        out[k] = cast.view(np.uint16) if precision == "bfloat16" else cast
    return out


def topology_hashes(lowered: LoweredStep) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(topology values in the artifact precision, their SHA-256) for kernels and the manifest."""
    topology = to_precision(lowered.topology, lowered.precision)
    return topology, {k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in topology.items()}


@contextmanager
def staging_for(out: Path) -> Iterator[Path]:
    """A fresh directory beside `out` (same file system, so publishing is one rename); removed
    afterwards unless it was published. Refuses to replace an `out` that is not an artifact."""
    if out.exists() and not (out.is_dir() and ((out / MANIFEST).is_file() or not any(out.iterdir()))):
        raise ExportError(f"{out} exists and is not an aotsnn artifact; refusing to replace it (choose another path).")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".aotsnn-", dir=out.parent))
    try:
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def write_model_files(staging: Path, lowered: LoweredStep, onnx_model: bytes) -> None:
    """The files every artifact carries: step.stablehlo/.mlir/.onnx, params.npz, state.npz."""
    (staging / "step.stablehlo").write_bytes(lowered.serialized)
    (staging / "step.mlir").write_text(lowered.stablehlo_text)
    (staging / "step.onnx").write_bytes(onnx_model)
    (staging / "params.npz").write_bytes(arrays_to_bytes(to_precision(lowered.params, lowered.precision)))
    (staging / "state.npz").write_bytes(arrays_to_bytes(to_precision(lowered.init_state, lowered.precision)))


def publish(staging: Path, out: Path, *, lowered: LoweredStep, target: dict,
            compile_path: str, source: str | None, topology: dict[str, str], facts: dict,
            files: list[str], extra: dict | None = None) -> Path:
    """Write the sealed manifest (hashing `files`) and move `staging` to `out`."""
    manifest = {
        "format_version": FORMAT_VERSION,
        "aotsnn_version": aotsnn.__version__,
        "model": lowered.name,
        "dt": lowered.dt,
        "batch": lowered.batch,
        "precision": lowered.precision,
        "target": target,
        "compile_path": compile_path,
        "source": source,
        **(extra or {}),
        "layout": {group: [leaf.to_json() for leaf in getattr(lowered.layout, group)]
                   for group in ("params", "state", "inputs", "outputs")},
        "input_kinds": lowered.input_kinds,   # for `aotsnn run`
        "param_rules": lowered.param_rules,
        "per_sample_params": list(lowered.per_sample),      # one value per sample: (batch, *shape)
        "topology": topology,
        "build": facts,
        "files": {name: sha256_of(staging / name) for name in files},
        "file_bytes": {name: (staging / name).stat().st_size for name in files},     # caps, even unhashed
    }
    write_atomic(staging / MANIFEST, sealed_manifest(manifest))
    if out.exists():
        shutil.rmtree(out)
    os.replace(staging, out)
    return out
