"""Flash and static RAM of the C bundles: the demo and every conformance network on every C target.

    python bench/bundle_sizes.py [network ...]       # default: demo and all conformance networks

Prints a markdown table, KiB: flash = text + data of `lib<model>.a` by the target's `size`;
static RAM = data + bss of the library (the arena included) + the `<model>_state` struct's
state and workspace; "stored" = the parameter values compiled in (build.param_storage: dense,
packed at a mask's non-zeros, or none). Targets whose toolchain is missing are left out.
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_conformance import NETWORKS  # noqa: E402 - the conformance networks live with their test

from aotsnn.demo import build_ei_network  # noqa: E402
from aotsnn.export import compile_network  # noqa: E402
from aotsnn.targets import get  # noqa: E402

TARGETS = ("c", "aarch64-linux", "riscv64-linux", "cortex-m")
KIB = 1024


def sizes(artifact: Path) -> tuple[float, float, float, float]:
    """(flash, static RAM, arena, stored parameters) of a bundle artifact, KiB."""
    manifest = json.loads((artifact / "manifest.json").read_text())
    build = manifest["build"]
    lib = next(v for k, v in build["sizes"].items() if k.endswith(".a"))
    itemsize = np.dtype(manifest["precision"]).itemsize
    state = sum(itemsize * int(np.prod(leaf["shape"])) for leaf in manifest["layout"]["state"])
    stored = sum(v["size"] for v in build["param_storage"].values()) * itemsize
    return ((lib["text"] + lib["data"]) / KIB, (lib["data"] + lib["bss"] + state + build["workspace_bytes"]) / KIB,
            build["arena_bytes"] / KIB, stored / KIB)


def main(names: list[str]) -> None:
    networks = {"demo": build_ei_network, **NETWORKS}
    targets = [t for t in TARGETS if get(t).runs_here()[0]]
    print("| network | stored params | " + " | ".join(f"{t} flash / RAM (arena)" for t in targets) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in targets) + " |")
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or list(networks):
            cells, stored = [], 0.0
            for target in targets:
                flash, ram, arena, stored = sizes(compile_network(networks[name](), Path(tmp) / f"{name}-{target}.aot",
                                                                  target=target))
                cells.append(f"{flash:.1f} / {ram:.1f} ({arena:.1f})")
            print(f"| `{name}` | {stored:.1f} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
