"""Load an artifact's model.so from a private copy of the bytes that were checked. Standard library
and tvm_ffi only.

Loading the shared library in place has three failure modes that a private copy removes:

1. Stale code. The dynamic loader matches libraries by path: after an artifact is recompiled
   at the same path, `dlopen` in a process that still has the old library returns the old one,
   which then runs under the new manifest (another dt, other shapes).
2. Crashes. A library overwritten in place while it is mapped changes under the running code
   (`cp new.so model.so` writes into the same file): the next call can segfault.
3. Check-then-use. The bytes hashed by `open_artifact` and the bytes mapped later need not be
   the same file contents.

So the bytes are read once, checked against the manifest's SHA-256, written to a fresh file of
their own (unique path), loaded from there and unlinked; the mapping stays valid. The library is
unloaded again when the last Session (and function) using it is gone, instead of staying
mapped for the life of the process. Where the temporary directory cannot hold executable code
(mounted noexec, not writable), the library is loaded in place.
"""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import tvm_ffi

from aotsnn.runtime.format import ArtifactError

SO_LOADER = "ffi.Module.load_from_file.so"


def load_library(path: Path, sha256: str | None) -> tvm_ffi.Module:
    """The module in `path`, from a private copy; `sha256` (if given) must match its bytes."""
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ArtifactError(f"{path} changed after the artifact was checked; load the artifact again.")
    loader = tvm_ffi.get_global_func(SO_LOADER)
    try:
        with tempfile.TemporaryDirectory(prefix="aotsnn-lib-") as private:
            copy = Path(private) / path.name
            copy.write_bytes(data)
            return loader(str(copy), "so")
    except Exception as exc:       # whatever stopped the private copy, the file itself may still load
        private_error = exc
    try:
        return loader(str(path), "so")
    except Exception as exc:
        raise ArtifactError(f"{path}: cannot load the library: {exc}") from private_error
