"""`aotsnn verify`: an artifact, or a model on several targets, against the JAX reference."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from aotsnn.commands import paths
from aotsnn.commands.build import DEFAULT_MODEL, load_model
from aotsnn.commands.errors import EXIT_FAILED, EXIT_OK, CliError
from aotsnn.commands.inputs import inputs_for
from aotsnn.commands.progress import progress_bar, task


def cmd_verify(args) -> int:
    paths.output_dir(args.plot, "--plot")
    if args.targets is not None:
        return verify_matrix(args)
    if args.out_dir:
        raise CliError("--out-dir keeps the artifacts of --targets; add --targets, or drop --out-dir.")
    if not args.artifact:
        raise CliError("give an artifact to verify (aotsnn verify net.aot), or --targets to compile and verify "
                       "a model on several.")
    from aotsnn.commands.figures import DEFAULT_UNITS, print_figures, report_figure, run_figures
    from aotsnn.commands.recording import membrane_leaves, record
    from aotsnn.runtime.harness import load_any
    from aotsnn.runtime.manifest import input_kinds
    from aotsnn.verify import compare, render

    session = load_any(args.artifact)
    source = args.model or session.artifact.manifest.get("source")
    if not source:
        raise CliError("this artifact does not record its model; pass --model MODULE:FUNCTION.")
    net = load_model(source)
    inputs, steps, how = inputs_for(args, session.layout["inputs"], input_kinds(session.artifact.manifest),
                                    session.dt)
    with progress_bar(args.quiet) as progress:
        with task(progress, f"checking {session.name} against JAX float64 ({steps} steps)"):
            report = compare(session, net, inputs, rtol=args.rtol, atol=args.atol)
        rec = record(session, session.init_state(), inputs, steps, progress=progress, description=how,
                     trace=membrane_leaves([n for n, _ in session.layout["state"]])) if args.plot else None
    print(f"inputs: {how}")
    render(report)
    if args.plot:
        out = Path(args.plot)
        print_figures([*run_figures(rec, out, DEFAULT_UNITS), report_figure(report, session.dt, out / "errors.png")])
    return EXIT_OK if report.passed else EXIT_FAILED


def verify_matrix(args) -> int:
    """`verify --targets a,b,...`: compile the model for every target, one equivalence table."""
    from rich.console import Console

    from aotsnn.targets import get
    from aotsnn.verify import render_matrix, verify_targets

    if args.rtol is not None or args.atol is not None:
        raise CliError("--rtol/--atol apply to one artifact; with --targets each target has its own tolerance "
                       "(docs/targets.md), so drop them.")
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if not targets:
        raise CliError("--targets must name at least one target, e.g. --targets c,host (see aotsnn targets).")
    for name in targets:
        get(name)                           # unknown targets are refused before anything compiles
    paths.output_dir(args.out_dir, "--out-dir")
    source = args.model
    if source is None and args.artifact:
        from aotsnn.runtime.harness import open_any
        source = open_any(args.artifact).manifest.get("source")
    net = load_model(source or DEFAULT_MODEL)
    layout = [(n, (net.batch, *s)) for n, s in net.input_shapes.items()]
    inputs, steps, how = inputs_for(args, layout, {n: net.input_kind(n) for n in net.input_shapes}, net.dt)
    with progress_bar(args.quiet) as progress:
        matrix = verify_targets(net, targets, {k: np.asarray(v, np.float64) for k, v in inputs.items()},
                                workdir=args.out_dir, progress=progress)
    print(f"inputs: {how}")
    render_matrix(matrix, Console(width=max(Console().width, 40 + 22 * len(matrix.results))))
    if args.plot:
        from aotsnn.commands.figures import matrix_figures, print_figures
        print_figures(matrix_figures(matrix, net.dt, Path(args.plot)))
    return EXIT_OK if matrix.passed else EXIT_FAILED
