"""Compile for any target: the one entry point that picks the artifact kind from the target.

    compile_for(net, "net.aot", target="riscv64-linux")

"library" targets (host) go through `compile_network` (model.so, loaded by aotsnn.runtime);
"c-bundle" targets through `compile_bundle` (C sources + harness, run by aotsnn.runtime.harness).
"""
from __future__ import annotations

import os
from pathlib import Path

from aotsnn.export.artifact import compile_network
from aotsnn.export.cbundle import compile_bundle
from aotsnn.network import Network
from aotsnn.targets import get


def compile_for(net: Network, out: str | os.PathLike, *, target: str = "host", precision: str = "float32",
                source: str | None = None, progress=None) -> Path:
    """Compile `net` for `target` into the artifact directory `out`."""
    if get(target).artifact == "c-bundle":
        return compile_bundle(net, out, target=target, precision=precision, source=source)
    return compile_network(net, out, target=target, precision=precision, source=source, progress=progress)
