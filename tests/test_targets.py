"""Every target against the JAX reference, with the small E/I network of conftest.py.

Tests that take `target` run once per target (`--targets` picks them; unavailable targets
skip with the reason). Steps are few: cortex-m runs in qemu-system.
"""
import json
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aotsnn.demo import demo_inputs
from aotsnn.export import compile_network
from aotsnn.verify import compare

STEPS = 120


@pytest.fixture(scope="session")
def compiled(target, small_net, tmp_path_factory):
    """The small network's artifact for `target` (one per target per test session)."""
    return compile_network(small_net, tmp_path_factory.mktemp(target.name) / "small.aot", target=target.name)


@pytest.fixture()
def target_session(compiled):
    from aotsnn.runtime.harness import load_any

    return load_any(compiled)


@pytest.fixture(scope="module")
def drive(small_net):
    return demo_inputs(small_net, STEPS, seed=11)


def test_target_matches_the_jax_reference(target, target_session, small_net, drive):
    report = compare(target_session, small_net, drive)
    assert report.target == target.name and report.steps == STEPS
    assert report.passed, report.failures()
    assert sum(check.artifact_spikes for check in report.free_run) > 0, "the network must spike to test anything"
    assert all(check.identical for check in report.free_run), report.free_run


def test_run_equals_step_by_step_and_resume_is_bit_exact(target_session, drive):
    inputs = {k: v.astype(np.float32) for k, v in drive.items()}
    state0 = target_session.init_state()
    final, outputs = target_session.run(state0, inputs)
    half = {k: v[:STEPS // 2] for k, v in inputs.items()}
    rest = {k: v[STEPS // 2:] for k, v in inputs.items()}
    mid, first = target_session.run(state0, half)
    end, second = target_session.run(mid, rest)
    for name in final:
        np.testing.assert_array_equal(end[name], final[name], err_msg=f"resumed run, state '{name}'")
    for name in outputs:
        np.testing.assert_array_equal(np.concatenate([first[name], second[name]]), outputs[name], err_msg=name)
    state, out = target_session.step(state0, {k: v[0] for k, v in inputs.items()})
    for name in out:
        np.testing.assert_array_equal(out[name], outputs[name][0], err_msg=f"step, output '{name}'")


def test_parameters_are_run_time_inputs(target_session, small_net, drive):
    inputs = {k: v.astype(np.float32) for k, v in drive.items()}
    _, base = target_session.run(target_session.init_state(), inputs)
    changes = {"exc.potential_tau": 8.0, "ee.g_syn_bar": 0.0}
    target_session.set_params(**changes)
    _, changed = target_session.run(target_session.init_state(), inputs)
    assert not np.array_equal(changed["exc.spikes"], base["exc.spikes"])
    params = {**small_net.params, **{k: np.asarray(v) for k, v in changes.items()}}
    cast = lambda tree: {k: jnp.asarray(v, jnp.float32) for k, v in tree.items()}
    _, ref = jax.jit(lambda p, s, x: small_net.run(s, x, p))(cast(params), cast(small_net.init_state()), cast(inputs))
    for name in changed:
        np.testing.assert_array_equal(changed[name], np.asarray(ref[name]), err_msg=name)


# -- the C bundle itself (built and run natively with the `c` target) --------------------------------

@pytest.fixture(scope="module")
def c_bundle(small_net, tmp_path_factory):
    from aotsnn.targets import get

    ok, why = get("c").runs_here()
    if not ok:
        pytest.skip(why)
    return compile_network(small_net, tmp_path_factory.mktemp("bundle") / "small.aot", target="c")


USER_PROGRAM = r"""
#include <stdio.h>
#include <string.h>
#include "ei_demo.h"

static ei_demo_state s;
static ei_demo_inputs in[50];
static ei_demo_outputs out[50];
static const ei_demo_param_t tiny_resistance = 1e-6f;      /* must stay > 0: set_param checks ranges */
static ei_demo_param_t no_weights[EI_DEMO_PARAMS_EE_WEIGHTS_SIZE];   /* packed: one value per connection */

static int spikes(int T) {
  int n = 0;
  for (int t = 0; t < T; ++t)
    for (int i = 0; i < EI_DEMO_OUTPUTS_EXC_SPIKES_SIZE; ++i) n += out[t].exc_spikes[0][i] > 0.5f;
  return n;
}

int main(void) {
  for (int t = 0; t < 50; ++t)
    for (int i = 0; i < EI_DEMO_INPUTS_DRIVE_EXC_SIZE; ++i) in[t].drive_exc[0][i] = 120.0f;
  ei_demo_init(&s);
  if (ei_demo_run(&s, 50, in, out) != 0) return 1;
  int driven = spikes(50), driven_25 = spikes(25);
  ei_demo_vars connected = s.vars;
  ei_demo_init(&s);
  for (int t = 0; t < 25; ++t) if (ei_demo_step(&s, &in[t], &out[t]) != 0) return 1;
  int stepped = spikes(25);
  ei_demo_init(&s);                             /* parameters change at run time, one leaf at a time */
  if (ei_demo_set_param(&s, EI_DEMO_PARAM_EXC_RESISTANCE, &tiny_resistance) != 0) return 1;
  for (int t = 0; t < 50; ++t) if (ei_demo_step(&s, &in[t], &out[t]) != 0) return 1;
  int silenced = spikes(50);
  ei_demo_init(&s);                             /* a whole weight matrix (as stored: see its _SIZE) */
  if (ei_demo_set_param(&s, EI_DEMO_PARAM_EE_WEIGHTS, no_weights) != 0) return 1;
  if (ei_demo_run(&s, 50, in, out) != 0) return 1;
  int unconnected = memcmp(&connected, &s.vars, sizeof connected) != 0;   /* the state moved differently */
  int rc = ei_demo_run(&s, -1, in, out);
  printf("%d %d %d %d %d %s\n", driven, stepped - driven_25, silenced, unconnected, rc, ei_demo_last_error());
  return 0;
}
"""


def test_c_api_serves_a_user_program(c_bundle, tmp_path):
    """The header, `make` (lib<model>.a) and the API as a C programmer uses them."""
    bundle = c_bundle / "c"
    (tmp_path / "user.c").write_text(USER_PROGRAM)
    subprocess.run(["make", "-s", "-C", str(bundle)], check=True, capture_output=True)
    build = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{bundle}", str(tmp_path / "user.c"),
                            str(bundle / "libei_demo.a"), "-lm", "-o", str(tmp_path / "user")],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    result = subprocess.run([str(tmp_path / "user")], capture_output=True, text=True, check=True)
    driven, stepped_minus_run, silenced, unconnected, rc, *error = result.stdout.split()
    assert int(driven) > 0 and int(silenced) == 0, result.stdout
    assert int(stepped_minus_run) == 0, result.stdout             # 25 step()s from init = the run's first 25 steps
    assert int(unconnected) == 1, result.stdout                   # new weights apply from the next step
    assert int(rc) == -1 and "T must be >= 0" in " ".join(error)


def test_generated_c_is_clean_c99(c_bundle, tmp_path):
    """The driver, header, data and harness compile as C99 with every warning an error."""
    bundle = c_bundle / "c"
    for source in ("ei_demo.c", "ei_demo_data.c", "harness.c", "platform_posix.c"):
        done = subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-c", str(bundle / source),
                               "-o", str(tmp_path / "x.o")], capture_output=True, text=True)
        assert done.returncode == 0, f"{source}:\n{done.stderr}"


def test_kernels_need_no_runtime_library(c_bundle):
    kernels = (c_bundle / "c" / "ei_demo_kernels.c").read_text()
    assert '#include "tvm/' not in kernels and "__tvm_ffi_" not in kernels
    undefined = subprocess.run(["nm", "-u", str(c_bundle / "c" / "libei_demo.a")], capture_output=True, text=True,
                               check=True).stdout.split()
    allowed = {"expf", "logf", "memcpy", "memset", "U"}
    assert {s for s in undefined if not s.endswith(":") and not s.startswith("ei_demo")} <= allowed, undefined


def test_a_changed_bundle_file_is_refused(c_bundle, tmp_path):
    import shutil

    from aotsnn.runtime import ArtifactError
    from aotsnn.runtime.harness import load

    copy = tmp_path / "copy.aot"
    shutil.copytree(c_bundle, copy)
    with open(copy / "c" / "ei_demo_data.c", "a") as handle:
        handle.write("/* edited */\n")
    with pytest.raises(ArtifactError, match=r"ei_demo_data\.c (is missing or does not match its hash|has \d+ bytes)"):
        load(copy)


def test_harness_runtime_needs_neither_jax_nor_tvm(c_bundle, run_without_compiler):
    run_without_compiler("aotsnn.runtime.harness:load", c_bundle)


# -- availability, the matrix and the command line ----------------------------------------------------

def test_a_missing_toolchain_makes_the_target_unavailable(small_net, tmp_path, monkeypatch):
    from aotsnn.targets import TargetUnavailableError, get

    monkeypatch.setenv("PATH", str(tmp_path))           # no compiler, no emulator
    ok, why = get("riscv64-linux").runs_here()
    assert not ok and "riscv64-linux-gnu-gcc (apt-get install gcc-riscv64-linux-gnu)" in why
    with pytest.raises(TargetUnavailableError, match="qemu-riscv64"):
        compile_network(small_net, tmp_path / "x.aot", target="riscv64-linux")


def test_matrix_lists_every_target(small_net, tmp_path, monkeypatch):
    from aotsnn.runtime.cpu import cpu_flags
    from aotsnn.targets import Target, registry
    from aotsnn.verify import verify_targets

    absent = Target(name="nowhere", description="a target whose compiler is missing", tvm_target={"kind": "c"},
                    artifact="c-bundle", requires={"no-such-compiler-here": "gcc-nowhere"})
    monkeypatch.setattr("aotsnn.verify.matrix.get", lambda name: {**registry(), "nowhere": absent}[name])
    matrix = verify_targets(small_net, ["host", "c", "nowhere"], demo_inputs(small_net, 40, seed=2), workdir=tmp_path)
    assert [r.target for r in matrix.results] == ["host", "c", "nowhere"]
    host, c, nowhere = matrix.results
    assert host.passed and c.passed and matrix.passed
    assert not nowhere.available and "apt-get install gcc-nowhere" in nowhere.reason
    assert host.artifact_bytes > 0 and c.artifact_bytes > 0 and c.static_ram_bytes > 0
    for leaf in ("exc.v_rel", "ee.g", "exc.spikes"):
        abs_err, rel_err = matrix.error("c", leaf)
        assert 0 <= abs_err < 1e-4 and 0 <= rel_err < 1e-4
    # TVM's LLVM backend fuses a*b+c into one FMA where the host CPU has it (docs/targets.md); the
    # C bundles never contract, so without FMA the two run the same float32 arithmetic.
    if "fma" not in (cpu_flags() or set()):
        assert host.report.free_run_digest == c.report.free_run_digest, "c and host ran the same float32 arithmetic"


def test_cli_verify_targets(tmp_path, monkeypatch, capsys):
    from aotsnn.cli import main

    (tmp_path / "tiny_model.py").write_text(
        "from aotsnn.demo import build_ei_network\n"
        "def net():\n    return build_ei_network(n_exc=16, n_inh=4, p_conn=0.5)\n")
    monkeypatch.chdir(tmp_path)
    assert main(["verify", "--targets", "c", "--model", "tiny_model:net", "--steps", "30"]) == 0
    out = capsys.readouterr().out
    assert "exc.v_rel" in out and "PASS" in out
    assert main(["compile", "tiny_model:net", "--target", "c", "-o", "tiny.aot"]) == 0
    assert json.loads((tmp_path / "tiny.aot" / "manifest.json").read_text())["target"]["artifact"] == "c-bundle"
    assert main(["run", "tiny.aot", "--steps", "20"]) == 0
    assert "steps/s" in capsys.readouterr().out
    assert main(["info", "tiny.aot"]) == 0
    assert "target     c " in capsys.readouterr().out
