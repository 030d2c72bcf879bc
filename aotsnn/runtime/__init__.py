"""The thin runtime: load an artifact and step it. Imports only numpy and tvm_ffi."""
from aotsnn.runtime.format import ArtifactError, bfloat16_bits, bfloat16_values
from aotsnn.runtime.session import Session, load
from aotsnn.runtime.stepper import Stepper

__all__ = ["ArtifactError", "Session", "Stepper", "bfloat16_bits", "bfloat16_values", "load"]
