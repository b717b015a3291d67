"""All ops, registered by name in OPS when this package is imported."""

from . import activations, arith, conv, losses, nn, pool, shape, tensor, vision
from .registry import (
    OPS,
    Array,
    Composite,
    Op,
    OpError,
    Shape,
    broadcast_shape,
    is_composite,
    register,
    unbroadcast,
)

__all__ = [
    "OPS",
    "Array",
    "Composite",
    "Op",
    "OpError",
    "Shape",
    "activations",
    "arith",
    "broadcast_shape",
    "conv",
    "is_composite",
    "losses",
    "nn",
    "pool",
    "register",
    "shape",
    "tensor",
    "unbroadcast",
    "vision",
]
