"""C sources compiled to position-independent objects in child processes, while TVM builds.

    with background_objects("gcc", [driver_c, thread_pool_c], ["-O2"], workdir) as objects:
        kernels = build_kernels(...)          # runs meanwhile, on the other core
    library.export_library(..., addons=objects.paths())   # links only

The host library's driver is generated before TVM compiles the kernels (it needs only the plan),
so `cc -c` of the driver (about 0.5 s for the demo, seconds for large constant tables) overlaps
TVM's scheduling, LLVM optimisation and object emission instead of following them.
"""
from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from aotsnn.export.errors import ExportError


class BackgroundObjects:
    """One `cc -c -fPIC` child process per source; `paths()` waits and returns the objects."""

    def __init__(self, cc: str, sources: Sequence[Path], flags: Sequence[str], workdir: Path) -> None:
        self._jobs = []
        for source in sources:
            obj = workdir / f"{Path(source).stem}.o"
            command = [cc, "-c", "-fPIC", *flags, str(source), "-o", str(obj)]
            try:
                process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            except OSError as exc:
                self.kill()
                raise ExportError(f"could not start the C compiler '{cc}': {exc}") from exc
            self._jobs.append((command, process, obj))

    def paths(self) -> list[str]:
        objects = []
        for command, process, obj in self._jobs:
            out, _ = process.communicate()
            if process.returncode != 0:
                self.kill()
                raise ExportError(f"compiling {command[-3]} failed ({' '.join(command)}):\n"
                                  f"{out.decode(errors='replace')}")
            objects.append(str(obj))
        return objects

    def kill(self) -> None:
        for _, process, _ in self._jobs:
            if process.poll() is None:
                process.kill()
                process.wait()


@contextmanager
def background_objects(cc: str, sources: Sequence[Path], flags: Sequence[str],
                       workdir: Path) -> Iterator[BackgroundObjects]:
    """Start compiling `sources`; on an exception inside the block the compilers are killed."""
    objects = BackgroundObjects(cc, sources, flags, workdir)
    try:
        yield objects
    except BaseException:
        objects.kill()
        raise
