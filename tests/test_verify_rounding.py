"""aotsnn.verify.rounding: a spike decision that differs from float64 is excused only when the
reference at the artifact's precision makes it too, and then the reset leaves follow it."""
import numpy as np

from aotsnn.verify.report import is_spike_leaf, leaf_error
from aotsnn.verify.rounding import excuse_rounding


def _trees():
    got = {"exc.spikes": np.array([[[1.0, 0.0, 0.0]]]), "exc.v": np.array([[[0.0, 5.0, 6.0]]]),
           "inh.spikes": np.array([[[0.0]]])}
    ref64 = {"exc.spikes": np.array([[[0.0, 0.0, 0.0]]]), "exc.v": np.array([[[9.99999, 5.0, 6.0]]]),
             "inh.spikes": np.array([[[0.0]]])}
    return got, ref64


def test_a_flip_the_low_precision_reference_shares_is_excused_with_its_reset():
    got, ref64 = _trees()
    low = {"exc.spikes": np.array([[[1.0, 0.0, 0.0]]]), "exc.v": np.array([[[0.0, 5.0, 6.0]]]),
           "inh.spikes": np.array([[[0.0]]])}
    patched, rounded = excuse_rounding(got, ref64, lambda: low, is_spike_leaf)
    assert rounded == {"exc.spikes": 1}
    error = leaf_error("exc.spikes", got["exc.spikes"], patched["exc.spikes"], 1e-5, 1e-4)
    assert error.within_tolerance and not error.spike_mismatches
    assert leaf_error("exc.v", got["exc.v"], patched["exc.v"], 1e-5, 1e-4).within_tolerance


def test_a_flip_the_low_precision_reference_does_not_share_still_fails():
    got, ref64 = _trees()
    patched, rounded = excuse_rounding(got, ref64, lambda: ref64, is_spike_leaf)
    assert rounded == {}
    assert leaf_error("exc.spikes", got["exc.spikes"], patched["exc.spikes"], 1e-5, 1e-4).spike_mismatches == 1
    assert not leaf_error("exc.v", got["exc.v"], patched["exc.v"], 1e-5, 1e-4).within_tolerance


def test_no_flip_needs_no_low_precision_reference():
    got, _ = _trees()
    def never():
        raise AssertionError("called")
    patched, rounded = excuse_rounding(got, dict(got), never, is_spike_leaf)
    assert rounded == {} and patched.keys() == got.keys()
