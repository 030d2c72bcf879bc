"""Time units of NIR graphs and the tau/dt plausibility check.

NIR's documentation gives time constants in ms, while the files of snnTorch, Norse and Spyx hold
seconds and Sinabs' hold time steps (imported with dt = 1 in any unit). aotsnn never guesses: the
caller names the unit (`time_unit`), dt is given in that unit, and a graph whose time constants
are implausible for that dt is refused with a message that says which unit was assumed.
"""
from __future__ import annotations

import numpy as np

MS_PER_UNIT = {"s": 1000.0, "ms": 1.0, "us": 1e-3}
# A time constant between 1 and 10,000 steps of dt is plausible. Below one step the Euler factor
# dt/tau exceeds 1 (v overshoots its target) and the exact decay forgets within a step; above
# 10,000 steps the leak is negligible over any run (an I or IF node says that). A unit mixed up
# between s and ms moves the ratio by 1000x, out of this range for every shipped example.
TAU_STEPS = (1.0, 1e4)


def ms_per_unit(time_unit: str) -> float:
    if time_unit not in MS_PER_UNIT:
        raise ValueError(f"`time_unit` must be one of {', '.join(map(repr, MS_PER_UNIT))} (the unit of dt and of "
                         f"the graph's time constants), got {time_unit!r}.")
    return MS_PER_UNIT[time_unit]


def check_dt(dt: object, time_unit: str) -> float:
    """dt in ms; dt must be a positive finite number given in `time_unit`."""
    if isinstance(dt, bool) or not isinstance(dt, (int, float, np.floating)) or not 0 < dt < np.inf:
        raise ValueError(f"`dt` must be a positive number in the graph's time unit ({time_unit!r}; e.g. dt=1e-4 "
                         f"for 0.1 ms in seconds), got {dt!r}.")
    return float(dt) * ms_per_unit(time_unit)


def check_tau(where: str, field: str, tau: np.ndarray, dt_ms: float, time_unit: str) -> None:
    """Refuse a time constant that is not finite and positive, or whose tau/dt lies outside TAU_STEPS."""
    tau = np.asarray(tau, dtype=np.float64)
    scale = ms_per_unit(time_unit)
    if not np.all(np.isfinite(tau)) or np.any(tau <= 0):
        bad = tau[~(np.isfinite(tau) & (tau > 0))].flat[0]
        raise ValueError(f"{where}: `{field}` must be finite and > 0, got {bad:g} (an infinite tau is a neuron without "
                         "leak, e.g. snnTorch's beta = 1: export it as an I or IF node).")
    steps = tau * scale / dt_ms
    low, high = TAU_STEPS
    if np.any(steps < low) or np.any(steps > high):
        worst = float(steps.flat[np.argmax(np.abs(np.log10(steps)))])
        value = worst * dt_ms / scale
        other = "ms" if time_unit == "s" else "s"
        raise ValueError(
            f"{where}: `{field}` = {value:g} {time_unit} is {worst:g} steps of dt = {dt_ms / scale:g} {time_unit} "
            f"(time_unit={time_unit!r} assumed); a plausible time constant spans {low:g} to {high:g} steps. If the "
            f"graph's time constants are in {other}, pass time_unit={other!r} (and dt in {other}); if dt is wrong, "
            "fix dt; check_units=False skips this check.")
