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
import math
import os
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Mapping

import numpy as np

FORMAT_VERSION = 4     # 2: the manifest is sealed (manifest_sha256); 3: aotsnn_run takes `refresh`, aotsnn_threads;
                       # 4: model.so carries its identity (aotsnn_identity), the manifest the file sizes
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


def layout_fingerprint(layout: Mapping) -> str:
    """SHA-256 of every leaf's group, position, name, shape and dtype: the layout model.so was built for."""
    leaves = [[group, leaf["name"], list(leaf["shape"]), leaf["dtype"]]
              for group in ("params", "state", "inputs", "outputs") for leaf in layout[group]]
    return hashlib.sha256(json.dumps(leaves, separators=(",", ":")).encode()).hexdigest()


def library_identity(build: str, dt: float, precision: str, layout: Mapping) -> dict:
    """What model.so says about itself (the `aotsnn_identity` function returns it as JSON): its
    build hash (the manifest's `cache_key`), dt, precision, leaf order and layout fingerprint.
    `load` checks it against the manifest, so a library placed in another artifact is refused."""
    return {"build": build, "dt": dt, "precision": precision,
            "leaves": {group: [leaf["name"] for leaf in layout[group]] for group in ("params", "state", "inputs", "outputs")},
            "layout": layout_fingerprint(layout)}


# Integer dtypes a state leaf may have besides the artifact precision (aotsnn.network.INTEGER_STATE_DTYPES).
INTEGER_DTYPES = ("uint32", "int32")


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
    new contents survive a power loss; before that, `path` holds the old contents, whole. A
    symbolic link is written through (its target is replaced, the link stays); an existing file
    keeps its permission bits, a new one is private to its owner (0600).
    """
    path = Path(os.path.realpath(path)) if Path(path).is_symlink() else Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the directory {path.parent} does not exist.")
    mode = _mode_for(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
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


def _mode_for(path: Path) -> int:
    """The permission bits of the existing `path`; 0600 (private) for a new file."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return 0o600


def arrays_to_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v, order="C") for k, v in arrays.items()})
    return buffer.getvalue()


ALIGN = 64           # bytes: the alignment TVM's kernels assume for their tensors


def aligned_empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose data is 64-byte aligned (the kernels need it)."""
    dtype = np.dtype(dtype)
    count = math.prod(shape)
    raw = np.empty((count + 1) * dtype.itemsize + ALIGN, dtype=np.uint8)
    start = (-raw.__array_interface__["data"][0]) % ALIGN     # (ndarray.ctypes is slow per call)
    # One spare element: numpy moves the data pointer of an *empty* slice to its base, so a
    # zero-size array (a run of T = 0 steps) is cut from a non-empty, aligned one.
    return raw[start:start + (count + 1) * dtype.itemsize].view(dtype)[:count].reshape(shape)


def is_aligned(array: np.ndarray) -> bool:
    """C-contiguous with 64-byte aligned data: what the kernels take without a copy."""
    return array.flags.c_contiguous and array.__array_interface__["data"][0] % ALIGN == 0


def _read_member(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    """One .npy member read straight into an aligned array (one copy of the data in memory).

    numpy's own reader is used for anything but a plain C-order array (it refuses pickles);
    reading one byte past the data makes zipfile check the member's CRC.
    """
    if not name.endswith(".npy"):
        raise ValueError(f"member {name!r} is not an .npy array")
    with archive.open(name) as member:
        version = np.lib.format.read_magic(member)
        header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = header(member)
        if fortran_order or dtype.hasobject:
            with archive.open(name) as again:
                return np.lib.format.read_array(again, allow_pickle=False)
        out = aligned_empty(shape, dtype)
        view = memoryview(out.reshape(-1).view(np.uint8)) if out.size else memoryview(b"")
        if member.readinto(view) != view.nbytes or member.read(1):
            raise ValueError(f"member {name!r} does not hold {shape} values of {dtype}")
        return out


def arrays_from_file(path: Path) -> dict[str, np.ndarray]:
    """Read an .npz written by `arrays_to_bytes` into 64-byte aligned arrays; a corrupt file (or
    one that is not a regular file: a FIFO would block, a device never end) raises ArtifactError."""
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        regular = True          # missing or unreadable: np.load says why, below
    if not regular:
        raise ArtifactError(f"{path} is not a regular file (a device, FIFO, socket or directory); refusing to read it.")
    try:
        with zipfile.ZipFile(path) as archive:
            return {name[:-len(".npy")]: _read_member(archive, name) for name in archive.namelist()}
    except Exception as exc:
        # A damaged zip fails in many ways inside zipfile and numpy: BadZipFile (a bad CRC
        # included), NotImplementedError (a flipped compression method), zlib.error, EOFError,
        # ValueError (a bad .npy header), MemoryError (a huge shape read from a bad header).
        raise ArtifactError(f"{path} is not a readable array file: {exc}") from exc


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_run_size(outputs: list[tuple[str, tuple[int, ...]]], dtype: np.dtype, inputs: Mapping[str, np.ndarray],
                   steps: int) -> None:
    """Refuse a run of `steps` whose outputs, and the copies of its non-contiguous inputs, need
    more bytes than this machine has, before any pass over the inputs (a broadcast view can
    claim 10**10 steps at no cost; summing it would take minutes before the allocation fails)."""
    step_bytes = sum(math.prod(shape) for _, shape in outputs) * np.dtype(dtype).itemsize
    needed = steps * step_bytes + sum(v.nbytes for v in inputs.values() if not v.flags.c_contiguous)
    available = memory_bytes()
    if available is not None and needed > available:
        raise ValueError(f"a run of {steps} steps needs {needed} bytes for its outputs and input copies, more than "
                         f"this machine's {available} bytes of memory; run fewer steps per call.")
