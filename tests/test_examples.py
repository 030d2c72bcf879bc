"""The examples the docs point to run as a reader would run them."""
from __future__ import annotations

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_custom_component_example_checks_and_compiles(capsys):
    """docs/custom-components.md: the hand-written LIF matches its float64 reference and passes the
    equivalence check on host and on the portable C bundle."""
    example = load_example("custom_component")
    assert example.main(["--targets", "host,c", "--steps", "150"]) == 0
    printed = capsys.readouterr().out
    assert "float64 step vs NumPy reference: ok" in printed and printed.count("PASS") == 2
