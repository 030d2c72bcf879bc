"""The thin runtime: load an artifact and step it. Imports only numpy and tvm_ffi."""
from aotsnn.runtime.format import ArtifactError, bfloat16_bits, bfloat16_values
from aotsnn.runtime.session import Session, load

__all__ = ["ArtifactError", "Session", "bfloat16_bits", "bfloat16_values", "load"]
