"""Long run: 10^6 steps of the demo E/I network in chunks, watching memory and NaN.

    python bench/long_run.py                       # compile build_ei_network(), 10^6 steps
    python bench/long_run.py --artifact net.aot --steps 20000 --chunk 20 --json

The state is carried from chunk to chunk through `Session.run`, as a deployed loop would. Every
chunk draws a fresh noisy drive (N(45, 25) pA, seeded), checks that the state and the outputs
are finite, and every `--report-every` steps a row records the resident set size (VmRSS from
/proc/self/status, so no psutil), its growth since the first report, the throughput and the
spikes. Exit status 1 on NaN/Inf. `--json` prints the rows as JSON on the last line
(tests/test_reliability_long.py uses it as a memory-leak guard).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def rss_mib() -> float:
    """Resident set size of this process [MiB], from /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("VmRSS is missing from /proc/self/status (Linux only).")


def storage(values: np.ndarray, precision: str) -> np.ndarray:
    """float64 values in the artifact's storage dtype (bfloat16 as uint16 bits)."""
    from aotsnn.runtime import bfloat16_bits

    return bfloat16_bits(values) if precision == "bfloat16" else values.astype(precision)


def all_finite(tree: dict, precision: str) -> bool:
    from aotsnn.runtime import bfloat16_values

    return all(np.all(np.isfinite(bfloat16_values(v) if precision == "bfloat16" else v)) for v in tree.values())


def long_run(session, steps: int, chunk: int, report_every: int, seed: int = 0) -> list[dict]:
    """Run `steps` steps in chunks of `chunk`; one row per `report_every` steps."""
    rng = np.random.default_rng(seed)
    state, rows = session.init_state(), []
    spikes, start, done, baseline = 0, time.perf_counter(), 0, None
    while done < steps:
        n = min(chunk, steps - done)
        drive = {name: storage(rng.normal(45.0, 25.0, (n, *shape)), session.precision)
                 for name, shape in session.layout["inputs"]}
        state, outputs = session.run(state, drive)
        done += n
        spikes += int(sum(np.count_nonzero(v) for k, v in outputs.items() if k.endswith("spikes")))
        finite = all_finite(state, session.precision) and all_finite(outputs, session.precision)
        if done % report_every == 0 or done == steps or not finite:
            rss = rss_mib()
            baseline = rss if baseline is None else baseline
            elapsed = time.perf_counter() - start
            rows.append({"steps": done, "seconds": round(elapsed, 2), "steps_per_second": round(done / elapsed),
                         "rss_mib": round(rss, 1), "rss_growth_mib": round(rss - baseline, 2),
                         "spikes": spikes, "finite": finite})
        if not finite:
            break
    return rows


def render(rows: list[dict]) -> str:
    head = f"{'steps':>9} {'seconds':>8} {'steps/s':>9} {'RSS MiB':>8} {'growth':>7} {'spikes':>9}  finite"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['steps']:>9} {r['seconds']:>8.2f} {r['steps_per_second']:>9} {r['rss_mib']:>8.1f} "
                     f"{r['rss_growth_mib']:>+7.2f} {r['spikes']:>9}  {r['finite']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", type=Path, help="an artifact to run (default: compile build_ei_network())")
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    parser.add_argument("--report-every", type=int, default=100_000)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON on the last line")
    args = parser.parse_args(argv)
    from aotsnn.runtime import load

    with tempfile.TemporaryDirectory() as workdir:
        path = args.artifact
        if path is None:
            from aotsnn.demo import build_ei_network
            from aotsnn.export import compile_network

            path = compile_network(build_ei_network(), Path(workdir) / "ei.aot")
        session = load(path)
        rows = long_run(session, args.steps, args.chunk, args.report_every)
    print(f"{session.name} ({session.precision}): {args.steps} steps in chunks of {args.chunk}")
    print(render(rows))
    if args.json:
        print(json.dumps(rows))
    return 0 if rows[-1]["finite"] else 1


if __name__ == "__main__":
    sys.exit(main())
