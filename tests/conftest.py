"""Shared fixtures: a small E/I network and its compiled host artifact (built once per session),
and `target`, parametrised over the target registry (`--targets host,c,...`; default: all).
A test that takes `target` runs once per selected target; targets this machine cannot build or
run skip with the reason."""
from __future__ import annotations

import numpy as np
import pytest

from aotsnn.demo import build_ei_network, demo_inputs


def pytest_addoption(parser):
    parser.addoption("--targets", default="all",
                     help="comma-separated targets for tests that take the `target` fixture (default: all registered)")


def slow_requested(config) -> bool:
    """True under `-m slow`: the run that adds the tests left out of the default one."""
    return "slow" in (config.getoption("markexpr") or "")


def pytest_collection_modifyitems(config, items):
    """Tests marked `slow` run only with `-m slow` (the default run stays within CI's budget)."""
    if slow_requested(config):
        return
    skip = pytest.mark.skip(reason="slow: runs with -m slow")
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(skip)


def pytest_generate_tests(metafunc):
    own = set()          # a test that parametrizes its own `target` argument keeps it
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0]
        own.update(n.strip() for n in (names.split(",") if isinstance(names, str) else names))
    if "target" in metafunc.fixturenames and "target" not in own:
        from aotsnn.targets import registry

        known = sorted(registry())
        option = metafunc.config.getoption("--targets")
        names = known if option == "all" else [n.strip() for n in option.split(",") if n.strip()]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise pytest.UsageError(f"--targets: unknown {', '.join(unknown)}; known targets: {', '.join(known)}")
        metafunc.parametrize("target", names, indirect=True, scope="session")


@pytest.fixture(scope="session")
def target(request):
    """The Target named by the parameter; skips (with the reason) where it cannot run here."""
    from aotsnn.targets import get

    spec = get(request.param)
    ok, why = spec.runs_here()
    if not ok:
        pytest.skip(why)
    return spec


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


@pytest.fixture(scope="session")
def run_without_compiler():
    """Run an artifact for 10 steps in a fresh interpreter with `loader` (e.g. "aotsnn.runtime:load")
    and assert that neither jax nor TVM nor onnx was imported; returns the spike count it printed."""
    import subprocess
    import sys

    def check(loader: str, path) -> int:
        module, _, func = loader.partition(":")
        script = f"""
import sys, numpy as np
from {module} import {func} as load
s = load({str(path)!r})
state, out = s.run(s.init_state(), {{k: np.full((10, *shape), 60.0, np.float32) for k, shape in s.layout["inputs"]}})
heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'tvm', 'onnx'))
assert not heavy, heavy
print("ok", int(out["exc.spikes"].sum()))
"""
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("ok")
        return int(result.stdout.split()[1])

    return check
