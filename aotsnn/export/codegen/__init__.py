"""Code generators: the drivers around the kernels (C time loop, plain C API, CUDA) and their C sources (csrc/)."""
