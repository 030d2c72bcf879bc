"""Layers that imported graphs (NIR, PyTorch layouts) need: channels-first convolution and
pooling, element-wise scaling and per-unit delays."""
from .conv import AvgPool, Conv, SumPool
from .elementwise import Delay, Scale

__all__ = ["Conv", "SumPool", "AvgPool", "Scale", "Delay"]
