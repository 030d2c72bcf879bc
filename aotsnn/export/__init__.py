"""Lower a Network to StableHLO, compile it with TVM, and write an artifact (needs jax and TVM)."""
from aotsnn.export.artifact import compile_network
from aotsnn.export.build import compile_for
from aotsnn.export.cbundle import compile_bundle
from aotsnn.export.errors import ExportError

__all__ = ["compile_for", "compile_bundle", "compile_network", "ExportError"]
