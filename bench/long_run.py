"""Long run: 10^6 steps of the demo E/I network in chunks, watching memory, speed and NaN.

    python bench/long_run.py                       # both demo drives, 10^6 steps each
    python bench/long_run.py --artifact net.aot --steps 20000 --chunk 20 --json

Without `--artifact`, the demo is compiled twice in a child process (so this process holds only
the thin runtime: numpy + tvm_ffi, no jax or TVM) and each artifact runs `--steps` steps:

- `internal`: `build_ei_network(drive="poisson")`, the Poisson drive inside the artifact, no inputs;
- `inputs`: `build_ei_network()`, its noisy drive (N(45, 25) pA, seeded) made with numpy for
  each chunk and passed in (streamed: `Session.run(state, function, steps=...)`).

Each run uses the runtime's monitors: `record=["exc.spikes:count", "inh.spikes:count"]`, chunks
of `--chunk` steps, so memory is one chunk's outputs plus the counts, whatever the length. Every
`--report-every` steps a row records the resident set size (VmRSS and the peak VmHWM from
/proc/self/status, so no psutil), its growth since the first report, the throughput (and, for
`inputs`, the throughput without the time spent drawing the inputs), the spikes and whether the
state is finite. Exit status 1 on NaN/Inf. `--json` prints the rows as JSON on the last line
(tests/test_reliability_long.py uses it as a memory-leak guard).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mib(field: str = "VmRSS") -> float:
    """Resident set size of this process [MiB] (`VmHWM`: its peak so far), from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"{field} is missing from /proc/self/status (Linux only).")


def storage(values: np.ndarray, precision: str) -> np.ndarray:
    """float64 values in the artifact's storage dtype (bfloat16 as uint16 bits)."""
    from aotsnn.runtime import bfloat16_bits

    return bfloat16_bits(values) if precision == "bfloat16" else values.astype(precision)


def all_finite(tree: dict, precision: str) -> bool:
    from aotsnn.runtime import bfloat16_values

    return all(np.all(np.isfinite(bfloat16_values(v) if precision == "bfloat16" else v)) for v in tree.values())


def long_run(session, steps: int, chunk: int, report_every: int, seed: int = 0) -> list[dict]:
    """Run `steps` steps (chunks of `chunk` inside `Session.run`); one row per `report_every` steps."""
    rng = np.random.default_rng(seed)
    drawing = [0.0]

    def drive(start: int, n: int) -> dict[str, np.ndarray]:
        began = time.perf_counter()
        made = {name: storage(rng.normal(45.0, 25.0, (n, *shape)), session.precision)
                for name, shape in session.layout["inputs"]}
        drawing[0] += time.perf_counter() - began
        return made

    record = [f"{name}:count" for name, _ in session.layout["outputs"] if name.endswith("spikes")]
    state, rows = session.init_state(), []
    spikes, start, done, baseline = 0, time.perf_counter(), 0, None
    while done < steps:
        n = min(report_every, steps - done)
        state, counts = session.run(state, drive if session.layout["inputs"] else None, steps=n, record=record,
                                    chunk=min(chunk, n))
        done += n
        spikes += int(sum(v.sum() for v in counts.values()))
        finite = all_finite(state, session.precision)
        rss = rss_mib()
        baseline = rss if baseline is None else baseline
        elapsed = time.perf_counter() - start
        rows.append({"steps": done, "seconds": round(elapsed, 2), "steps_per_second": round(done / elapsed),
                     "steps_per_second_running": round(done / max(elapsed - drawing[0], 1e-9)),
                     "rss_mib": round(rss, 1), "peak_rss_mib": round(rss_mib("VmHWM"), 1),
                     "rss_growth_mib": round(rss - baseline, 2), "spikes": spikes, "finite": finite})
        if not finite:
            break
    return rows


def render(rows: list[dict]) -> str:
    head = (f"{'steps':>9} {'seconds':>8} {'steps/s':>9} {'w/o draw':>9} {'RSS MiB':>8} {'peak':>7} {'growth':>7} "
            f"{'spikes':>9}  finite")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['steps']:>9} {r['seconds']:>8.2f} {r['steps_per_second']:>9} "
                     f"{r['steps_per_second_running']:>9} {r['rss_mib']:>8.1f} {r['peak_rss_mib']:>7.1f} "
                     f"{r['rss_growth_mib']:>+7.2f} {r['spikes']:>9}  {r['finite']}")
    return "\n".join(lines)


def build(directory: Path) -> None:
    """Compile the two demo artifacts (run in a child process: jax and TVM stay out of the runner)."""
    from aotsnn.demo import build_ei_network
    from aotsnn.export import compile_network

    compile_network(build_ei_network(drive="poisson"), directory / "internal.aot")
    compile_network(build_ei_network(), directory / "inputs.aot")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, help="an artifact to run (default: both demo drives)")
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--report-every", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON on the last line")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)      # the child process's job
    args = parser.parse_args(argv)
    if args.build is not None:
        build(args.build)
        return 0
    from aotsnn.runtime import load

    results = {}
    with tempfile.TemporaryDirectory() as workdir:
        if args.artifact is not None:
            paths = {"artifact": args.artifact}
        else:
            subprocess.run([sys.executable, __file__, "--build", workdir], check=True)
            paths = {"internal": Path(workdir) / "internal.aot", "inputs": Path(workdir) / "inputs.aot"}
        for label, path in paths.items():
            session = load(path)
            results[label] = long_run(session, args.steps, args.chunk, args.report_every)
            print(f"{label}: {session.name} ({session.precision}), {args.steps} steps in chunks of {args.chunk}, "
                  f"inputs: {', '.join(n for n, _ in session.layout['inputs']) or 'none (sources inside)'}")
            print(render(results[label]))
    if len(results) > 1:
        last = {label: rows[-1] for label, rows in results.items()}
        print(f"internal Poisson drive: {last['internal']['steps_per_second']} steps/s; inputs made per chunk: "
              f"{last['inputs']['steps_per_second']} steps/s ({last['inputs']['steps_per_second_running']} without "
              f"drawing them); peak RSS of this process {max(r['peak_rss_mib'] for r in last.values())} MiB")
    if args.json:
        print(json.dumps(results["artifact"] if "artifact" in results else results))
    return 0 if all(rows[-1]["finite"] for rows in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
