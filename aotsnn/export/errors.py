"""Errors raised while lowering and compiling a model."""


class ExportError(RuntimeError):
    """A model could not be lowered or compiled; the message names the op, leaf or stage."""
