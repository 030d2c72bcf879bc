"""aotsnn: ahead-of-time compiled spiking neural network kernels.

The model library (`aotsnn.components`, `aotsnn.network`) and the exporter need jax; the
runtime (`aotsnn.runtime`) needs only numpy and tvm_ffi. Importing `aotsnn` itself imports
neither, so `import aotsnn.runtime` works on a device without jax.
"""
__version__ = "0.1.0"
