"""The artifact format: a directory with a manifest, a shared library and its sources.

    <name>.aot/
      manifest.json     format version, model, dt, precision, target, layout, rules, hashes
      model.so          fused kernels + the C driver `aotsnn_run` (tvm_ffi calling convention)
      params.npz        parameter values at build time
      state.npz         the initial state
      step.stablehlo    jax.export serialization of the step (versioned StableHLO)
      step.mlir         the same, as text
      step.onnx         the same step as an ONNX model (inputs and outputs named by leaf)
      driver.c          the generated C driver (kept for inspection and the C targets);
                        driver.cu for cuda: TVM's CUDA kernels and the CUDA driver

Arrays of 16-bit float types are stored as uint16 bit patterns; the manifest has the dtype.
The manifest seals itself: `manifest_sha256` is the SHA-256 of its canonical JSON (sorted keys,
no whitespace) without that key, so a changed value is refused like a changed file.
Shared by the writer (aotsnn.export) and the reader (aotsnn.runtime); numpy only.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

FORMAT_VERSION = 3     # 2: the manifest is sealed (manifest_sha256); 3: aotsnn_run takes `refresh`, aotsnn_threads
MANIFEST = "manifest.json"
# Every library artifact has these; the manifest may list more (the driver source: driver.c, or
# driver.cu for cuda), and every listed file is checked too.
HASHED_FILES = ("model.so", "params.npz", "state.npz", "step.stablehlo", "step.mlir", "step.onnx")
SEAL = "manifest_sha256"


class ArtifactError(RuntimeError):
    """An artifact is missing, corrupt, of another format version or for another target."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_digest(manifest: Mapping) -> str:
    """SHA-256 of the canonical JSON of `manifest` without its seal."""
    body = {k: v for k, v in manifest.items() if k != SEAL}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def sealed_manifest(manifest: Mapping) -> bytes:
    """The bytes of manifest.json: `manifest` plus its seal, indented for people to read."""
    return json.dumps({**manifest, SEAL: manifest_digest(manifest)}, indent=2).encode()


def numpy_dtype(dtype: str) -> np.dtype:
    """The numpy dtype that holds `dtype` (16-bit floats other than float16 as uint16)."""
    return np.dtype(np.uint16) if dtype == "bfloat16" else np.dtype(dtype)


def bfloat16_bits(values: object) -> np.ndarray:
    """bfloat16 bit patterns (uint16) of `values`, rounded once to nearest even from their precision.

    float16 and float32 values are exact in float32 and round from there. Wider values (float64,
    integers, Python numbers) first go to float32 rounded to odd, then to bfloat16 to nearest even:
    float32 keeps 16 more bits than bfloat16, so this equals one correct rounding of the float64
    value (going through float32 to nearest even would round twice and can miss a value just above
    a bfloat16 tie, e.g. 1 + 2**-8 + 2**-30). The same bits as `ml_dtypes`; beyond bfloat16's range
    is Inf; NaN stays a quiet NaN of the same sign.
    """
    array = np.asarray(values)
    single = array.astype(np.float32) if array.dtype in (np.float16, np.float32) else \
        _float32_rounded_to_odd(array.astype(np.float64))
    bits = single.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    quiet_nan = (bits >> 16) | 0x0040
    return np.where(np.isnan(single), quiet_nan, rounded).astype(np.uint16)


def _float32_rounded_to_odd(wide: np.ndarray) -> np.ndarray:
    """float64 -> float32 rounded to odd: truncate toward zero, then set the last bit if inexact.

    Beyond float32's range this gives the largest float32 with its last bit set (odd), which
    bfloat16's nearest-even rounding then takes to Inf, as a direct rounding would.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        nearest = wide.astype(np.float32)
        inexact = np.isfinite(wide) & (nearest.astype(np.float64) != wide)
        too_far = inexact & (np.abs(nearest.astype(np.float64)) > np.abs(wide))
    truncated = np.where(too_far, np.nextafter(nearest, np.float32(0)), nearest)
    return (truncated.view(np.uint32) | inexact.astype(np.uint32)).view(np.float32)


def bfloat16_values(bits: np.ndarray) -> np.ndarray:
    """The float32 values of bfloat16 bit patterns (exact: bfloat16 is float32's upper half)."""
    return (np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file and a rename: a crash leaves the old file.

    The file is fsynced before the rename and the directory after it, so once this returns the
    new contents survive a power loss; before that, `path` holds the old contents, whole.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the directory {path.parent} does not exist.")
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
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def arrays_to_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v, order="C") for k, v in arrays.items()})
    return buffer.getvalue()


def arrays_from_file(path: Path) -> dict[str, np.ndarray]:
    """Read an .npz written by `arrays_to_bytes`; a corrupt file raises ArtifactError."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except Exception as exc:
        # A damaged zip fails in many ways inside zipfile and numpy: BadZipFile (a bad CRC
        # included), NotImplementedError (a flipped compression method), zlib.error, EOFError,
        # ValueError (a bad .npy header), MemoryError (a huge shape read from a bad header).
        raise ArtifactError(f"{path} is not a readable array file: {exc}") from exc
