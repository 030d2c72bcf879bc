"""The `aotsnn` command: demo, compile, run, verify, info, targets, sweep.

Commands that compile or verify need the [compile] extra (jax, TVM); `run`, `info` and
`targets` use only the thin runtime.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import time
from pathlib import Path

import numpy as np

from aotsnn.sweep.cli import add_sweep_parser

DEFAULT_MODEL = "aotsnn.demo:build_ei_network"
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
    return (f"error: 'aotsnn {command}' needs the [compile] extra (jax, TVM, ONNX, rich), and {module} is not "
            f"installed: {INSTALL_COMPILE}")


def load_model(spec: str):
    """`package.module:function` -> the Network that function returns."""
    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise SystemExit(f"error: model must be given as MODULE:FUNCTION, got {spec!r}.")
    sys.path.insert(0, str(Path.cwd()))
    try:
        factory = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise SystemExit(f"error: cannot import {spec!r}: {exc}") from exc
    return factory()


def read_inputs(path: str | None, session, steps: int, seed: int, scale: float) -> dict[str, np.ndarray]:
    """Inputs from an .npz (name -> (T, batch, ...)), or a reproducible random drive in [0, scale)."""
    if path:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(0, scale, size=(steps, *shape)) for name, shape in session.layout["inputs"]}


def cmd_demo(args) -> int:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from aotsnn.demo import build_ei_network, demo_inputs
    from aotsnn.export import compile_network
    from aotsnn.runtime import load
    from aotsnn.verify import compare, render

    console = Console()
    net = build_ei_network()
    n_units = sum(getattr(c, "n", 0) for c in net.components.values())
    console.print(f"[bold]aotsnn demo[/bold]: '{net.name}', {n_units} neurons, "
                  f"{len(net.components)} components, dt = {net.dt} ms, {args.steps} steps")
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as progress:
        path = compile_network(net, args.out, target="host", precision=args.precision, progress=progress)
    from aotsnn.runtime.artifact import open_artifact
    build = open_artifact(path).manifest["build"]
    console.print(f"artifact: {path}  ({build['kernels']} fused kernels, {build['kernel_calls_per_step']} calls/step, "
                  f"compiled in {build['compile_seconds']:.2f} s{', cache hit' if build['cache_hit'] else ''})")
    session = load(path)
    inputs = demo_inputs(net, args.steps)
    with console.status("running the artifact and the JAX reference"):
        report = compare(session, net, inputs)
    render(report, console)
    return 0 if report.passed else 1


def cmd_compile(args) -> int:
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from aotsnn.export import compile_for, compile_network
    from aotsnn.targets import get

    net = load_model(args.model)
    console = Console()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as progress:
        if get(args.target).artifact == "library":
            path = compile_network(net, args.output, target=args.target, precision=args.precision,
                                   use_cache=not args.no_cache, progress=progress, source=args.model)
        else:
            path = compile_for(net, args.output, target=args.target, precision=args.precision, source=args.model)
    console.print(f"wrote {path}")
    return 0


def cmd_run(args) -> int:
    from aotsnn.runtime.harness import load_any

    session = load_any(args.artifact)
    state = session.load_state(args.state) if args.state else session.init_state()
    raw = read_inputs(args.inputs, session, args.steps, args.seed, args.input_scale)
    inputs = {k: np.asarray(v).astype(session.dtype) for k, v in raw.items()}
    start = time.perf_counter()
    state, outputs = session.run(state, inputs, steps=None if inputs else args.steps)
    elapsed = time.perf_counter() - start
    steps = next(iter(outputs.values())).shape[0] if outputs else args.steps
    print(f"{session.name}: {steps} steps in {elapsed * 1e3:.2f} ms ({steps / max(elapsed, 1e-12):,.0f} steps/s)")
    for name, value in outputs.items():
        print(f"  {name}: total {float(np.sum(value.astype(np.float64))):g}")
    if args.save_state:
        session.save_state(state, args.save_state)
        print(f"state saved to {args.save_state}")
    return 0


def cmd_verify(args) -> int:
    if args.targets:
        return verify_matrix(args)
    if not args.artifact:
        raise SystemExit("error: give an artifact to verify, or --targets to compile and verify a model on several.")
    from aotsnn.runtime.harness import load_any
    from aotsnn.verify import compare, render

    session = load_any(args.artifact)
    source = args.model or session.artifact.manifest.get("source")
    if not source:
        raise SystemExit("error: this artifact does not record its model; pass --model MODULE:FUNCTION.")
    net = load_model(source)
    inputs = read_inputs(args.inputs, session, args.steps, args.seed, args.input_scale)
    report = compare(session, net, {k: np.asarray(v, np.float64) for k, v in inputs.items()},
                     rtol=args.rtol, atol=args.atol)
    render(report)
    return 0 if report.passed else 1


def verify_matrix(args) -> int:
    """`verify --targets a,b,...`: compile the model for every target, one equivalence table."""
    from types import SimpleNamespace

    from rich.console import Console

    from aotsnn.verify import render_matrix, verify_targets

    source = args.model
    if source is None and args.artifact:
        source = json.loads((Path(args.artifact) / "manifest.json").read_text()).get("source")
    net = load_model(source or DEFAULT_MODEL)
    shapes = SimpleNamespace(layout={"inputs": [(n, (net.batch, *s)) for n, s in net.input_shapes.items()]})
    inputs = read_inputs(args.inputs, shapes, args.steps, args.seed, args.input_scale)
    matrix = verify_targets(net, [t.strip() for t in args.targets.split(",") if t.strip()],
                            {k: np.asarray(v, np.float64) for k, v in inputs.items()}, workdir=args.out_dir)
    render_matrix(matrix, Console(width=max(Console().width, 40 + 22 * len(matrix.results))))
    return 0 if matrix.passed else 1


def cmd_info(args) -> int:
    from aotsnn.runtime.harness import open_any

    m = open_any(args.artifact).manifest
    build = m["build"]          # checked to be an object with workspace_bytes; the other facts may be absent
    print(json.dumps(m, indent=2) if args.json else "\n".join([
        f"model      {m['model']} (dt = {m['dt']} ms, batch {m.get('batch')})",
        f"target     {m['target']['name']} {m['target'].get('tvm_target')}",
        f"precision  {m['precision']}",
        f"compiled   via {m.get('compile_path')}, {build.get('kernels', '?')} kernels, "
        f"{build.get('kernel_calls_per_step', '?')} calls/step, workspace {build['workspace_bytes']} bytes",
        *[f"{group:<10} " + ", ".join(f"{l['name']}{tuple(l['shape'])}" for l in m["layout"][group])
          for group in ("params", "state", "inputs", "outputs")]]))
    return 0


def cmd_targets(args) -> int:
    from aotsnn.targets import registry

    missing = missing_compile_module()
    for target in registry().values():
        builds, why_not_built = target.builds_here()
        if missing is not None:         # every target compiles through jax and TVM
            builds, why_not_built = False, f"needs the [compile] extra ({missing} is not installed: {INSTALL_COMPILE})"
        runs, why_not_run = target.runs_here()
        print(f"{target.name:<16} {target.description}{target_note(builds, why_not_built, runs, why_not_run)}")
    return 0


def target_note(builds: bool, why_not_built: str, runs: bool, why_not_run: str) -> str:
    """What `aotsnn targets` adds after a target that cannot both build and run here."""
    if builds and runs:
        return ""
    if builds:
        return f"  (builds here; cannot run here: {why_not_run})"
    if runs:
        return f"  (runs here; cannot build here: {why_not_built})"
    return f"  (cannot build here: {why_not_built})"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="aotsnn", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="compile the demo E/I network, run it, print the equivalence report")
    demo.add_argument("--steps", type=int, default=1000)
    demo.add_argument("--out", default="demo.aot")
    demo.add_argument("--precision", default="float32")
    demo.set_defaults(func=cmd_demo, needs_compile=True)
    comp = sub.add_parser("compile", help="compile MODULE:FUNCTION (returning a Network) to an artifact")
    comp.add_argument("model")
    comp.add_argument("--target", default="host")
    comp.add_argument("-o", "--output", required=True)
    comp.add_argument("--precision", default="float32")
    comp.add_argument("--no-cache", action="store_true")
    comp.set_defaults(func=cmd_compile, needs_compile=True)
    for name, func, helptext in (("run", cmd_run, "run an artifact with the thin runtime"),
                                 ("verify", cmd_verify, "compare an artifact with the JAX reference")):
        c = sub.add_parser(name, help=helptext)
        c.add_argument("artifact", nargs="?" if name == "verify" else None)
        c.add_argument("--steps", type=int, default=1000)
        c.add_argument("--inputs", help=".npz of inputs, name -> (T, batch, ...); default: random drive")
        c.add_argument("--seed", type=int, default=0)
        c.add_argument("--input-scale", type=float, default=100.0, help="random drive is uniform in [0, scale)")
        if name == "run":
            c.add_argument("--state", help="start from a state saved with --save-state")
            c.add_argument("--save-state", help="write the final state here")
        else:
            c.add_argument("--model", help="MODULE:FUNCTION of the network (default: the one recorded at compile time)")
            c.add_argument("--rtol", type=float)
            c.add_argument("--atol", type=float)
            c.add_argument("--targets", help="comma-separated targets: compile the model (--model, the artifact's, "
                                              f"or {DEFAULT_MODEL}) for each and print one equivalence matrix")
            c.add_argument("--out-dir", help="with --targets: keep the artifacts here")
        c.set_defaults(func=func, needs_compile=name == "verify")
    info = sub.add_parser("info", help="describe an artifact")
    info.add_argument("artifact")
    info.add_argument("--json", action="store_true")
    info.set_defaults(func=cmd_info)
    sub.add_parser("targets", help="list compilation targets").set_defaults(func=cmd_targets)
    add_sweep_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    missing = missing_compile_module() if getattr(args, "needs_compile", False) else None
    if missing is not None:
        print(compile_extra_error(args.command, missing), file=sys.stderr)
        return 2
    from aotsnn.runtime.format import ArtifactError
    from aotsnn.targets import TargetUnavailableError
    try:
        return args.func(args)
    except (ArtifactError, TargetUnavailableError, ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
