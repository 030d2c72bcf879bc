"""`aotsnn info` and `aotsnn targets` (thin runtime only)."""
from __future__ import annotations

import importlib.util
import json

from aotsnn.commands.errors import EXIT_OK

COMPILE_EXTRA = ("jax", "jaxlib", "tvm", "onnx", "onnxruntime", "rich")     # the [compile] extra's modules
INSTALL_COMPILE = 'pip install "aotsnn[compile]"'


def missing_compile_module() -> str | None:
    """The first module of the [compile] extra that is not installed here, or None."""
    for name in COMPILE_EXTRA:
        try:
            if importlib.util.find_spec(name) is None:
                return name
        except (ImportError, ValueError):
            return name
    return None


def compile_extra_error(command: str, module: str) -> str:
    """The one-line error of a command that needs the [compile] extra on a runtime-only install."""
    return (f"'aotsnn {command}' needs the [compile] extra (jax, TVM, ONNX, rich), and {module} is not "
            f"installed: {INSTALL_COMPILE}")


def _bundle_lines(build: dict) -> list[str]:
    """What a C bundle takes on the device: flash of lib<model>.a and how its parameters are stored
    (`build.sizes`, `build.param_storage`; absent in older bundles and in library artifacts)."""
    lines = []
    lib = next((v for k, v in build.get("sizes", {}).items() if k.endswith(".a")), None)
    if isinstance(lib, dict):
        lines.append(f"flash      {(lib.get('text', 0) + lib.get('data', 0)) / 1024:.1f} KiB (lib text + data), "
                     f"static data + bss {(lib.get('data', 0) + lib.get('bss', 0)) / 1024:.1f} KiB, "
                     f"arena {build.get('arena_bytes', 0) / 1024:.1f} KiB")
    storage = build.get("param_storage")
    if isinstance(storage, dict):
        kinds = [v.get("storage") for v in storage.values() if isinstance(v, dict)]
        values = sum(v.get("size", 0) for v in storage.values() if isinstance(v, dict))
        indices = f", {kinds.count('indices')} integer index arrays" if "indices" in kinds else ""
        lines.append(f"stored     {values} parameter values: {kinds.count('dense')} leaves dense, "
                     f"{kinds.count('packed')} packed at their mask's non-zeros, {kinds.count('compiled')} masks "
                     f"compiled in{indices}")
    return lines


def _leaf(leaf: dict, group: str, kinds: dict[str, str], precision: str) -> str:
    """name(shape), the input's kind, and the dtype of a leaf that is not in the precision (an integer)."""
    kind = f" {kinds[leaf['name']]}" if group == "inputs" else ""
    dtype = f" {leaf['dtype']}" if leaf.get("dtype", precision) != precision else ""
    return f"{leaf['name']}{tuple(leaf['shape'])}{dtype}{kind}"


def cmd_info(args) -> int:
    from aotsnn.runtime.harness import open_any
    from aotsnn.runtime.manifest import input_kinds

    m = open_any(args.artifact).manifest
    build = m["build"]          # checked to be an object with workspace_bytes; the other facts may be absent
    print(json.dumps(m, indent=2) if args.json else "\n".join([
        f"model      {m['model']} (dt = {m['dt']} ms, batch {m.get('batch')})",
        f"target     {m['target']['name']} {m['target'].get('tvm_target')}",
        f"precision  {m['precision']}",
        f"compiled   via {m.get('compile_path')}, {build.get('kernels', '?')} kernels, "
        f"{build.get('kernel_calls_per_step', '?')} calls/step, workspace {build['workspace_bytes']} bytes",
        *_bundle_lines(build),
        *[f"{group:<10} " + ", ".join(_leaf(leaf, group, input_kinds(m), m["precision"]) for leaf in m["layout"][group])
          for group in ("params", "state", "inputs", "outputs")]]))
    return EXIT_OK


def cmd_targets(args) -> int:
    from aotsnn.targets import registry

    missing = missing_compile_module()
    for target in registry().values():
        builds, why_not_built = target.builds_here()
        if missing is not None:         # every target compiles through jax and TVM
            builds, why_not_built = False, f"needs the [compile] extra ({missing} is not installed: {INSTALL_COMPILE})"
        runs, why_not_run = target.runs_here()
        print(f"{target.name:<16} {target.description}{target_note(builds, why_not_built, runs, why_not_run)}")
        if target.device == "opencl":
            print(opencl_listing())
    return EXIT_OK


def opencl_listing() -> str:
    """The OpenCL devices present, one line each as AOTSNN_OPENCL_DEVICE names them ("P:D"), the
    one an opencl artifact would run on marked; or why there are none."""
    from aotsnn.runtime.opencl import ENV, choose_device, opencl_devices

    devices, why = opencl_devices()
    if not devices:
        return f"{'':<17}OpenCL: {why}"
    chosen, why_not = choose_device()
    lines = [f"{'':<17}{'* ' if device == chosen else '  '}{device}" for device in devices]
    note = f"(* runs opencl artifacts; {ENV}=P:D picks another)" if chosen else f"({why_not})"
    return "\n".join([f"{'':<17}OpenCL devices {note}:", *lines])


def target_note(builds: bool, why_not_built: str, runs: bool, why_not_run: str) -> str:
    """What `aotsnn targets` adds after a target that cannot both build and run here."""
    if builds and runs:
        return ""
    if builds:
        return f"  (builds here; cannot run here: {why_not_run})"
    if runs:
        return f"  (runs here; cannot build here: {why_not_built})"
    return f"  (cannot build here: {why_not_built})"
