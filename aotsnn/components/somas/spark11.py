"""spark-snn 1.1's soma classes, as presets of AdaptiveExponentialSoma.

spark-snn 1.2 folded RefractoryExponentialSoma and SimplifiedAdaptiveExponentialSoma into options
of AdaptiveExponentialSoma; these classes keep 1.1's names and defaults on the shared step, so a
1.1 model runs unchanged. (1.1 itself ignores the input on step 0 and gates cd+1 steps: the
presets follow 1.2, docs/components.md deviation 16.)
"""
from __future__ import annotations

from typing import Any

from aotsnn.components.somas.adaptive import AdaptiveExponentialSoma


class RefractoryExponentialSoma(AdaptiveExponentialSoma):
    r"""ExponentialSoma that ignores its input and cannot fire for `cooldown` ms after a spike.

    AdaptiveExponentialSoma(cooldown=2.0) under spark-snn 1.1's name: with cd = round(cooldown/dt)
    steps and `refractory` the gated steps left (0 = ready),

        ready = refractory == 0
        V <- V + (dt/tau) * (-V + dT * exp((V - V_rh)/dT) + ready * R*I)
        spike = ready and V > V_th ;  V <- V_reset where spike ;  V <- min(V, V_th) where not ready
        refractory <- cd where spike, else max(refractory - 1, 0)

    A spike at step k gates steps k+1 .. k+cd exactly; a fresh soma is ready on step 0. While
    gated, the leak and the exponential term still act, but V is held at or below V_th: a vetoed
    potential cannot run away (spark-snn lets it grow to ~1e38 mV in float32 and Inf, then NaN, in
    float16), and the soma fires on its first ready step if it was held at V_th. The countdown
    holds whole numbers of steps, exact up to 2048 steps in float16 and 256 in bfloat16.

    Parameters: those of ExponentialSoma, plus cooldown [ms] >= 0 (scalar or per-unit (n,)).
    State: v_rel (batch, n) [mV relative to rest], refractory (batch, n) [steps left].
    """

    def __init__(self, name: str, n: int, *, cooldown: Any = 2.0, **kwargs: Any) -> None:
        super().__init__(name, n, cooldown=cooldown, **kwargs)


class SimplifiedAdaptiveExponentialSoma(AdaptiveExponentialSoma):
    r"""Refractory exponential soma with a spike-triggered, decaying threshold (spark-snn 1.1).

    AdaptiveExponentialSoma(cooldown=2.0, threshold_delta=100.0, threshold_tau=20.0): the threshold
    theta = threshold + threshold_shift jumps by threshold_delta at each spike (from the next step
    on) and relaxes back, threshold_shift <- threshold_shift * exp(-dt/threshold_tau) + dtheta *
    spike (computed with expm1, as spark-snn does). The state holds the shift rather than theta, so
    a zero initial state is right for any run-time `threshold`.

    Parameters: those of RefractoryExponentialSoma, plus threshold_tau [ms] > 0 and
    threshold_delta [mV] >= 0 (a negative step could lower theta below the reset potential).
    State: v_rel, refractory, threshold_shift (batch, n) [mV].
    """

    def __init__(self, name: str, n: int, *, cooldown: Any = 2.0, threshold_tau: Any = 20.0,
                 threshold_delta: Any = 100.0, **kwargs: Any) -> None:
        super().__init__(name, n, cooldown=cooldown, threshold_tau=threshold_tau,
                         threshold_delta=threshold_delta, **kwargs)
