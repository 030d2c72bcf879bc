"""A jax.export serialization made by an older jax (tests/data/make_old_stablehlo.py, jax 0.4.35)
still deserializes with the installed jax, imports, compiles and reproduces that jax's outputs."""
from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from aotsnn.export.frontend.lower import stablehlo_text_from_serialized

from stablehlo_harness import assert_matches, run_backend

DATA = Path(__file__).parent.parent / "data"


@pytest.fixture(scope="module")
def old_step():
    expected = json.loads((DATA / "old_jax_ei_step.json").read_text())
    text = stablehlo_text_from_serialized((DATA / "old_jax_ei_step.stablehlo").read_bytes())
    inputs = [np.asarray(x, np.float32) for x in expected["inputs"]]
    outputs = [np.asarray(x, np.float32) for x in expected["outputs"]]
    return expected["jax_version"], text, inputs, outputs


def test_the_data_comes_from_another_jax(old_step):
    version, text, _, _ = old_step
    assert version != jax.__version__
    assert "stablehlo.while" in text or "stablehlo.dot_general" in text


@pytest.mark.parametrize("backend", ["relax", "onnxruntime"])
def test_old_serialization_runs_and_matches_the_old_jax(old_step, backend):
    _, text, inputs, outputs = old_step
    assert outputs[3] > 0, "the stored step must spike to test anything"
    assert_matches(run_backend(backend, text, inputs), outputs, rtol=1e-5, atol=1e-4, what=backend)
