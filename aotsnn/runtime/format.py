"""The artifact format: a directory with a manifest, a shared library and its sources.

    <name>.aot/
      manifest.json     format version, model, dt, precision, target, layout, rules, hashes
      model.so          fused kernels + the C driver `aotsnn_run` (tvm_ffi calling convention)
      params.npz        parameter values at build time
      state.npz         the initial state
      step.stablehlo    jax.export serialization of the step (versioned StableHLO)
      step.mlir         the same, as text
      step.onnx         the same step as an ONNX model (inputs and outputs named by leaf)
      driver.c          the generated C driver (kept for inspection and the C targets)

Arrays of 16-bit float types are stored as uint16 bit patterns; the manifest has the dtype.
Shared by the writer (aotsnn.export) and the reader (aotsnn.runtime); numpy only.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
HASHED_FILES = ("model.so", "params.npz", "state.npz", "step.stablehlo", "step.mlir", "step.onnx", "driver.c")


class ArtifactError(RuntimeError):
    """An artifact is missing, corrupt, of another format version or for another target."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def numpy_dtype(dtype: str) -> np.dtype:
    """The numpy dtype that holds `dtype` (16-bit floats other than float16 as uint16)."""
    return np.dtype(np.uint16) if dtype == "bfloat16" else np.dtype(dtype)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename: a crash leaves the old file."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def arrays_to_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v, order="C") for k, v in arrays.items()})
    return buffer.getvalue()


def arrays_from_file(path: Path) -> dict[str, np.ndarray]:
    """Read an .npz written by `arrays_to_bytes`; a corrupt file raises ArtifactError."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise ArtifactError(f"{path} is not a readable array file: {exc}") from exc
