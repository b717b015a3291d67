"""graphstep as an ONNX backend, so ONNX's own conformance suite can run against it.

`prepare` keeps the model; `run` fixes the inputs' shapes to those of the
arrays given, makes inputs that are not float tensors (shapes, axes, bounds)
constants of the model, imports it as graphstep would open it, traces it
with graphstep's own ops (float64 inside) and returns the model's outputs in
their declared types.

    import onnx.backend.test
    from graphstep.onnx_backend import GraphstepBackend
    onnx.backend.test.BackendTest(GraphstepBackend, __name__)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from onnx import ModelProto, helper, numpy_helper
from onnx.backend.base import Backend, BackendRep

from .errors import GraphstepError
from .importers import ModelOptions
from .importers.onnx import FLOAT_TYPES, FOLDABLE, FOLDED, MAPPED, import_model


class GraphstepRep(BackendRep):
    """A prepared model: imported again for each set of input shapes, traced once per run."""

    def __init__(self, model: ModelProto) -> None:
        self.model = model
        initializers = {t.name for t in model.graph.initializer}
        self.inputs = [v for v in model.graph.input if v.name not in initializers]

    def run(self, inputs: Any, **kwargs: Any) -> tuple[np.ndarray, ...]:
        arrays = self._arrays(inputs)
        model = ModelProto()
        model.CopyFrom(self.model)
        declared = {v.name: v for v in model.graph.input}
        data: dict[str, np.ndarray] = {}
        for info, array in zip(self.inputs, arrays, strict=True):
            if info.type.tensor_type.elem_type not in FLOAT_TYPES:
                model.graph.input.remove(declared[info.name])
                model.graph.initializer.append(numpy_helper.from_array(array, info.name))
                continue
            dims = declared[info.name].type.tensor_type.shape
            del dims.dim[:]
            for n in array.shape:
                dims.dim.add().dim_value = int(n)
            data[info.name] = array
        imported = import_model(model, "<model>", ModelOptions())
        spec = imported.spec
        names = {spec.sources.get(n, n): n for n in spec.leaves}
        names.update({spec.sources.get(n, n): n for n in spec.entries})
        values = {
            names[name]: np.asarray(array, dtype=np.float64)
            for name, array in data.items()
            if name in names
        }
        trace = imported.graph().trace(values)
        outputs = []
        for out in model.graph.output:
            value = trace.value(names[out.name])
            dtype = helper.tensor_dtype_to_np_dtype(out.type.tensor_type.elem_type)
            outputs.append(np.asarray(value).astype(dtype))
        return tuple(outputs)

    def _arrays(self, inputs: Any) -> list[np.ndarray]:
        if isinstance(inputs, dict):
            return [np.asarray(inputs[v.name]) for v in self.inputs]
        given = list(inputs) if isinstance(inputs, list | tuple) else [inputs]
        if len(given) != len(self.inputs):
            raise GraphstepError(f"the model takes {len(self.inputs)} inputs, got {len(given)}")
        return [np.asarray(a) for a in given]


class GraphstepBackend(Backend):
    """ONNX's Backend interface over graphstep's importer and trace (CPU, float tensors)."""

    @classmethod
    def is_compatible(cls, model: ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        """Float outputs, and only operators graphstep maps or folds (inputs of other types
        become constants when the model runs)."""
        graph = model.graph
        typed = list(graph.output)
        if any(
            v.type.WhichOneof("value") != "tensor_type"
            or v.type.tensor_type.elem_type not in FLOAT_TYPES
            for v in typed
        ):
            return False
        known = set(MAPPED) | set(FOLDED) | set(FOLDABLE)
        return all(n.domain in ("", "ai.onnx") and n.op_type in known for n in graph.node)

    @classmethod
    def prepare(cls, model: ModelProto, device: str = "CPU", **kwargs: Any) -> GraphstepRep:
        super().prepare(model, device, **kwargs)
        return GraphstepRep(model)

    @classmethod
    def run_model(
        cls, model: ModelProto, inputs: Any, device: str = "CPU", **kwargs: Any
    ) -> tuple[np.ndarray, ...]:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return device == "CPU"
