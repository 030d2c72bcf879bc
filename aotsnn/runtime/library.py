"""Load an artifact's model.so from a private copy of the bytes that were checked, and check that
the library is the one its manifest describes. Standard library and tvm_ffi only.

Loading the shared library in place has three failure modes that a private copy removes:

1. Stale code. The dynamic loader matches libraries by path: after an artifact is recompiled
   at the same path, `dlopen` in a process that still has the old library returns the old one,
   which then runs under the new manifest (another dt, other shapes).
2. Crashes. A library overwritten in place while it is mapped changes under the running code
   (`cp new.so model.so` writes into the same file): the next call can segfault.
3. Check-then-use. The bytes hashed by `open_artifact` and the bytes mapped later need not be
   the same file contents.

So the bytes are read once (at most the size the manifest records), checked against the
manifest's SHA-256 and for ELF headers that fit the file (a truncated library would die of
SIGBUS inside the loader), written to a fresh file of their own (unique path), loaded from there
and unlinked; the mapping stays valid. A process that dies while loading leaves its private
directory behind (`aotsnn-lib-<pid>-*` in the temporary directory): the next load in any process
removes those of processes that no longer run. The library is unloaded again when the last
Session (and function) using it is gone. Where the temporary directory cannot hold executable
code (mounted noexec, not writable), the library is loaded in place.

Every library says what it was built for (`aotsnn_identity`: build hash, dt, precision, leaf
order, layout fingerprint); `check_identity` refuses one that does not match its manifest, so a
model.so moved into another artifact, or a resealed manifest that lies about dt or swaps leaf
names, is refused even with `check_hashes=False`.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import struct
import tempfile
from pathlib import Path
from typing import Mapping

import tvm_ffi

from aotsnn.runtime.format import ArtifactError, library_identity

SO_LOADER = "ffi.Module.load_from_file.so"
PRIVATE_PREFIX = "aotsnn-lib-"
PT_LOAD = 1


def load_library(path: Path, sha256: str | None, max_bytes: int | None = None) -> tvm_ffi.Module:
    """The module in `path`, from a private copy; `sha256` (if given) must match its bytes, and
    it must be at most `max_bytes` long (if given)."""
    data = _read(path, max_bytes)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ArtifactError(f"{path} changed after the artifact was checked; load the artifact again.")
    check_elf(path, data)
    remove_stale_copies()
    loader = tvm_ffi.get_global_func(SO_LOADER)
    try:
        with tempfile.TemporaryDirectory(prefix=f"{PRIVATE_PREFIX}{os.getpid()}-") as private:
            copy = Path(private) / path.name
            copy.write_bytes(data)
            return loader(str(copy), "so")
    except Exception as exc:       # whatever stopped the private copy, the file itself may still load
        private_error = exc
    try:
        return loader(str(path), "so")
    except Exception as exc:
        raise ArtifactError(f"{path}: cannot load the library: {exc}") from private_error


def _read(path: Path, max_bytes: int | None) -> bytes:
    """The bytes of `path`, refusing more than `max_bytes` (a file that grew after it was checked)."""
    with open(path, "rb") as handle:
        data = handle.read() if max_bytes is None else handle.read(max_bytes + 1)
    if max_bytes is not None and len(data) > max_bytes:
        raise ArtifactError(f"{path} changed after the artifact was checked (it has more than the {max_bytes} bytes "
                            "the manifest records); load the artifact again.")
    return data


def check_elf(path: Path, data: bytes) -> None:
    """Refuse bytes that are not an ELF file whose program and section headers, and the loaded
    segments they describe, lie inside the file (a truncated library is mapped past its end and
    the loader dies of SIGBUS)."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise ArtifactError(f"{path} is not a shared library (no ELF header); rebuild the artifact.")
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    header = struct.unpack_from(order + ("QQ" if wide else "II"), data, 32 if wide else 28)
    sizes = struct.unpack_from(order + "HHHH", data, 54 if wide else 42)       # phentsize, phnum, shentsize, shnum
    (phoff, shoff), (phentsize, phnum, shentsize, shnum) = header, sizes
    needed = max(phoff + phentsize * phnum, shoff + shentsize * shnum)
    if needed <= len(data):
        for i in range(phnum):
            kind, offset, filesz = _segment(data, order, wide, phoff + i * phentsize)
            if kind == PT_LOAD:
                needed = max(needed, offset + filesz)
    if needed > len(data):
        raise ArtifactError(f"{path} is truncated or damaged: its ELF headers describe {needed} bytes, the file has "
                            f"{len(data)}; rebuild the artifact.")


def _segment(data: bytes, order: str, wide: bool, at: int) -> tuple[int, int, int]:
    """(p_type, p_offset, p_filesz) of the program header at byte `at`."""
    if wide:
        kind, _, offset, _, _, filesz = struct.unpack_from(order + "IIQQQQ", data, at)
    else:
        kind, offset, _, _, filesz = struct.unpack_from(order + "IIIII", data, at)
    return kind, offset, filesz


def remove_stale_copies(directory: str | None = None) -> list[Path]:
    """Remove the private library directories of processes that no longer run (one that died while
    loading, e.g. of a crash in a damaged library); returns what was removed."""
    root = Path(directory or tempfile.gettempdir())
    removed = []
    try:
        candidates = list(root.glob(f"{PRIVATE_PREFIX}*-*"))
    except OSError:
        return removed
    for candidate in candidates:
        pid = candidate.name[len(PRIVATE_PREFIX):].partition("-")[0]
        if pid.isdigit() and not _running(int(pid)) and _owned(candidate):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:        # another user's process
        return True
    return True


def _owned(path: Path) -> bool:
    """`path` is a directory (not a link) of this user."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()


def check_identity(module: tvm_ffi.Module, manifest: Mapping, path: Path) -> None:
    """Refuse a library whose `aotsnn_identity` differs from what `manifest` describes."""
    where = path / "model.so"
    if not module.implements_function("aotsnn_identity"):
        raise ArtifactError(f"{where} does not say what it was built for (no aotsnn_identity: an older aotsnn or "
                            "another program built it); rebuild the artifact.")
    try:
        found = json.loads(str(module["aotsnn_identity"]()))
    except Exception as exc:
        raise ArtifactError(f"{where}: its identity is unreadable: {exc}") from exc
    expected = library_identity(manifest.get("cache_key"), manifest["dt"], manifest["precision"], manifest["layout"])
    for key in ("dt", "precision", "leaves", "layout", "build"):        # the most telling difference first
        want, got = expected[key], found.get(key) if isinstance(found, dict) else None
        if got != want:
            raise ArtifactError(f"{where} was not built for this manifest: {_difference(key, got, want)}; rebuild the "
                                "artifact (or restore its own model.so).")


def _difference(key: str, got: object, want: object) -> str:
    """What differs, in words: `dt is 0.2 ms in model.so, 0.1 ms in the manifest`."""
    if key == "leaves" and isinstance(got, dict):
        for group, names in want.items():
            mine = got.get(group)
            if mine != names:
                if isinstance(mine, list) and len(mine) == len(names):
                    i = next(i for i, (a, b) in enumerate(zip(mine, names)) if a != b)
                    return f"{group} leaf {i} is {mine[i]!r} in model.so, {names[i]!r} in the manifest"
                return f"its {group} leaves are {mine!r}, the manifest's {names!r}"
    unit = " ms" if key == "dt" else ""
    shown = {"build": "build hash (cache_key)", "layout": "layout fingerprint (leaf names, shapes, dtypes)"}.get(key, key)
    return f"{shown} is {got!r}{unit} in model.so, {want!r}{unit} in the manifest"
