"""Open an artifact directory: read the manifest, check version, hashes and target. numpy only."""
from __future__ import annotations

import json
import os
import platform
import stat
from dataclasses import dataclass
from pathlib import Path

from aotsnn.runtime.cpu import missing_flags
from aotsnn.runtime.cuda import cuda_devices
from aotsnn.runtime.opencl import choose_device
from aotsnn.runtime.format import (FORMAT_VERSION, HASHED_FILES, MANIFEST, SEAL, ArtifactError, manifest_digest,
                                   sha256_of)
from aotsnn.runtime.manifest import check_manifest

REQUIRED_KEYS = ("format_version", "model", "dt", "precision", "target", "layout", "files")


@dataclass(frozen=True)
class Artifact:
    path: Path
    manifest: dict
    hashes_checked: bool = True

    @property
    def library(self) -> Path:
        return self.path / "model.so"

    def file(self, name: str) -> Path:
        return self.path / name


def open_artifact(path: str | Path, *, check_hashes: bool = True) -> Artifact:
    """Validate and describe the artifact at `path`; raise ArtifactError saying what is wrong.

    Checks, in order: the manifest parses, has the required keys, the format version and the
    target machine match, its seal matches (a changed value), its fields have the types the
    runtime needs, this CPU has the vector extensions the kernels use (and a GPU is there for
    a cuda artifact, an OpenCL device for an opencl one), and every file matches its SHA-256. `check_hashes=False` skips the seal
    and the file hashes (trusting the files), never the rest.
    """
    path = Path(path)
    where = path / MANIFEST
    if not where.is_file():
        raise ArtifactError(f"{path} is not an aotsnn artifact: {MANIFEST} is missing.")
    try:
        manifest = json.loads(where.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:      # ValueError: bad JSON or UTF-8
        raise ArtifactError(f"{where} is corrupt: {exc}") from exc
    if not isinstance(manifest, dict) or any(k not in manifest for k in REQUIRED_KEYS):
        missing = [k for k in REQUIRED_KEYS if not isinstance(manifest, dict) or k not in manifest]
        raise ArtifactError(f"{where} is incomplete: missing {', '.join(missing)}.")
    version = manifest["format_version"]
    if version != FORMAT_VERSION:
        raise ArtifactError(f"{path} has artifact format version {version!r}; this runtime reads version "
                            f"{FORMAT_VERSION}. Rebuild the artifact with a matching aotsnn.")
    target = manifest["target"]
    machine = target.get("machine") if isinstance(target, dict) else None
    if machine is not None and machine != platform.machine():
        raise ArtifactError(f"{path} was built for '{target.get('name')}' ({machine}) but loaded on "
                            f"{platform.machine()}; rebuild with the target for this machine.")
    if check_hashes and manifest.get(SEAL) != manifest_digest(manifest):
        raise ArtifactError(f"{where} does not match its seal `{SEAL}` (corrupt or edited by hand); "
                            "rebuild the artifact.")
    check_manifest(manifest, str(where))
    if target.get("device") == "cuda":
        found, why = cuda_devices()
        if not found:
            raise ArtifactError(f"{path} runs on an NVIDIA GPU ('{target.get('name')}' target) and this machine "
                                f"has none it can use: {why}.")
    if target.get("device") == "opencl":
        device, why = choose_device()
        if device is None:
            raise ArtifactError(f"{path} runs on an OpenCL device ('{target.get('name')}' target) and this process "
                                f"can use none: {why}.")
    lacking = missing_flags(target.get("cpu_flags", []))
    if lacking:
        raise ArtifactError(f"{path} was compiled for CPU '{target.get('mcpu')}' and uses {', '.join(lacking)}, "
                            "which this CPU lacks; rebuild the artifact on this machine (or use the 'c' target).")
    for name in dict.fromkeys([*HASHED_FILES, *manifest["files"]]):
        _check_file(path, name, manifest.get("file_bytes", {}).get(name))
    if check_hashes:
        for name in dict.fromkeys([*HASHED_FILES, *manifest["files"]]):
            expected = manifest["files"].get(name)
            file = path / name
            if expected is None or not file.is_file():
                raise ArtifactError(f"{path}: {name} is missing from the artifact.")
            actual = sha256_of(file)
            if actual != expected:
                raise ArtifactError(f"{path}: {name} does not match its hash in the manifest (corrupt or "
                                    f"modified: expected {expected[:12]}..., got {actual[:12]}...).")
    return Artifact(path, manifest, check_hashes)


def _check_file(path: Path, name: str, max_bytes: int | None) -> None:
    """`name` (when present) is a regular file (not a device, FIFO, socket or directory, which
    could block or never end) of at most `max_bytes`; a missing file is reported later."""
    try:
        info = os.stat(path / name)         # follows a symbolic link to what it names
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read {name}: {exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ArtifactError(f"{path}: {name} is not a regular file (a device, FIFO, socket or directory); "
                            "refusing to read it.")
    if max_bytes is not None and info.st_size > max_bytes:
        raise ArtifactError(f"{path}: {name} has {info.st_size} bytes, more than the {max_bytes} the manifest "
                            "records; refusing to read it.")
