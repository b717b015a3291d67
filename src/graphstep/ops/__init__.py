"""All ops, registered by name in OPS when this package is imported."""

from . import activations, arith, conv, losses, nn, pool, shape, tensor, vision
from .registry import OPS, Op, OpError, Shape, broadcast_shape, register, unbroadcast

__all__ = [
    "OPS",
    "Op",
    "OpError",
    "Shape",
    "activations",
    "arith",
    "broadcast_shape",
    "conv",
    "losses",
    "nn",
    "pool",
    "register",
    "shape",
    "tensor",
    "unbroadcast",
    "vision",
]
