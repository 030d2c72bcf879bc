"""Lower a Network to StableHLO, compile it with TVM, and write an artifact (needs jax and TVM).

`compile_network` is the entry point; aotsnn.export.compile describes the stages.
"""
from aotsnn.export.compile import compile_network
from aotsnn.export.errors import ExportError

__all__ = ["compile_network", "ExportError"]
