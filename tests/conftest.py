"""Shared fixtures: a small E/I network and its compiled host artifact (built once per session)."""
from __future__ import annotations

import numpy as np
import pytest

from aotsnn.demo import build_ei_network, demo_inputs


@pytest.fixture(scope="session")
def small_net():
    return build_ei_network(n_exc=40, n_inh=10, p_conn=0.3)


@pytest.fixture(scope="session")
def small_artifact(small_net, tmp_path_factory):
    from aotsnn.export import compile_network

    return compile_network(small_net, tmp_path_factory.mktemp("art") / "small.aot")


@pytest.fixture()
def session(small_artifact):
    from aotsnn.runtime import load

    return load(small_artifact)


@pytest.fixture(scope="session")
def small_inputs(small_net):
    return {k: v.astype(np.float32) for k, v in demo_inputs(small_net, 200, seed=3).items()}
