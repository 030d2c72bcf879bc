"""Speed per precision on the host: microseconds per step of run() for float32, float16, bfloat16, float64.

    python bench/precisions.py [--steps 1000]

Networks: the demo E/I network, COBA 4000 and the 784-512-10 feed-forward network
(aotsnn.workloads), each compiled once per precision, 1 thread, best (and median) of 5 runs.
Prints a markdown table (min/median us per step).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aotsnn import workloads  # noqa: E402
from aotsnn.demo import build_ei_network, demo_inputs  # noqa: E402
from aotsnn.export import compile_network  # noqa: E402
from aotsnn.runtime import bfloat16_bits, load  # noqa: E402

PRECISIONS = ("float32", "float16", "bfloat16", "float64")


def main() -> None:
    cli = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cli.add_argument("--steps", type=int, default=1000)
    steps = cli.parse_args().steps
    networks = {"demo E/I 300": (build_ei_network(), lambda net: demo_inputs(net, steps)),
                "COBA 4000": (workloads.coba_network(4000), lambda net: workloads.coba_inputs(net, steps)),
                "feed-forward 784-512-10": (workloads.feedforward_network(),
                                            lambda net: workloads.poisson_inputs(net, steps))}
    print("| network | " + " | ".join(PRECISIONS) + " |  (us per step, min / median of 5)")
    print("| --- |" + " ---: |" * len(PRECISIONS))
    with tempfile.TemporaryDirectory() as tmp:
        for name, (net, make_inputs) in networks.items():
            inputs, cells = make_inputs(net), []
            for precision in PRECISIONS:
                session = load(compile_network(net, Path(tmp) / f"{precision}.aot", precision=precision), threads=1)
                x = {k: bfloat16_bits(v) if precision == "bfloat16" else v.astype(precision) for k, v in inputs.items()}
                state = session.init_state()
                session.run(state, x)
                times = []
                for _ in range(5):
                    start = time.perf_counter()
                    session.run(state, x)
                    times.append(time.perf_counter() - start)
                cells.append(f"{min(times) / steps * 1e6:.1f} / {sorted(times)[2] / steps * 1e6:.1f}")
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
