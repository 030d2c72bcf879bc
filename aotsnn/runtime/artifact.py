"""Open an artifact directory: read the manifest, check version, hashes and target. numpy only."""
from __future__ import annotations

import json
import platform
from dataclasses import dataclass
from pathlib import Path

from aotsnn.runtime.format import FORMAT_VERSION, HASHED_FILES, MANIFEST, ArtifactError, sha256_of

REQUIRED_KEYS = ("format_version", "model", "dt", "precision", "target", "layout", "files")


@dataclass(frozen=True)
class Artifact:
    path: Path
    manifest: dict

    @property
    def library(self) -> Path:
        return self.path / "model.so"

    def file(self, name: str) -> Path:
        return self.path / name


def open_artifact(path: str | Path, *, check_hashes: bool = True) -> Artifact:
    """Validate and describe the artifact at `path`; raise ArtifactError saying what is wrong."""
    path = Path(path)
    if not (path / MANIFEST).is_file():
        raise ArtifactError(f"{path} is not an aotsnn artifact: {MANIFEST} is missing.")
    try:
        manifest = json.loads((path / MANIFEST).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path / MANIFEST} is corrupt: {exc}") from exc
    if not isinstance(manifest, dict) or any(k not in manifest for k in REQUIRED_KEYS):
        missing = [k for k in REQUIRED_KEYS if not isinstance(manifest, dict) or k not in manifest]
        raise ArtifactError(f"{path / MANIFEST} is incomplete: missing {', '.join(missing)}.")
    version = manifest["format_version"]
    if version != FORMAT_VERSION:
        raise ArtifactError(f"{path} has artifact format version {version!r}; this runtime reads version "
                            f"{FORMAT_VERSION}. Rebuild the artifact with a matching aotsnn.")
    target = manifest["target"]
    machine = target.get("machine") if isinstance(target, dict) else None
    if machine is not None and machine != platform.machine():
        raise ArtifactError(f"{path} was built for '{target.get('name')}' ({machine}) but loaded on "
                            f"{platform.machine()}; rebuild with the target for this machine.")
    if check_hashes:
        for name in HASHED_FILES:
            expected = manifest["files"].get(name)
            file = path / name
            if expected is None or not file.is_file():
                raise ArtifactError(f"{path}: {name} is missing from the artifact.")
            actual = sha256_of(file)
            if actual != expected:
                raise ArtifactError(f"{path}: {name} does not match its hash in the manifest (corrupt or "
                                    f"modified: expected {expected[:12]}..., got {actual[:12]}...).")
    return Artifact(path, manifest)
