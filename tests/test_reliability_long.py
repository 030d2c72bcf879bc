"""Long runs: no memory growth and no NaN over many chunked calls (bench/long_run.py in a
subprocess, so pytest's own memory does not blur the measurement), and somas that stay finite
under extreme input currents through a compiled artifact, in float32 and float16."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from aotsnn.components.somas import (AdaptiveExponentialSoma, ExponentialSoma, RefractoryExponentialSoma,
                                     SimplifiedAdaptiveExponentialSoma)
from aotsnn.network import Network
from aotsnn.runtime import load

LONG_RUN = Path(__file__).resolve().parent.parent / "bench" / "long_run.py"
RSS_GROWTH_BOUND_MIB = 2.0


def test_twenty_thousand_steps_in_a_thousand_calls_do_not_grow_memory(small_artifact):
    """20,000 steps in chunks of 20 (1,000 runs, each allocating its inputs, outputs and state
    copies): the resident set after the first 2,000 steps must not grow by more than 2 MiB
    (leaking one chunk's outputs per call would add ~4 MiB), and nothing may become NaN."""
    result = subprocess.run([sys.executable, str(LONG_RUN), "--artifact", str(small_artifact), "--steps", "20000",
                             "--chunk", "20", "--report-every", "2000", "--json"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(result.stdout.strip().splitlines()[-1])
    assert [r["steps"] for r in rows] == list(range(2000, 20001, 2000))
    assert all(r["finite"] for r in rows)
    assert rows[-1]["spikes"] > 0
    growth = rows[-1]["rss_mib"] - rows[0]["rss_mib"]
    assert growth < RSS_GROWTH_BOUND_MIB, f"RSS grew by {growth:.2f} MiB:\n{result.stdout}"


PEAK_RSS_BOUND_MIB = 200.0


def test_a_million_steps_of_the_demo_with_internal_poisson_drive_stay_under_200_mib():
    """Issue 14's bound: 10^6 steps of the demo with its Poisson drive inside the artifact and a
    spike-count monitor (and the same with inputs streamed per chunk) in a process that holds only
    the runtime: peak RSS under 200 MiB, finite, spiking."""
    result = subprocess.run([sys.executable, str(LONG_RUN), "--json"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(runs) == ["inputs", "internal"]
    for label, rows in runs.items():
        assert rows[-1]["steps"] == 1_000_000 and rows[-1]["finite"] and rows[-1]["spikes"] > 10**6, label
        assert rows[-1]["peak_rss_mib"] < PEAK_RSS_BOUND_MIB, f"{label}:\n{result.stdout}"


SOMAS = (ExponentialSoma, RefractoryExponentialSoma, AdaptiveExponentialSoma, SimplifiedAdaptiveExponentialSoma)


def soma_network() -> Network:
    """Every soma type, six units each, all driven by one external current [pA]."""
    net = Network("somas", dt=0.1)
    net.add_input("drive", (6,))
    for cls in SOMAS:
        name = cls.__name__.removesuffix("ExponentialSoma").lower() or "exponential"
        net.add(cls(name, 6))
        net.connect("drive", f"{name}.i")
        net.record(f"{name}.spikes", f"{name}.v")
    return net


@pytest.fixture(scope="module")
def soma_artifacts(tmp_path_factory):
    from aotsnn.export import compile_network

    root = tmp_path_factory.mktemp("somas")
    return {p: compile_network(soma_network(), root / f"somas_{p}.aot", precision=p) for p in ("float32", "float16")}


def drives(amplitude: float, steps: int) -> dict[str, np.ndarray]:
    """Constant +A and -A, alternating every step and every 7 steps, uniform in [-A, A]; 6 units."""
    t = np.arange(steps)
    patterns = {"constant+": np.full(steps, amplitude), "constant-": np.full(steps, -amplitude),
                "alternating": np.where(t % 2, amplitude, -amplitude),
                "alternating7": np.where(t % 14 < 7, amplitude, -amplitude),
                "uniform": np.random.default_rng(0).uniform(-amplitude, amplitude, steps)}
    return {k: np.repeat(v[:, None, None], 6, axis=2) for k, v in patterns.items()}


@pytest.mark.parametrize("precision,fraction,exempt", [
    ("float32", 1.0, ()),
    ("float16", 0.99, ()),
    # Within 1% of float16's largest value, AdEx's `i - w` itself overflows (65504 + |w|):
    # the input, not the exponential term. Every other soma stays finite even there.
    ("float16", 1.0, ("adaptive",)),
])
def test_somas_stay_finite_under_extreme_currents(soma_artifacts, precision, fraction, exempt):
    session = load(soma_artifacts[precision])
    amplitude = float(np.finfo(precision).max) * fraction
    for pattern, current in drives(amplitude, 2000).items():
        state, outputs = session.run(session.init_state(), {"drive": current.astype(precision)})
        for name, value in {**state, **outputs}.items():
            if name.split(".")[0] not in exempt:
                assert np.all(np.isfinite(value)), f"{pattern}: {name} is not finite ({precision}, |i| = {amplitude:g} pA)"
        spikes = sum(v.sum() for k, v in outputs.items() if k.endswith("spikes"))
        assert pattern == "constant-" or spikes > 0, pattern

