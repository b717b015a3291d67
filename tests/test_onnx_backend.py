"""ONNX's own backend suite: the node tests of every operator graphstep imports, run through
`graphstep.onnx_backend` and compared by BackendTest's own comparison (its rtol and atol),
one pytest case each, and then all the passing ones once more through BackendTest itself.

A node test passes, or fails for a documented limitation (README, "ONNX models"), which
the test asserts as the error graphstep gives. Node tests with non-float outputs are not
collected: `GraphstepBackend.is_compatible` refuses them.
"""

from __future__ import annotations

import io
import re
import unittest
import warnings
from collections import Counter

import numpy as np
import onnx.backend.test
import pytest
from onnx.backend.test.loader import load_model_tests
from onnx.backend.test.runner import Runner

from graphstep import GraphstepError
from graphstep.onnx_backend import GraphstepBackend

# ONNX's test-name prefix for each operator of the issue
OPERATORS = {
    "Conv": ("conv", "basic_conv"),
    "BatchNormalization": ("batchnorm",),
    "Relu": ("relu",),
    "LeakyRelu": ("leakyrelu",),
    "Sigmoid": ("sigmoid",),
    "Tanh": ("tanh",),
    "Softmax": ("softmax",),
    "LogSoftmax": ("logsoftmax",),
    "MaxPool": ("maxpool",),
    "AveragePool": ("averagepool",),
    "GlobalAveragePool": ("globalaveragepool",),
    "GlobalMaxPool": ("globalmaxpool",),
    "LRN": ("lrn",),
    "Dropout": ("dropout",),
    "Gemm": ("gemm",),
    "MatMul": ("matmul",),
    "Add": ("add",),
    "Sub": ("sub",),
    "Mul": ("mul",),
    "Div": ("div",),
    "Pow": ("pow",),
    "Neg": ("neg",),
    "Abs": ("abs",),
    "Exp": ("exp",),
    "Log": ("log",),
    "Sqrt": ("sqrt",),
    "Clip": ("clip",),
    "Sum": ("sum",),
    "Max": ("max",),
    "Min": ("min",),
    "Concat": ("concat",),
    "Split": ("split",),
    "Reshape": ("reshape",),
    "Flatten": ("flatten",),
    "Transpose": ("transpose",),
    "Squeeze": ("squeeze",),
    "Unsqueeze": ("unsqueeze",),
    "Identity": ("identity",),
    "ReduceMean": ("reduce_mean",),
    "ReduceSum": ("reduce_sum",),
}

# documented limitations: the test's name → what graphstep's error says
LIMITATIONS = {
    r"test_(max|average)pool_3d_.*": "graphstep supports 1-D (N, C, L) and 2-D",
    r"test_batchnorm_.*_training_mode": "training mode is not supported",
    r"test_reduce_sum_empty_set.*": "has shape",  # tensors with a 0 dimension
    r"test_reshape_allowzero_reordered": "dimension below 1",
    r"test_split_zero_size_splits_.*": "do not split",
}


def _operator(name: str) -> str | None:
    rest = name.removeprefix("test_")
    best = None
    for op, prefixes in OPERATORS.items():
        for p in prefixes:
            if (rest == p or rest.startswith(p + "_")) and (best is None or len(p) > best[1]):
                best = (op, len(p))
    if best is None or re.match(r"test_(reduce_sum_square|maxunpool|max_pool)", name):
        return None
    if best[0] == "Max" and rest.startswith("maxpool"):
        return None
    return best[0]


with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    ALL = [t for t in load_model_tests(kind="node") if _operator(t.name)]
CASES = [t for t in ALL if GraphstepBackend.is_compatible(t.model)]


def _limitation(name: str) -> str | None:
    return next((why for pattern, why in LIMITATIONS.items() if re.fullmatch(pattern, name)), None)


def _run(case) -> None:  # type: ignore[no-untyped-def]
    rep = GraphstepBackend.prepare(case.model)
    for inputs, outputs in case.data_sets:
        got = rep.run([np.asarray(i) for i in inputs])
        Runner.assert_similar_outputs(
            [np.asarray(o) for o in outputs], list(got), rtol=case.rtol, atol=case.atol
        )


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_node_test_passes_or_fails_for_a_documented_limitation(case) -> None:  # type: ignore[no-untyped-def]
    why = _limitation(case.name)
    if why is None:
        _run(case)
    else:
        with pytest.raises(GraphstepError, match=re.escape(why)):
            _run(case)


def test_every_operator_of_the_issue_passes_node_tests() -> None:
    passing = Counter(_operator(c.name) for c in CASES if _limitation(c.name) is None)
    assert set(OPERATORS) == set(passing)
    assert sum(passing.values()) >= 210


def test_a_model_with_integer_outputs_is_not_compatible() -> None:
    shape_tests = [t for t in load_model_tests(kind="node") if t.name == "test_shape"]
    assert not GraphstepBackend.is_compatible(shape_tests[0].model)


def test_onnx_backend_test_runs_the_passing_node_tests_through_graphstep() -> None:
    """The same cases through BackendTest itself, as ONNX runs its conformance suite."""
    passing = [c.name for c in CASES if _limitation(c.name) is None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        backend_test = onnx.backend.test.BackendTest(GraphstepBackend, __name__)
    for name in passing:
        backend_test.include(rf"^{name}_cpu$")
    suite = unittest.TestSuite()
    for case in backend_test.test_cases.values():
        suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(case))
    result = unittest.TextTestRunner(stream=io.StringIO()).run(suite)
    assert not result.failures and not result.errors
    assert result.testsRun - len(result.skipped) == len(passing)
