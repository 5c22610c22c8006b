"""Reading an MLflow model directory: the ``MLmodel`` file, its flavours and its signature."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from opsloop.errors import InvalidInputError, NotFoundError

__all__ = ["ColumnSpec", "MLmodel", "ModelSignature", "TensorSpec", "read_mlmodel"]

NUMERIC_TYPES = frozenset({"double", "float", "long", "integer", "boolean"})


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One named input column of a signature (MLflow ``ColSpec``)."""

    name: str | None
    type: str
    required: bool = True

    @property
    def numeric(self) -> bool:
        return self.type in NUMERIC_TYPES


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A tensor input (MLflow ``TensorSpec``): a numpy dtype and a shape, ``-1`` for any size."""

    dtype: str
    shape: tuple[int, ...]
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ModelSignature:
    """The input side of a model signature: named columns, or one tensor, or nothing known."""

    columns: tuple[ColumnSpec, ...] = ()
    tensor: TensorSpec | None = None

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns if c.name is not None]

    @property
    def numeric_only(self) -> bool:
        """True when every input is a named numeric column: the ndarray fast path applies."""
        return bool(self.columns) and all(c.numeric and c.name for c in self.columns)

    @classmethod
    def parse(cls, inputs: str | list[dict[str, Any]] | None) -> ModelSignature:
        """Parse the ``signature.inputs`` JSON string of an ``MLmodel`` file."""
        if not inputs:
            return cls()
        specs = json.loads(inputs) if isinstance(inputs, str) else inputs
        if len(specs) == 1 and specs[0].get("type") == "tensor":
            t = specs[0]["tensor-spec"]
            return cls(tensor=TensorSpec(str(t["dtype"]), tuple(t.get("shape") or (-1,)), specs[0].get("name")))
        cols = tuple(
            ColumnSpec(s.get("name"), str(s.get("type")), bool(s.get("required", True))) for s in specs
        )
        return cls(columns=cols)

    def to_dict(self) -> dict[str, Any]:
        if self.tensor is not None:
            return {"tensor": {"dtype": self.tensor.dtype, "shape": list(self.tensor.shape)}}
        return {"columns": [{"name": c.name, "type": c.type, "required": c.required} for c in self.columns]}


@dataclass(slots=True)
class MLmodel:
    """The parts of an ``MLmodel`` file that serving needs."""

    path: Path
    flavors: dict[str, dict[str, Any]]
    signature: ModelSignature = field(default_factory=ModelSignature)
    model_uuid: str = ""
    mlflow_version: str = ""
    input_example_path: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def flavor(self, name: str) -> dict[str, Any] | None:
        return self.flavors.get(name)

    def input_example(self) -> dict[str, Any] | None:
        """The saved input example as a ``dataframe_split`` payload, or ``None``."""
        if self.input_example_path is None or not self.input_example_path.is_file():
            return None
        data = json.loads(self.input_example_path.read_text())
        if isinstance(data, dict) and "data" in data:
            return {"dataframe_split": {"columns": data.get("columns"), "data": data["data"]}}
        return None


def read_mlmodel(model_dir: str | Path) -> MLmodel:
    """Read ``MLmodel`` from a local model directory.

    Raises:
        NotFoundError: the directory or its ``MLmodel`` file does not exist.
        InvalidInputError: the file is not a valid MLmodel document.
    """
    path = Path(model_dir)
    mlmodel_file = path / "MLmodel"
    if not mlmodel_file.is_file():
        raise NotFoundError(f"no MLmodel file in {path} (not an MLflow model directory)", field="model_uri")
    try:
        doc = yaml.safe_load(mlmodel_file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{mlmodel_file} is not valid YAML: {exc}", field="model_uri") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("flavors"), dict):
        raise InvalidInputError(f"{mlmodel_file} has no 'flavors' section", field="model_uri")
    sig = doc.get("signature") or {}
    example = (doc.get("saved_input_example_info") or {}).get("artifact_path")
    return MLmodel(
        path=path,
        flavors=doc["flavors"],
        signature=ModelSignature.parse(sig.get("inputs")),
        model_uuid=str(doc.get("model_uuid") or ""),
        mlflow_version=str(doc.get("mlflow_version") or ""),
        input_example_path=path / example if example else None,
        raw=doc,
    )
