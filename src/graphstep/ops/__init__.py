"""All ops, registered by name in OPS when this package is imported."""

from . import arith
from .registry import OPS, Op, OpError, Shape, broadcast_shape, register, unbroadcast

__all__ = ["OPS", "Op", "OpError", "Shape", "arith", "broadcast_shape", "register", "unbroadcast"]
