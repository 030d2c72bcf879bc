"""`aotsnn demo` and `aotsnn compile`: models to artifacts (need the [compile] extra)."""
from __future__ import annotations

import importlib
import sys
import urllib.parse
from pathlib import Path

from aotsnn.commands import paths
from aotsnn.commands.errors import EXIT_FAILED, EXIT_OK, CliError
from aotsnn.commands.progress import progress_bar

DEFAULT_MODEL = "aotsnn.demo:build_ei_network"


NIR_PREFIX = "nir:"
NIR_OPTIONS = ("dt", "integration", "reset", "time_unit")


def nir_spec(path: str, args) -> str:
    """The model string of a NIR graph with its options, recorded in the manifest as its source so
    that `aotsnn verify` rebuilds the same Network: nir:/abs/path.nir?dt=..&integration=..&..."""
    missing = [f"--{name.replace('_', '-')}" for name in ("dt", "integration", "reset") if getattr(args, name) is None]
    if missing:
        raise CliError(f"a NIR graph needs {', '.join(missing)}: NIR files store no step and no discretisation "
                       "(snnTorch's exporter assumes --dt 1e-4 --integration euler --reset subtract_pending).")
    query = urllib.parse.urlencode({name: getattr(args, name) for name in NIR_OPTIONS})
    return f"{NIR_PREFIX}{Path(path).resolve()}?{query}"


def refuse_nir_options(args) -> None:
    """--dt, --integration, --reset and --time-unit mean something only for a .nir model."""
    given = [f"--{name.replace('_', '-')}" for name in NIR_OPTIONS if getattr(args, name, None) not in (None, "s")]
    if given:
        raise CliError(f"{', '.join(given)}: only for a NIR graph (a .nir file), not for {args.model!r}; drop it.")


def load_nir(spec: str):
    """`nir:<path>?dt=..&integration=..&reset=..&time_unit=..` -> the Network aotsnn.nir builds."""
    location, _, query = spec[len(NIR_PREFIX):].partition("?")
    options = dict(urllib.parse.parse_qsl(query))
    try:
        from aotsnn.nir import from_nir
    except ImportError as exc:
        raise CliError(f"NIR graphs need the [nir] extra ({exc}): pip install \"aotsnn[nir]\"") from None
    try:
        return from_nir(location, dt=float(options["dt"]), integration=options["integration"],
                        reset=options["reset"], time_unit=options.get("time_unit", "s"))
    except (KeyError, ValueError, OSError) as exc:
        raise CliError(f"cannot build a network from the NIR graph {location}: {exc}") from None


def load_model(spec: str):
    """`package.module:function` -> the Network that function returns (the current directory is
    importable); `nir:...` (see `nir_spec`) -> the Network of a NIR graph."""
    if spec.startswith(NIR_PREFIX):
        return load_nir(spec)
    module_name, _, func_name = spec.partition(":")
    if not module_name or not func_name:
        raise CliError(f"the model must be given as MODULE:FUNCTION (a function returning a Network) or a .nir "
                       f"file, got {spec!r}.")
    sys.path.insert(0, str(Path.cwd()))
    try:
        factory = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        raise CliError(f"cannot import the model {spec!r} ({exc}); give MODULE:FUNCTION importable from the "
                       f"current directory.") from None
    from aotsnn.network import Network
    try:
        net = factory()
    except Exception as exc:            # noqa: BLE001 - the model's own code failed: say where, in one line
        raise CliError(f"{spec}() raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(net, Network):
        raise CliError(f"{spec} returned {type(net).__name__}, not an aotsnn Network.")
    return net


def cmd_compile(args) -> int:
    from aotsnn.export import compile_network
    from aotsnn.export.frontend.lower import check_precision
    from aotsnn.targets import get

    get(args.target)                    # an unknown target is refused before the model is built
    check_precision(args.precision)
    paths.output_artifact(args.output, "-o")
    if args.model.endswith(".nir"):
        args.model = nir_spec(args.model, args)
    else:
        refuse_nir_options(args)
    net = load_model(args.model)
    with progress_bar(args.quiet) as progress:
        if args.no_cache and get(args.target).artifact != "library":
            raise CliError(f"--no-cache applies to library targets; '{args.target}' bundles are always "
                           f"built afresh, so drop --no-cache.")
        path = compile_network(net, args.output, target=args.target, precision=args.precision,
                               use_cache=not args.no_cache, progress=progress, source=args.model)
    print(f"wrote {path}")
    return EXIT_OK


def cmd_demo(args) -> int:
    from rich.console import Console

    from aotsnn.commands.figures import DEFAULT_UNITS, print_figures, report_figure, run_figures
    from aotsnn.commands.recording import membrane_leaves, record
    from aotsnn.demo import build_ei_network, demo_inputs
    from aotsnn.export import compile_network
    from aotsnn.runtime import load
    from aotsnn.runtime.artifact import open_artifact
    from aotsnn.verify import compare, render

    if args.steps < 1:
        raise CliError(f"--steps must be at least 1 for the demo, got {args.steps}.")
    paths.output_artifact(args.out, "--out")
    paths.output_dir(args.plots, "--plots")
    console = Console()
    net = build_ei_network()
    n_units = sum(getattr(c, "n", 0) for c in net.components.values())
    console.print(f"[bold]aotsnn demo[/bold]: '{net.name}', {n_units} neurons, "
                  f"{len(net.components)} components, dt = {net.dt} ms, {args.steps} steps")
    with progress_bar(args.quiet) as progress:
        path = compile_network(net, args.out, target="host", precision=args.precision, progress=progress)
        build = open_artifact(path).manifest["build"]
        session = load(path)
        inputs = demo_inputs(net, args.steps)
        report = compare(session, net, inputs)
        rec = record(session, session.init_state(), inputs, args.steps,
                     trace=membrane_leaves([n for n, _ in session.layout["state"]]), progress=progress,
                     description="noisy currents N(45, 25) pA")
    console.print(f"artifact: {path}  ({build['kernels']} fused kernels, {build['kernel_calls_per_step']} calls/step, "
                  f"compiled in {build['compile_seconds']:.2f} s{', cache hit' if build['cache_hit'] else ''})")
    render(report, console)
    if args.plots:
        out = Path(args.plots)
        print_figures([*run_figures(rec, out, DEFAULT_UNITS), report_figure(report, net.dt, out / "errors.png")],
                      console)
    return EXIT_OK if report.passed else EXIT_FAILED
