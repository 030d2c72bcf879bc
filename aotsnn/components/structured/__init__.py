"""Structured synapses: patched (block-diagonal) and convolutional, static and plastic."""
from aotsnn.components.structured.conv import (ConvSynapse, DeconvSynapse, HebbianConvSynapse, HebbianDeconvSynapse,
                                               StaticConvSynapse, StaticDeconvSynapse, TraceSTDPConvSynapse,
                                               TraceSTDPDeconvSynapse)
from aotsnn.components.structured.patched import (HebbianPatchedSynapse, PatchedSynapse, PatchGeometry,
                                                  StaticPatchedSynapse)
from aotsnn.components.structured.reshape import Reshape

__all__ = ["ConvSynapse", "DeconvSynapse", "HebbianConvSynapse", "HebbianDeconvSynapse", "HebbianPatchedSynapse",
           "PatchGeometry", "PatchedSynapse", "Reshape", "StaticConvSynapse", "StaticDeconvSynapse",
           "StaticPatchedSynapse", "TraceSTDPConvSynapse", "TraceSTDPDeconvSynapse"]
