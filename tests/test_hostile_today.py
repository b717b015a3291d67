"""Hostile input against what landed on 30 November: pictures of images, the overlay, the
player's page and the ONNX import's raw data."""

from __future__ import annotations

import warnings

import numpy as np

from graphstep.colormap import colouring


def test_rgb_picture_of_the_largest_floats_is_black_to_white_without_overflow() -> None:
    a = np.zeros((3, 8, 8))
    a[:, 0, 0] = -1e308
    a[:, 0, 1] = 1e308
    paint = colouring(a, rgb=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = paint.apply(a)
    assert out[0, 0].tolist() == [0, 0, 0]
    assert out[0, 1].tolist() == [255, 255, 255]
    assert out[1, 1].tolist() == [128, 128, 128]  # 0 is half way
