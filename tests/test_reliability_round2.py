"""Regression tests for the second red-team pass (issue 22): each test failed before its fix.

Wrong results and wrong refusals first (T = 0, read-only inputs, concurrent set_params, a library
that is not its manifest's, masks at load, integer delays, float16 time constants, the C bundle's
parameter checks, saving through a symlink), then hangs and unclear failures (huge T, files that
are not regular, truncated libraries, private copies, runtime-only installs).
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading

import numpy as np
import pytest

import reliability_support as support
from aotsnn.runtime import ArtifactError, load
from aotsnn.runtime.format import HASHED_FILES, MANIFEST

RUNTIME_ONLY = """
import sys
for name in ("jax", "jaxlib", "tvm", "onnx", "onnxruntime", "rich"):
    sys.modules[name] = None            # as on `pip install aotsnn` without extras
from aotsnn.cli import main
sys.exit(main(sys.argv[1:]))
"""


def runtime_only_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", RUNTIME_ONLY, *args], capture_output=True, text=True, timeout=120)


def zeros(session, steps: int) -> dict[str, np.ndarray]:
    return {n: np.zeros((steps, *s), session.dtype) for n, s in session.layout["inputs"]}


# -- 1. T = 0 -------------------------------------------------------------------------------------

@pytest.mark.parametrize("precision", support.PRECISIONS)
def test_a_run_of_zero_steps_returns_the_state_and_empty_outputs(precision):
    session = load(support.artifact(precision))
    start = session.init_state()
    state, outputs = session.run(start, zeros(session, 0))
    assert {k: v.shape for k, v in outputs.items()} == {n: (0, *s) for n, s in session.layout["outputs"]}
    for name in start:
        assert state[name].tobytes() == start[name].tobytes() and state[name] is not start[name]


def test_a_c_bundle_runs_zero_steps():
    from aotsnn.runtime.harness import load as load_bundle

    session = load_bundle(support.c_bundle())
    state, outputs = session.run(session.init_state(), zeros(session, 0))
    assert outputs["exc.spikes"].shape == (0, 1, 40)
    assert all(np.array_equal(state[k], v) for k, v in session.init_state().items())


def test_cli_run_of_zero_steps(capsys):
    from aotsnn.cli import main

    assert main(["run", str(support.artifact("float32")), "--steps", "0"]) == 0
    assert "0 steps" in capsys.readouterr().out


# -- 2. read-only inputs --------------------------------------------------------------------------

@pytest.mark.parametrize("precision", support.PRECISIONS)
def test_memory_mapped_read_only_inputs_run_like_writable_ones(precision, tmp_path):
    session = load(support.artifact(precision))
    inputs = support.inputs(60, precision)
    for name, value in inputs.items():
        np.save(tmp_path / f"{name}.npy", value)
    mapped = {name: np.load(tmp_path / f"{name}.npy", mmap_mode="r") for name in inputs}
    assert not any(v.flags.writeable for v in mapped.values())
    expected = session.run(session.init_state(), inputs)
    got = session.run(session.init_state(), mapped)
    for a, b in zip(got, expected):
        assert all(a[k].tobytes() == b[k].tobytes() for k in b)
    step = session.step(session.init_state(), {k: v[0] for k, v in mapped.items()})
    assert step[1]["exc.spikes"].tobytes() == expected[1]["exc.spikes"][0].tobytes()


# -- 3. set_params from many threads ---------------------------------------------------------------

def test_concurrent_set_params_lose_no_update():
    """Four threads each set their own parameter 300 times; at the end every parameter holds its
    thread's last value (a read-modify-write outside the lock loses most of them)."""
    session = load(support.artifact("float32"))
    names = ["ee.g_syn_bar", "ei.g_syn_bar", "ie.g_syn_bar", "ii.g_syn_bar"]
    rounds, interval = 300, sys.getswitchinterval()

    def writer(name: str) -> None:
        for k in range(1, rounds + 1):
            session.set_params(**{name: float(k)})

    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=writer, args=(n,)) for n in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert {n: float(session.params[n]) for n in names} == {n: float(rounds) for n in names}


# -- 4. the library carries its identity -----------------------------------------------------------

def _spikes(session, steps: int = 200) -> float:
    x = {n: np.full((steps, *s), 60.0, np.float32) for n, s in session.layout["inputs"]}
    return float(session.run(session.init_state(), x)[1]["exc.spikes"].sum())


@pytest.mark.parametrize("check_hashes", [True, False])
def test_a_library_of_another_dt_is_refused_even_after_resealing(check_hashes, tmp_path):
    other = support.artifact_with_dt(0.2)
    assert _spikes(load(other)) != _spikes(load(support.artifact("float32")))      # dt matters
    forged = support.resealed_copy(support.artifact("float32"), tmp_path / "forged.aot",
                                   files={"model.so": (other / "model.so").read_bytes()})
    with pytest.raises(ArtifactError, match=r"model\.so was not built for this manifest: dt is 0\.2 ms in model\.so, "
                                            r"0\.1 ms in the manifest"):
        load(forged, check_hashes=check_hashes)


def test_a_resealed_manifest_that_lies_about_dt_is_refused(tmp_path):
    forged = support.resealed_copy(support.artifact("float32"), tmp_path / "forged.aot",
                                   edit=lambda m: m.update(dt=0.2))
    with pytest.raises(ArtifactError, match="dt is 0.1 ms in model.so, 0.2 ms in the manifest"):
        load(forged)


@pytest.mark.parametrize("check_hashes", [True, False])
def test_swapped_same_shape_leaf_names_are_refused(check_hashes, tmp_path):
    forged = support.resealed_copy(support.artifact("float32"), tmp_path / "forged.aot",
                                   edit=support.swap_same_shape_state)
    with pytest.raises(ArtifactError, match=r"state leaf 0 is 'ee\.g' in model\.so, 'ie\.g' in the manifest"):
        load(forged, check_hashes=check_hashes)


# -- 5. masks are checked at load ------------------------------------------------------------------

def _params_with_other_mask(tmp_path, check_hashes: bool):
    from aotsnn.runtime.format import arrays_from_file, arrays_to_bytes

    source = support.artifact("float32")
    params = arrays_from_file(source / "params.npz")
    params["ee.mask"] = np.ones_like(params["ee.mask"])
    data = arrays_to_bytes(params)
    if check_hashes:
        return support.resealed_copy(source, tmp_path / "forged.aot", files={"params.npz": data})
    shutil.copytree(source, tmp_path / "forged.aot")
    (tmp_path / "forged.aot" / "params.npz").write_bytes(data)
    return tmp_path / "forged.aot"


@pytest.mark.parametrize("check_hashes", [True, False])
def test_a_params_file_with_another_mask_is_refused_at_load(check_hashes, tmp_path):
    path = _params_with_other_mask(tmp_path, check_hashes)
    with pytest.raises(ArtifactError, match=r"params\.npz of .*: parameter 'ee\.mask' is topology"):
        load(path, check_hashes=check_hashes)


# -- 6. one rule set for delays --------------------------------------------------------------------

def test_non_integer_delays_are_refused_by_the_network_and_the_session():
    net = support.delay_net()
    session = load(support.delay_artifact())
    with pytest.raises(ValueError, match=r"`delays` must be whole numbers >= 1 and <= 3 steps, got 1\.5"):
        net.set_params(**{"syn.delays": np.array([1.5, 2, 3, 1])})
    with pytest.raises(ValueError, match=r"parameter 'syn\.delays' must be whole numbers >= 1 and <= 3 steps, got 1\.5"):
        session.set_params(**{"syn.delays": np.array([1.5, 2, 3, 1])})
    session.set_params(**{"syn.delays": np.array([3.0, 1, 2, 2])})        # whole numbers are taken
    net.set_params(**{"syn.delays": np.array([3.0, 1, 2, 2])})


# -- 7. float16 time constants ---------------------------------------------------------------------

def test_float16_refuses_a_time_constant_below_dt_and_stays_finite_at_dt():
    session = load(support.artifact("float16"))
    with pytest.raises(ValueError, match=r"must be >= 0\.0999756 ms in float16 \(in float16 a time constant must be "
                                         r"at least dt \(0\.1 ms, 0\.0999756 in float16\): .*\), got 1e-06"):
        session.set_params(**{"exc.potential_tau": 1e-6})
    session.set_params(**{"exc.potential_tau": 0.1, "ee.tau_decay": 0.1})     # the smallest legal value
    drive = {n: np.full((400, *s), 1000.0, np.float16) for n, s in session.layout["inputs"]}
    drive["drive_inh"][::2] = -1000.0
    state, outputs = session.run(session.init_state(), drive)
    assert all(np.all(np.isfinite(v)) for v in (*state.values(), *outputs.values()))
    load(support.artifact("float32")).set_params(**{"exc.potential_tau": 1e-6})   # float32 keeps > 0


# -- 8. the C bundle checks parameters like the host ----------------------------------------------

@pytest.mark.parametrize("value,message", [
    (np.nan, "must be > 0 ms, got nan"), (0.0, "must be > 0 ms, got 0"), (-5.0, "must be > 0 ms, got -5"),
    (np.inf, "must be finite, got inf"), (1e40, "must be finite, got 1e+40, which is inf in float32")])
def test_the_c_bundle_harness_checks_parameters(value, message):
    from aotsnn.runtime.harness import load as load_bundle

    session = load_bundle(support.c_bundle())
    with pytest.raises(ValueError, match=f"parameter 'exc.potential_tau' {message}".replace("+", r"\+")):
        session.set_params(**{"exc.potential_tau": value})
    with pytest.raises(ValueError, match="parameter 'ee.mask' is topology"):
        session.set_params(**{"ee.mask": np.ones((40, 40))})


C_USER = r"""
#include <stdio.h>
#include "ei_demo.h"
static ei_demo_state s;
static ei_demo_param_t value;
static ei_demo_param_t mask[EI_DEMO_PARAMS_EE_MASK_SIZE + 1];
static ei_demo_inputs in[5];
static ei_demo_outputs out[5];
static void attempt(const char *what, int32_t id, const ei_demo_param_t *v) {
  printf("%s %d %s\n", what, ei_demo_set_param(&s, id, v), ei_demo_last_error());
}
int main(void) {
  ei_demo_init(&s);
  printf("default %d %s\n", ei_demo_run(&s, 5, in, out), ei_demo_last_error());
  value = -5.0f; attempt("negative", EI_DEMO_PARAM_EXC_POTENTIAL_TAU, &value);
  value = 0.0f / 0.0f; attempt("nan", EI_DEMO_PARAM_EXC_POTENTIAL_TAU, &value);
  attempt("mask", EI_DEMO_PARAM_EE_MASK, mask);
  attempt("id", EI_DEMO_N_PARAMS, &value);
  attempt("null", EI_DEMO_PARAM_EXC_POTENTIAL_TAU, NULL);
  printf("after %d\n", ei_demo_run(&s, 5, in, out));
  return 0;
}
"""


def test_the_c_api_checks_each_parameter_it_is_given(tmp_path):
    bundle = support.c_bundle() / "c"
    (tmp_path / "user.c").write_text(C_USER)
    subprocess.run(["make", "-s", "-C", str(bundle)], check=True, capture_output=True)
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Werror", f"-I{bundle}", str(tmp_path / "user.c"),
                    str(bundle / "libei_demo.a"), "-lm", "-o", str(tmp_path / "user")], check=True, capture_output=True)
    lines = subprocess.run([str(tmp_path / "user")], capture_output=True, text=True, check=True).stdout.splitlines()
    rows = {line.split(" ", 1)[0]: line.split(" ", 2)[1:] for line in lines}
    assert rows["default"] == ["0", ""]
    assert rows["negative"] == ["-1", "ValueError: parameter 'exc.potential_tau' must be > 0 ms and finite"]
    assert rows["nan"] == rows["negative"]
    assert rows["mask"][0] == "-1" and "parameter 'ee.mask' is topology" in rows["mask"][1]
    assert rows["id"][0] == "-1" and "no parameter has this id" in rows["id"][1]
    assert rows["null"][0] == "-1" and "values is NULL" in rows["null"][1]
    assert rows["after"] == ["0"]           # a refused value changes nothing: the compiled-in ones still run


# -- 9. save_state through a symbolic link --------------------------------------------------------

def test_save_state_writes_through_a_symlink_and_keeps_the_mode(tmp_path):
    session = load(support.artifact("float32"))
    state, _ = session.run(session.init_state(), support.inputs(20))
    target = tmp_path / "ckpt" / "state.npz"
    target.parent.mkdir()
    session.save_state(session.init_state(), target)
    os.chmod(target, 0o640)
    link = tmp_path / "latest.npz"
    link.symlink_to(target)
    session.save_state(state, link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    loaded = session.load_state(target)
    assert all(loaded[k].tobytes() == state[k].tobytes() for k in state)


# -- hangs and unclear failures --------------------------------------------------------------------

def test_a_huge_broadcast_run_is_refused_before_reading_its_inputs(monkeypatch):
    session = load(support.artifact("float32"))
    huge = {n: np.broadcast_to(np.zeros((1, *s), np.float32), (10**10, *s)) for n, s in session.layout["inputs"]}

    def no_pass_over_the_inputs(*args):
        raise AssertionError("the inputs were scanned before the output size was checked")

    monkeypatch.setattr(session, "_check_finite", no_pass_over_the_inputs)
    with pytest.raises(ValueError, match=r"a run of 10000000000 steps needs \d+ bytes .* run fewer steps per call"):
        session.run(session.init_state(), huge)


UNHASHED_LOAD = """
import sys
from aotsnn.runtime import ArtifactError, load
try:
    load(sys.argv[1], check_hashes=False)
    print("loaded")
except ArtifactError as exc:
    print("refused:", exc)
"""


def _load_unhashed_in_a_subprocess(path) -> str:
    """The outcome of load(path, check_hashes=False) in a fresh process (a hang fails by timeout,
    a crash by its exit status)."""
    done = subprocess.run([sys.executable, "-c", UNHASHED_LOAD, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"rc {done.returncode}: {done.stderr[-2000:]}"
    return done.stdout.strip()


def test_a_library_pointing_at_dev_zero_is_refused_without_hashes(tmp_path):
    path = tmp_path / "net.aot"
    shutil.copytree(support.artifact("float32"), path)
    (path / "model.so").unlink()
    (path / "model.so").symlink_to("/dev/zero")
    assert _load_unhashed_in_a_subprocess(path).startswith("refused:")
    assert "model.so is not a regular file" in _load_unhashed_in_a_subprocess(path)


def test_a_fifo_as_state_file_is_refused_without_hashes(tmp_path):
    path = tmp_path / "net.aot"
    shutil.copytree(support.artifact("float32"), path)
    (path / "state.npz").unlink()
    os.mkfifo(path / "state.npz")
    assert "state.npz is not a regular file" in _load_unhashed_in_a_subprocess(path)


@pytest.mark.parametrize("name", ["params.npz", "model.so"])
def test_a_file_larger_than_the_manifest_says_is_refused_without_hashes(name, tmp_path):
    path = tmp_path / "net.aot"
    shutil.copytree(support.artifact("float32"), path)
    with open(path / name, "ab") as handle:
        handle.write(b"\0" * 4096)
    with pytest.raises(ArtifactError, match=rf"{name.replace('.', '[.]')} has \d+ bytes, more than the \d+ the manifest"):
        load(path, check_hashes=False)


@pytest.mark.parametrize("keep", [0.3, 0.9])
def test_a_truncated_library_is_refused_without_hashes_not_a_crash(keep, tmp_path):
    path = tmp_path / "net.aot"
    shutil.copytree(support.artifact("float32"), path)
    data = (path / "model.so").read_bytes()
    (path / "model.so").write_bytes(data[:int(keep * len(data))])
    assert "model.so is truncated or damaged" in _load_unhashed_in_a_subprocess(path)


DIE_WHILE_LOADING = """
import os, signal, sys
import aotsnn.runtime.library as library
real = library.tvm_ffi.get_global_func
def dying(name):
    loader = real(name)
    def load(path, kind):
        print(os.path.dirname(path), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)       # as a crash inside a damaged library would
    return load
library.tvm_ffi.get_global_func = dying
from aotsnn.runtime import load
load(sys.argv[1])
"""


def test_a_private_copy_left_by_a_dead_process_is_removed_by_the_next_load():
    done = subprocess.run([sys.executable, "-c", DIE_WHILE_LOADING, str(support.artifact("float32"))],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == -9
    left = done.stdout.strip()
    assert os.path.isdir(left) and os.path.basename(left).startswith("aotsnn-lib-")
    load(support.artifact("float32"))
    assert not os.path.exists(left)


# -- runtime-only installs and the CLI -------------------------------------------------------------

@pytest.mark.parametrize("command", [["compile", "x:y", "-o", "x.aot"], ["demo"], ["verify", "x.aot"]])
def test_a_runtime_only_install_says_which_extra_to_install(command):
    done = runtime_only_cli(*command)
    assert done.returncode == 2, done.stderr
    assert f"'aotsnn {command[0]}' needs the [compile] extra" in done.stderr
    assert 'pip install "aotsnn[compile]"' in done.stderr and "Traceback" not in done.stderr


def test_a_runtime_only_install_lists_no_target_as_buildable():
    done = runtime_only_cli("targets")
    assert done.returncode == 0, done.stderr
    # one line per target; indented lines under a target are details (the OpenCL devices present)
    lines = [line for line in done.stdout.splitlines() if line.strip() and not line.startswith(" ")]
    assert lines and all("cannot build here: needs the [compile] extra" in line for line in lines), done.stdout
    assert any(line.startswith("host ") and "runs here" in line for line in lines)


def test_a_runtime_only_install_runs_and_describes_artifacts():
    done = runtime_only_cli("run", str(support.artifact("float32")), "--steps", "20")
    assert done.returncode == 0 and "20 steps" in done.stdout, done.stderr


def test_info_on_a_manifest_without_build_facts(tmp_path, capsys):
    from aotsnn.cli import main

    path = support.resealed_copy(support.artifact("float32"), tmp_path / "bare.aot",
                                 edit=lambda m: m.update(build={"workspace_bytes": m["build"]["workspace_bytes"]}))
    assert main(["info", str(path)]) == 0
    assert "? kernels, ? calls/step" in capsys.readouterr().out


def test_every_file_of_an_artifact_has_a_recorded_size():
    manifest = json.loads((support.artifact("float32") / MANIFEST).read_text())
    assert set(manifest["file_bytes"]) == set(manifest["files"]) >= set(HASHED_FILES)
