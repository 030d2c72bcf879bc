"""`aotsnn run` (thin runtime only) and `aotsnn plot` (matplotlib)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from aotsnn.commands import paths
from aotsnn.commands.errors import EXIT_OK, CliError
from aotsnn.commands.inputs import inputs_for
from aotsnn.commands.progress import progress_bar
from aotsnn.commands.recording import (Recording, check_trace, load_recording, membrane_leaves, record, save,
                                       to_artifact)


def _trace_names(args, state_names: list[str]) -> list[str]:
    """The state leaves to record every step: --trace, by default the membrane potentials when
    --save-outputs is given; --trace without --save-outputs would be lost, so it is refused."""
    if args.trace is None:
        return membrane_leaves(state_names) if args.save_outputs else []
    if not args.save_outputs:
        raise CliError("--trace records state leaves into the --save-outputs file; add --save-outputs FILE.")
    return check_trace([n.strip() for n in args.trace.split(",") if n.strip()], state_names)


def summary(rec: Recording) -> list[str]:
    """One line per output: spikes and mean rate for spike leaves, mean and range for others."""
    lines = []
    for name, value in rec.outputs.items():
        if not value.size:
            lines.append(f"  {name}: no steps")
        elif not np.all(np.isfinite(value)):
            lines.append(f"  {name}: NOT FINITE ({int(np.count_nonzero(~np.isfinite(value)))} NaN/Inf values)")
        elif name.rsplit(".", 1)[-1].endswith("spikes"):
            rate = value.mean() * 1000.0 / rec.dt
            lines.append(f"  {name}: {int(value.sum())} spikes, mean rate {rate:.2f} Hz per unit")
        else:
            lines.append(f"  {name}: mean {value.mean():.4g}, min {value.min():.4g}, max {value.max():.4g}")
    return lines


def monitor_summary(name: str, value: np.ndarray, dt: float, every: int) -> str:
    """One line for a recorded monitor (aotsnn.runtime.monitors): what it holds, in numbers."""
    kind = name.rpartition(":")[2] if ":" in name else "dense"
    if kind == "count":
        return f"  {name}: {int(value.sum())} spikes over {value.size} units, most {int(value.max())} per unit"
    if kind == "rate":
        return (f"  {name}: {value.shape[0]} bins of {every * dt:g} ms, mean {value.mean():.2f} Hz, "
                f"max {value.max():.2f} Hz")
    if kind == "events":
        return f"  {name}: {len(value)} events (step, sample, unit)"
    return f"  {name}: {value.shape[0]} recorded steps (every {every}), mean {value.mean():.4g}"


def run_monitors(args, session, state, inputs, steps: int, how: str) -> int:
    """`aotsnn run --record`: chunked run with monitors; prints and saves only what was asked for."""
    import time

    if args.trace is not None:
        raise CliError("--trace records every step into --save-outputs; with --record, name state leaves as "
                       "outputs instead, or drop --record.")
    specs = [s.strip() for s in args.record.split(",") if s.strip()]
    start = time.perf_counter()
    try:
        final, recorded = session.run(state, {k: to_artifact(session, v) for k, v in inputs.items()} or None,
                                      steps=steps, record=specs, every=args.every)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    seconds = time.perf_counter() - start
    print(f"{session.name}: {steps} steps in {seconds * 1e3:.2f} ms ({steps / max(seconds, 1e-12):,.0f} steps/s), "
          f"recording {', '.join(specs)}")
    print(f"inputs: {how}")
    print("\n".join(monitor_summary(k, v, session.dt, args.every) for k, v in recorded.items()))
    if args.save_state:
        session.save_state(final, args.save_state)
        print(f"state saved to {args.save_state}")
    if args.save_outputs:
        np.savez(args.save_outputs, **recorded)
        print(f"monitors saved to {args.save_outputs} (keys: {', '.join(recorded)})")
    return EXIT_OK


def cmd_run(args) -> int:
    from aotsnn.runtime.harness import load_any
    from aotsnn.runtime.manifest import input_kinds

    paths.output_file(args.save_state, "--save-state")
    paths.output_file(args.save_outputs, "--save-outputs")
    session = load_any(args.artifact)
    if args.record:
        state = session.load_state(args.state) if args.state else session.init_state()
        inputs, steps, how = inputs_for(args, session.layout["inputs"], input_kinds(session.artifact.manifest),
                                        session.dt)
        return run_monitors(args, session, state, inputs, steps, how)
    trace = _trace_names(args, [n for n, _ in session.layout["state"]])
    state = session.load_state(args.state) if args.state else session.init_state()
    inputs, steps, how = inputs_for(args, session.layout["inputs"], input_kinds(session.artifact.manifest), session.dt)
    with progress_bar(args.quiet) as progress:
        rec = record(session, state, inputs, steps, trace=trace, progress=progress, description=how)
    stepped = " (one step per call, to record traces)" if trace else ""
    print(f"{session.name}: {steps} steps in {rec.seconds * 1e3:.2f} ms "
          f"({steps / max(rec.seconds, 1e-12):,.0f} steps/s){stepped}")
    print(f"inputs: {how}")
    lines = summary(rec)
    print("\n".join(lines))
    if any("NOT FINITE" in line for line in lines):
        print("aotsnn: warning: outputs hold NaN or Inf; check the inputs' scale (--current, --rate) and the "
              "parameters.", file=sys.stderr)
    if args.save_state:
        session.save_state(rec.final_state, args.save_state)
        print(f"state saved to {args.save_state}")
    if args.save_outputs:
        save(rec, args.save_outputs)
        print(f"outputs{' and traces of ' + ', '.join(trace) if trace else ''} saved to {args.save_outputs} "
              f"(plot them with: aotsnn plot {args.save_outputs})")
    return EXIT_OK


def cmd_plot(args) -> int:
    from aotsnn.commands.figures import parse_units, print_figures, run_figures

    units = parse_units(args.units)
    paths.output_dir(args.out, "-o")
    rec = load_recording(args.run)
    print_figures(run_figures(rec, Path(args.out), units))
    return EXIT_OK
