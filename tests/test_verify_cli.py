import pytest

from aotsnn.cli import main
from aotsnn.demo import demo_inputs
from aotsnn.verify import compare


def test_report_passes_for_a_faithful_artifact(session, small_net):
    report = compare(session, small_net, demo_inputs(small_net, 150, seed=5))
    assert report.passed, report.failures()
    assert all(check.identical for check in report.free_run)
    assert {e.name for e in report.one_step} >= {"exc.v_rel", "ee.g", "exc.spikes"}


def test_report_fails_when_the_equations_differ(session, small_net, monkeypatch):
    # same layout, other arithmetic: the reference treats ee as current-based (i = g, not g*(E - v))
    monkeypatch.setattr(small_net.components["ee"], "current_based", True)
    report = compare(session, small_net, demo_inputs(small_net, 150, seed=5))
    assert not report.passed
    assert any(f.startswith("exc.v_rel") for f in report.failures())


def test_report_refuses_another_model(session):
    from aotsnn.demo import build_ei_network

    with pytest.raises(ValueError, match="does not match the artifact"):
        compare(session, build_ei_network(n_exc=20, n_inh=10), {})


def test_cli_info_run_verify(small_artifact, tmp_path, capsys):
    assert main(["info", str(small_artifact)]) == 0
    assert "ei_demo" in capsys.readouterr().out
    assert main(["run", str(small_artifact), "--steps", "50", "--save-state", str(tmp_path / "s.npz")]) == 0
    assert "steps/s" in capsys.readouterr().out
    assert main(["run", str(small_artifact), "--steps", "5", "--state", str(tmp_path / "s.npz")]) == 0
    # the fixture's network is not the default demo, so verifying against it must fail
    assert main(["verify", str(small_artifact), "--model", "aotsnn.demo:build_ei_network", "--steps", "20"]) == 2
    assert "error" in capsys.readouterr().err


def test_cli_refuses_a_missing_artifact(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nothing.aot")]) == 2
    assert "not an aotsnn artifact" in capsys.readouterr().err


def test_cli_compile_and_verify_roundtrip(tmp_path, monkeypatch, capsys):
    (tmp_path / "tiny_model.py").write_text(
        "from aotsnn.demo import build_ei_network\n"
        "def net():\n    return build_ei_network(n_exc=16, n_inh=4, p_conn=0.5)\n")
    monkeypatch.chdir(tmp_path)
    assert main(["compile", "tiny_model:net", "-o", "tiny.aot"]) == 0
    assert main(["verify", "tiny.aot", "--steps", "100"]) == 0
    assert "PASS" in capsys.readouterr().out
