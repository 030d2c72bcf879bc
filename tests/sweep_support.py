"""Helpers the sweep tests' Dask workers import (the tests folder is on their sys.path)."""
from __future__ import annotations

import time

from aotsnn.sweep.inputs import make_inputs


def slow_gaussian(layout, steps, seed, *, delay, **options):
    """The gaussian recipe after `delay` seconds: tasks long enough to kill a worker during one."""
    time.sleep(delay)
    return {k: v[:, 0] for k, v in make_inputs({"kind": "gaussian", **options}, layout, steps, seed).items()}
