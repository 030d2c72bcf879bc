"""`aotsnn compile FILE.nir --dt ... --target c` then `aotsnn verify` of the artifact: the NIR
options travel in the manifest's recorded source, so verify rebuilds the same network."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("nir")
from aotsnn.cli import main  # noqa: E402

DATA = Path(__file__).resolve().parent.parent / "data" / "nir"


def test_a_snntorch_graph_compiles_for_a_c_bundle_and_verifies_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "rlif.aot"
    assert main(["compile", str(DATA / "snntorch_rlif.nir"), "--dt", "1e-4", "--integration", "euler",
                 "--reset", "subtract_pending", "--target", "c", "-o", str(out), "--quiet"]) == 0
    source = json.loads((out / "manifest.json").read_text())["source"]
    assert source.startswith("nir:") and "reset=subtract_pending" in source and "dt=0.0001" in source
    capsys.readouterr()
    assert main(["verify", str(out), "--steps", "120", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "verdict: PASS" in printed and "n_3.spikes" in printed


def test_a_sinabs_graph_with_time_steps_for_taus_compiles_for_a_c_bundle_and_verifies(tmp_path, capsys):
    """Sinabs writes tau in steps: --dt 1 --time-unit ms reads them as ms at a 1 ms step; verify on Sinabs' inputs."""
    import numpy as np

    out, inputs = tmp_path / "lif.aot", tmp_path / "inputs.npz"
    np.savez(inputs, input=np.load(DATA / "sinabs_lif.npz")["inputs"])
    assert main(["compile", str(DATA / "sinabs_lif.nir"), "--dt", "1", "--time-unit", "ms", "--integration", "exact",
                 "--reset", "subtract", "--target", "c", "-o", str(out), "--quiet"]) == 0
    source = json.loads((out / "manifest.json").read_text())["source"]
    assert "time_unit=ms" in source and "integration=exact" in source, source
    capsys.readouterr()
    assert main(["verify", str(out), "--inputs", str(inputs), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "verdict: PASS" in printed and "n_3.spikes" in printed
