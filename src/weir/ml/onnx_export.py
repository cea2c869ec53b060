"""The whole fitted pipeline (features + estimator) as one ONNX graph, checked for parity.

Inputs are one tensor per prepared column ([N, 1]: float32 for numbers, string for
categories), so a caller feeds exactly what `prepare_frame` makes. Weir's own transformers
get converters here; LightGBM's comes from onnxmltools. An export is accepted only when
onnxruntime's predictions on the held-out rows equal the native ones within a tolerance.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from weir.core.errors import StepError
from weir.ml.rows import feeds_for
from weir.project.ml_config import FeatureSpec

if TYPE_CHECKING:  # types only: the server runs graphs (`session`, `run`) without scikit-learn
    from weir.ml.transformers import CategoryMap, Clip

OPSET = {"": 17, "ai.onnx.ml": 3}
_REGISTERED = False


@dataclass(frozen=True)
class Parity:
    rows: int
    max_difference: float
    tolerance: float
    worst: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.max_difference <= self.tolerance


def _same_shape(operator: Any) -> None:
    kind = operator.inputs[0].type.__class__
    operator.outputs[0].type = kind([None, operator.inputs[0].get_second_dimension()])


def _convert_clip(scope: Any, operator: Any, container: Any) -> None:
    from skl2onnx.algebra.onnx_ops import OnnxClip
    from skl2onnx.common.data_types import guess_numpy_type

    model: Clip = operator.raw_operator
    dtype = guess_numpy_type(operator.inputs[0].type)
    low = np.array(-np.inf if model.low is None else model.low, dtype=dtype)
    high = np.array(np.inf if model.high is None else model.high, dtype=dtype)
    node = OnnxClip(
        operator.inputs[0], low, high, op_version=OPSET[""], output_names=operator.outputs[:1]
    )
    node.add_to(scope, container)


def _convert_log1p(scope: Any, operator: Any, container: Any) -> None:
    from skl2onnx.algebra.onnx_ops import OnnxAdd, OnnxLog
    from skl2onnx.common.data_types import guess_numpy_type

    one = np.array([1.0], dtype=guess_numpy_type(operator.inputs[0].type))
    node = OnnxLog(
        OnnxAdd(operator.inputs[0], one, op_version=OPSET[""]),
        op_version=OPSET[""],
        output_names=operator.outputs[:1],
    )
    node.add_to(scope, container)


def _convert_category_map(scope: Any, operator: Any, container: Any) -> None:
    """Per column a LabelEncoder (known -> mapped, anything else -> the default); columns
    are sliced out, mapped and concatenated again."""
    from skl2onnx.algebra.onnx_ops import (
        OnnxConcat,
        OnnxIdentity,
        OnnxLabelEncoder,
        OnnxReshape,
        OnnxSlice,
    )

    from weir.ml.transformers import UNKNOWN

    model: CategoryMap = operator.raw_operator
    columns = []
    for index, (mapping, default) in enumerate(zip(model.mapping_, model.default_, strict=True)):
        start, end, axis = (np.array([v], dtype=np.int64) for v in (index, index + 1, 1))
        column = OnnxSlice(operator.inputs[0], start, end, axis, op_version=OPSET[""])
        flat = OnnxReshape(column, np.array([-1], dtype=np.int64), op_version=OPSET[""])
        keys = sorted(mapping)
        mapped = OnnxLabelEncoder(
            flat,
            keys_strings=keys,
            values_strings=[mapping[k] for k in keys],
            # an unseen category kept as it is natively is unknown to the encoder either way
            default_string=UNKNOWN if default is None else default,
            op_version=2,
        )
        columns.append(OnnxReshape(mapped, np.array([-1, 1], dtype=np.int64), op_version=OPSET[""]))
    joined = OnnxConcat(*columns, axis=1, op_version=OPSET[""]) if len(columns) > 1 else columns[0]
    OnnxIdentity(joined, op_version=OPSET[""], output_names=operator.outputs[:1]).add_to(
        scope, container
    )


def _register() -> None:
    global _REGISTERED
    if _REGISTERED:
        return
    from skl2onnx import update_registered_converter

    from weir.ml.transformers import CategoryMap, Clip, Log1p

    update_registered_converter(Clip, "WeirClip", _same_shape, _convert_clip)
    update_registered_converter(Log1p, "WeirLog1p", _same_shape, _convert_log1p)
    update_registered_converter(CategoryMap, "WeirCategoryMap", _same_shape, _convert_category_map)
    try:
        from lightgbm import LGBMClassifier, LGBMRegressor
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
        from skl2onnx.common.shape_calculator import (
            calculate_linear_classifier_output_shapes,
            calculate_linear_regressor_output_shapes,
        )

        update_registered_converter(
            LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
        )
        update_registered_converter(
            LGBMRegressor,
            "LightGbmLGBMRegressor",
            calculate_linear_regressor_output_shapes,
            convert_lightgbm,
        )
    except ImportError:  # LightGBM is optional for a plug-in-free install
        pass
    _REGISTERED = True


def input_names(frame: pd.DataFrame, features: FeatureSpec) -> dict[str, str]:
    """Prepared column -> 'float' or 'string'."""
    strings = set(features.categorical) | set(features.text)
    return {name: "string" if name in strings else "float" for name in frame.columns}


def to_onnx(
    pipeline: Any, frame: pd.DataFrame, features: FeatureSpec, task: str, step: str
) -> bytes:
    """The fitted pipeline as ONNX bytes; a part without a converter is a clear error."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    _register()
    if features.text:
        raise StepError(
            step,
            f"text features ({', '.join(features.text)}) cannot be exported to ONNX yet",
            fix="drop the text features or turn export off for this model",
        )
    kinds = input_names(frame, features)
    types = [
        (name, StringTensorType([None, 1]) if kind == "string" else FloatTensorType([None, 1]))
        for name, kind in kinds.items()
    ]
    options = {id(pipeline): {"zipmap": False}} if task == "classification" else {}
    try:
        model = convert_sklearn(pipeline, initial_types=types, target_opset=OPSET, options=options)
    except (RuntimeError, NotImplementedError, ValueError, TypeError) as exc:
        raise StepError(
            step,
            f"the pipeline cannot be converted to ONNX: {exc}",
            fix="choose another algorithm or feature option, or turn export off",
        ) from None
    return bytes(model.SerializeToString())


def with_decision(onnx: bytes, classes: list[Any], threshold: float | None) -> bytes:
    """The graph with its `label` output decided as Weir decides (`weir.ml.metrics.decide`):
    for two classes with a decision threshold, the positive class when its probability
    (as float64) is at least the threshold; otherwise the most probable class, ties to the
    first. skl2onnx's own label is the most probable class, which for a threshold other
    than 0.5 disagreed with Weir on the rows in between. Where the classes cannot be put
    in the graph (neither integers nor text), the `label` output is removed instead: the
    probabilities and the metadata (`describe`) say how to decide."""
    import onnx as onnx_lib
    from onnx import TensorProto, helper, numpy_helper

    model = onnx_lib.load_from_string(onnx)
    graph = model.graph
    label, probabilities = graph.output[0], graph.output[1].name
    kind = label.type.tensor_type.elem_type
    for node in graph.node:  # skl2onnx's label is kept as an unused inner value
        node.output[:] = [f"{o}_most_probable" if o == label.name else o for o in node.output]
    if kind == TensorProto.STRING and all(isinstance(c, str) for c in classes):
        values = np.array(classes, dtype=object)
    elif kind == TensorProto.INT64 and all(
        isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in classes
    ):
        values = np.array(classes, dtype=np.int64)
    else:
        graph.output.remove(label)
        return bytes(model.SerializeToString())
    constants = {"weir_classes": values}
    if threshold is not None and len(classes) == 2:
        constants |= {
            "weir_one": np.array(1, dtype=np.int64),
            "weir_threshold": np.array(threshold),
        }
        nodes = [
            helper.make_node("Gather", [probabilities, "weir_one"], ["weir_p1"], axis=1),
            helper.make_node("Cast", ["weir_p1"], ["weir_p1_64"], to=TensorProto.DOUBLE),
            helper.make_node("GreaterOrEqual", ["weir_p1_64", "weir_threshold"], ["weir_pos"]),
            helper.make_node("Cast", ["weir_pos"], ["weir_class"], to=TensorProto.INT64),
        ]
    else:
        nodes = [helper.make_node("ArgMax", [probabilities], ["weir_class"], axis=1, keepdims=0)]
    nodes.append(helper.make_node("Gather", ["weir_classes", "weir_class"], [label.name], axis=0))
    graph.initializer.extend(numpy_helper.from_array(v, name) for name, v in constants.items())
    graph.node.extend(nodes)
    onnx_lib.checker.check_model(model)
    return bytes(model.SerializeToString())


def describe(onnx: bytes, properties: Mapping[str, Any]) -> bytes:
    """The graph with `properties` in its metadata_props (values as JSON), so a plain
    onnxruntime user finds in the file what Weir keeps in its registry: the classes, the
    threshold, the request fields and how each graph input is made from them."""
    import json

    import onnx as onnx_lib
    from onnx import helper

    model = onnx_lib.load_from_string(onnx)
    helper.set_model_props(model, {k: json.dumps(v) for k, v in properties.items()})
    return bytes(model.SerializeToString())


def session(onnx: bytes, threads: int = 1) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(onnx, options, providers=["CPUExecutionProvider"])


_probability_output: weakref.WeakKeyDictionary[Any, list[str]] = weakref.WeakKeyDictionary()


def run(sess: Any, columns: Mapping[str, Any], kinds: dict[str, str], task: str) -> np.ndarray:
    """Probabilities for classifiers, values or clusters otherwise (what `predictions` gives),
    for prepared columns: a DataFrame from `prepare_frame` or a dict from `prepare_columns`."""
    if task == "classification":  # only the probabilities: labels follow the threshold
        wanted = _probability_output.get(sess)
        if wanted is None:  # get_outputs() builds objects on every call: look once
            # the last output: after the label, or alone where `with_decision` removed it
            wanted = _probability_output.setdefault(sess, [sess.get_outputs()[-1].name])
        return np.asarray(sess.run(wanted, feeds_for(columns, kinds))[0], dtype=np.float64)
    outputs = sess.run(None, feeds_for(columns, kinds))
    if task == "clustering":
        return np.asarray(outputs[0]).reshape(-1)
    return np.asarray(outputs[0], dtype=np.float64).reshape(-1)


def check_parity(
    onnx: bytes,
    native: np.ndarray,
    frame: pd.DataFrame,
    features: FeatureSpec,
    task: str,
    tolerance: float,
) -> Parity:
    """ONNX against native predictions, row by row; the worst rows are kept for the error."""
    kinds = input_names(frame, features)
    exported = run(session(onnx), frame, kinds, task)
    if exported.shape != native.shape:
        return Parity(
            len(frame),
            float("inf"),
            tolerance,
            [{"shape": [list(native.shape), list(exported.shape)]}],
        )
    # absolute for probabilities and small values, relative for large regression values
    scale = np.maximum(1.0, np.abs(native)) if task == "regression" else 1.0
    relative = np.abs(exported - native) / scale
    difference = relative.reshape(len(frame), -1).max(axis=1) if len(frame) else np.zeros(0)
    worst = np.argsort(-difference)[:5]
    rows = [
        {
            "row": int(i),
            "native": np.round(native[i], 6).tolist(),
            "onnx": np.round(exported[i], 6).tolist(),
            "difference": float(difference[i]),
        }
        for i in worst
        if difference[i] > 0
    ]
    return Parity(len(frame), float(difference.max()) if len(frame) else 0.0, tolerance, rows)
