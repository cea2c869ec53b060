"""The REST API over a registered model's ONNX graph (`weir serve`)."""

from weir.serve.app import create_app
from weir.serve.model import LoadedModel, ModelHolder

__all__ = ["LoadedModel", "ModelHolder", "create_app"]
