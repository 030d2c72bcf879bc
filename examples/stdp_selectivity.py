"""STDP, compiled: a neuron learns to respond to a repeated spike pattern hidden in noise.

100 afferents feed one exponential integrate-and-fire neuron through a TraceSTDPSynapse. Time is
cut into presentations of 50 ms. In half of them (at random) afferents 0-49 replay a frozen
pattern: each fires once, at its own fixed time within the first 10 ms. In the others each of
them fires once at a random time. Afferents 50-99 fire as Poisson noise at the same mean rate
(20 Hz) throughout, so only the timing distinguishes pattern from noise, never the rate.

Depression-dominated trace STDP (A_minus*tau_post > A_plus*tau_pre) depresses inputs whose
spikes are unrelated to the neuron's and potentiates those that reliably precede its spikes:
after training the neuron fires once per pattern and stays silent on noise.

Learning runs inside the compiled artifact (the weights are state, updated on the device); the
result is then measured with the same network compiled with `learning=False`, whose weights are
a parameter set from the trained state:

    python examples/stdp_selectivity.py
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aotsnn.components.initializers import uniform
from aotsnn.components.plasticity import TraceSTDPSynapse, VarTrace
from aotsnn.components.somas import ExponentialSoma
from aotsnn.network import Network

N_AFFERENTS, N_PATTERN = 100, 50
WINDOW = 50            # steps per presentation (dt = 1 ms)
PATTERN_SPAN = 10      # the pattern's spikes fall in the first 10 ms of a presentation
DT = 1.0


def pattern_times(seed: int = 99) -> np.ndarray:
    """The frozen pattern: one spike time (step) per pattern afferent."""
    return np.random.default_rng(seed).integers(0, PATTERN_SPAN, N_PATTERN)


def presentations(n: int, seed: int, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spikes (n*WINDOW, 1, N_AFFERENTS) float32 and is_pattern (n,) bool."""
    rng = np.random.default_rng(seed)
    is_pattern = rng.uniform(size=n) < 0.5
    spikes = np.zeros((n, WINDOW, N_AFFERENTS), np.float32)
    for k in range(n):
        when = times if is_pattern[k] else rng.integers(0, WINDOW, N_PATTERN)
        spikes[k, when, np.arange(N_PATTERN)] = 1.0
        spikes[k, :, N_PATTERN:] = rng.uniform(size=(WINDOW, N_AFFERENTS - N_PATTERN)) < 1.0 / WINDOW
    return spikes.reshape(n * WINDOW, 1, N_AFFERENTS), is_pattern


def build_network(learning: bool = True) -> Network:
    """spikes -> TraceSTDPSynapse -> ExponentialSoma, with the traces added after the synapse so the
    rule sees pre_spike(t), pre_trace(t-1), post_spike(t-1), post_trace(t-1) (causal pairing)."""
    net = Network("stdp_selectivity", dt=DT)
    net.add_input("spikes", (N_AFFERENTS,))
    net.add(TraceSTDPSynapse("syn", (N_AFFERENTS, 1), A_plus=0.01, A_minus=0.012, eta=1.0, w_bound=1.0,
                             resist_scale=40.0, weight_init=uniform(0.3, 0.7), seed=0, learning=learning))
    net.add(ExponentialSoma("soma", 1, potential_tau=10.0, potential_reset=-70.0))
    net.add(VarTrace("pre_trace", N_AFFERENTS, tau_tr=20.0))
    net.add(VarTrace("post_trace", 1, tau_tr=20.0))
    for source, target in [("spikes", "syn.x"), ("spikes", "syn.pre_spike"), ("soma.spikes", "syn.post_spike"),
                           ("pre_trace.trace", "syn.pre_trace"), ("post_trace.trace", "syn.post_trace"),
                           ("syn.out", "soma.i"), ("spikes", "pre_trace.s"), ("soma.spikes", "post_trace.s")]:
        net.connect(source, target)
    net.record("soma.spikes")
    return net


def responses(spikes: np.ndarray, is_pattern: np.ndarray) -> tuple[float, float]:
    """Mean output spikes per pattern presentation and per noise presentation."""
    per_presentation = spikes.reshape(len(is_pattern), WINDOW).sum(axis=1)
    return float(per_presentation[is_pattern].mean()), float(per_presentation[~is_pattern].mean())


def selectivity(pattern: float, noise: float) -> float:
    """(r_pattern - r_noise) / (r_pattern + r_noise): 1 = fires only on the pattern, 0 = blind to it."""
    return (pattern - noise) / max(pattern + noise, 1e-12)


@dataclass
class Result:
    weights: np.ndarray                     # trained weights (N_AFFERENTS,)
    before: tuple[float, float]             # (pattern, noise) spikes per presentation, initial weights
    after: tuple[float, float]              # ... trained weights
    train_steps: int
    train_seconds: float                    # one session.run call

    @property
    def selectivity_before(self) -> float:
        return selectivity(*self.before)

    @property
    def selectivity_after(self) -> float:
        return selectivity(*self.after)

    @property
    def learned(self) -> bool:
        """The neuron answers nearly every pattern (>= 0.8 spikes each) and almost no noise
        (selectivity >= 0.8). A rule without LTD fires on everything; one without LTP goes silent."""
        return self.after[0] >= 0.8 and self.selectivity_after >= 0.8


def compile_sessions(workdir: Path):
    """(learning session, frozen session): one network compiled twice."""
    from aotsnn.export import compile_network
    from aotsnn.runtime import load

    return (load(compile_network(build_network(learning=True), workdir / "learn.aot")),
            load(compile_network(build_network(learning=False), workdir / "frozen.aot")))


def run_experiment(learn_session, frozen_session, *, n_train: int = 600, n_test: int = 200, seed: int = 0,
                   rule_params: dict[str, float] | None = None) -> Result:
    """Train in `learn_session` (rule parameters changed without recompiling), then measure the
    responses of `frozen_session` with the initial and with the trained weights."""
    times = pattern_times()
    train, _ = presentations(n_train, seed + 1, times)
    test, is_pattern = presentations(n_test, seed + 2, times)
    learn_session.set_params(**{f"syn.{k}": v for k, v in (rule_params or {}).items()})
    start = time.perf_counter()
    state, _ = learn_session.run(learn_session.init_state(), {"spikes": train})
    seconds = time.perf_counter() - start
    trained = state["syn.weights"]
    initial = frozen_session.params["syn.weights"]
    measured = []
    for weights in (initial, trained):
        frozen_session.set_params(**{"syn.weights": weights})
        _, out = frozen_session.run(frozen_session.init_state(), {"spikes": test})
        measured.append(responses(out["soma.spikes"], is_pattern))
    frozen_session.set_params(**{"syn.weights": initial})
    return Result(trained[:, 0], measured[0], measured[1], len(train), seconds)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        learn, frozen = compile_sessions(Path(tmp))
        result = run_experiment(learn, frozen)
        broken = run_experiment(learn, frozen, rule_params={"A_minus": 0.0})
    w = result.weights
    print(f"trained {result.train_steps} steps ({result.train_steps * DT / 1000:.0f} s of model time) in "
          f"{result.train_seconds * 1000:.1f} ms, learning inside the compiled artifact")
    print(f"mean weight: pattern afferents {w[:N_PATTERN].mean():.3f}, noise afferents {w[N_PATTERN:].mean():.3f}")
    print("output spikes per presentation       pattern  noise  selectivity")
    for label, (p, n) in [("initial weights", result.before), ("after STDP", result.after),
                          ("after STDP without LTD (A_minus=0)", broken.after)]:
        print(f"  {label:34s} {p:7.2f} {n:6.2f} {selectivity(p, n):12.2f}")
    print(f"learned a selective response: {result.learned} (without LTD: {broken.learned})")


if __name__ == "__main__":
    main()
