"""MLflow's scoring protocol: request bodies in, model inputs out, predictions back to JSON.

Accepted JSON bodies (one key, plus optional ``params``): ``dataframe_split``,
``dataframe_records``, ``instances``, ``inputs``; and ``text/csv``. When every signature input is
a numeric column, the body goes straight into a float64 matrix in signature column order,
with no pandas on the way (the fast path).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd

from opsloop.errors import InvalidInputError
from opsloop.mlops.serving.mlmodel import ModelSignature

__all__ = ["FORMATS", "ModelInput", "decode_body", "predictions_to_json"]

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


@dataclass(slots=True)
class ModelInput:
    """A parsed request: exactly one of ``matrix`` (fast path), ``frame`` or ``tensor`` is set."""

    matrix: np.ndarray | None = None
    frame: pd.DataFrame | None = None
    tensor: Any = None
    params: dict[str, Any] | None = None

    @property
    def rows(self) -> int:
        for v in (self.matrix, self.frame, self.tensor):
            if v is not None:
                return len(v)
        return 0


def decode_body(body: bytes, content_type: str, signature: ModelSignature, *, fast: bool) -> ModelInput:
    """Parse a scoring request body against the model signature.

    Raises:
        InvalidInputError: malformed body, unknown format, missing column, wrong value type or
            empty batch; ``field`` names the culprit column where there is one.
    """
    ctype = content_type.split(";", 1)[0].strip().lower()
    if ctype == "text/csv":
        frame = _read_csv(body)
        return ModelInput(frame=enforce_frame(frame, signature))
    doc = _loads(body)
    key, value, params = _split_format(doc)
    if signature.tensor is not None:
        return ModelInput(tensor=_to_tensor(key, value, signature), params=params)
    if fast and signature.numeric_only:
        return ModelInput(matrix=_to_matrix(key, value, signature), params=params)
    frame = _to_frame(key, value, signature)
    return ModelInput(frame=enforce_frame(frame, signature), params=params)


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass  # NaN/Infinity literals: accepted by the standard parser, as MLflow's server does
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"request body is not valid JSON: {exc}", field="body") from exc


def _read_csv(body: bytes) -> pd.DataFrame:
    try:
        frame = pd.read_csv(io.BytesIO(body))
    except (ValueError, pd.errors.ParserError) as exc:
        raise InvalidInputError(f"request body is not valid CSV: {exc}", field="body") from exc
    if frame.empty:
        raise InvalidInputError("empty batch: the request has no rows", field="body")
    return frame


def _split_format(doc: Any) -> tuple[str, Any, dict[str, Any] | None]:
    keys = [k for k in doc if k in FORMATS] if isinstance(doc, dict) else []
    if not isinstance(doc, dict) or len(keys) != 1:
        got = sorted(doc) if isinstance(doc, dict) else type(doc).__name__
        raise InvalidInputError(
            "the body must be a JSON object with exactly one of the input fields "
            f"{list(FORMATS)} (and optionally 'params'); got {got}",
            field="body",
        )
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidInputError("'params' must be a JSON object", field="params")
    return keys[0], doc[keys[0]], params


def _empty() -> InvalidInputError:
    return InvalidInputError("empty batch: the request has no rows", field="body")


def _rows_from_records(records: list[Any], signature: ModelSignature) -> list[list[Any]]:
    names = signature.names
    optional = {c.name for c in signature.columns if not c.required}
    rows = []
    for i, rec in enumerate(records):
        if not isinstance(rec, dict):
            raise InvalidInputError(f"record {i} is not a JSON object", field="body")
        try:
            rows.append([rec[n] for n in names])
        except KeyError:
            missing = [n for n in names if n not in rec and n not in optional]
            if missing:
                raise InvalidInputError(
                    f"model is missing inputs {missing} (record {i})", field=missing[0]
                ) from None
            rows.append([rec.get(n) for n in names])
    return rows


def _split_rows(value: Any, signature: ModelSignature) -> tuple[list[Any], list[int] | None]:
    """Rows and the positions of the signature columns in them (``None``: already in order)."""
    if not isinstance(value, dict) or "data" not in value:
        raise InvalidInputError("'dataframe_split' must be an object with 'columns' and 'data'", field="body")
    data, columns = value["data"], value.get("columns")
    if not isinstance(data, list):
        raise InvalidInputError("'dataframe_split.data' must be a list of rows", field="body")
    _check_columns(columns)
    names = signature.names
    if columns is None or columns == names:
        return data, None
    pos = {c: i for i, c in enumerate(columns)}
    missing = [c.name for c in signature.columns if c.name not in pos and c.required]
    if missing:
        raise InvalidInputError(f"model is missing inputs {missing}", field=missing[0])
    return data, [pos.get(n, -1) for n in names]


def _check_columns(columns: Any) -> list[str] | None:
    if columns is not None and (not isinstance(columns, list) or not all(isinstance(c, str) for c in columns)):
        raise InvalidInputError("'dataframe_split.columns' must be a list of column names", field="columns")
    return columns


def _to_matrix(key: str, value: Any, signature: ModelSignature) -> np.ndarray:
    names = signature.names
    order: list[int] | None = None
    if isinstance(value, list) and not value:
        raise _empty()
    if key == "dataframe_split":
        rows, order = _split_rows(value, signature)
    elif isinstance(value, list) and value and isinstance(value[0], dict):
        rows = _rows_from_records(value, signature)
    elif key != "dataframe_records" and isinstance(value, dict):
        rows = _columns_to_rows(value, signature)
    elif key != "dataframe_records" and isinstance(value, list):
        rows = value if not value or isinstance(value[0], list) or len(names) != 1 else [[v] for v in value]
    else:
        raise InvalidInputError(f"'{key}' must be a list of records", field="body")
    if not rows:
        raise _empty()
    arr = _as_array(rows) if _rectangular(rows) else np.empty(0, dtype=object)
    if arr.dtype.kind not in "fiub" or arr.ndim != 2:
        arr = _strict_numeric(rows, order, signature)
    elif order is not None:
        arr = _reorder(arr, order)
    if arr.shape[1] != len(names):
        raise InvalidInputError(
            f"each row must have {len(names)} values ({names}); got {arr.shape[1]}", field="body"
        )
    return arr.astype(np.float64, copy=False)


def _as_array(rows: list[Any]) -> np.ndarray:
    """The fast path's matrix; nested values that numpy cannot shape go to the slow path, which names them."""
    try:
        return np.asarray(rows)
    except (ValueError, TypeError):
        return np.empty(0, dtype=object)


def _rectangular(rows: list[Any]) -> bool:
    first = rows[0]
    return isinstance(first, list) and all(type(r) is list and len(r) == len(first) for r in rows)


def _reorder(arr: np.ndarray, order: list[int]) -> np.ndarray:
    out = np.full((arr.shape[0], len(order)), np.nan)
    for j, i in enumerate(order):
        if i >= 0:
            out[:, j] = arr[:, i]
    return out


def _columns_to_rows(value: dict[str, Any], signature: ModelSignature) -> list[list[Any]]:
    missing = [c.name for c in signature.columns if c.name not in value and c.required]
    if missing:
        raise InvalidInputError(f"model is missing inputs {missing}", field=missing[0])
    cols = [value.get(n) for n in signature.names]
    n = max((len(c) for c in cols if isinstance(c, list)), default=0)
    cols = [c if isinstance(c, list) else [c] * n for c in cols]
    return [list(r) for r in zip(*cols, strict=False)]


def _strict_numeric(rows: list[Any], order: list[int] | None, signature: ModelSignature) -> np.ndarray:
    """Slow path: build the matrix cell by cell so the error names the column and row."""
    cols = signature.columns
    width = len(order) if order is not None else len(cols)
    out = np.empty((len(rows), len(cols)), dtype=np.float64)
    for r, row in enumerate(rows):
        if not isinstance(row, list) or (order is None and len(row) != width):
            raise _bad_row(r, width, row)
        for j, spec in enumerate(cols):
            i = j if order is None else order[j]
            v = row[i] if 0 <= i < len(row) else None
            if v is None:
                out[r, j] = np.nan
            elif isinstance(v, bool | int | float):
                out[r, j] = v
            else:
                raise InvalidInputError(
                    f"column '{spec.name}' expects {spec.type}; got {v!r} in row {r}", field=spec.name
                )
    return out


def _to_frame(key: str, value: Any, signature: ModelSignature) -> pd.DataFrame:
    if isinstance(value, list) and not value:
        raise _empty()
    if key == "dataframe_split" and isinstance(value, dict):
        _check_columns(value.get("columns"))
    try:
        if key == "dataframe_split":
            if not isinstance(value, dict) or "data" not in value:
                raise InvalidInputError("'dataframe_split' must be an object with 'columns' and 'data'",
                                        field="body")
            _check_row_lengths(value["data"], value.get("columns"))
            frame = pd.DataFrame(value["data"], columns=value.get("columns"))
        elif isinstance(value, dict):
            frame = pd.DataFrame({k: v if isinstance(v, list) else [v] for k, v in value.items()})
        elif isinstance(value, list) and value and isinstance(value[0], list) and signature.names:
            _check_row_lengths(value, signature.names)
            frame = pd.DataFrame(value, columns=signature.names)
        elif isinstance(value, list):
            frame = pd.DataFrame(value)
        else:
            raise InvalidInputError(f"'{key}' must be a list or an object", field="body")
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"cannot read '{key}' as a table: {exc}", field="body") from exc
    if frame.empty:
        raise _empty()
    return frame


def _check_row_lengths(rows: Any, columns: Any) -> None:
    """Rows given as lists must each hold one value per column: a short row is an error, never
    padded with missing values (which pandas did silently, and pandas 4 refuses); and once one row
    is a list, every row must be (pandas would read a string as a row of its characters)."""
    if not isinstance(rows, list):
        return
    first = next((row for row in rows if isinstance(row, list)), None)
    if first is None:
        return
    width = len(columns) if isinstance(columns, list) else len(first)
    for r, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != width:
            raise _bad_row(r, width, row)


def _bad_row(r: int, width: int, row: Any) -> InvalidInputError:
    """Row ``r`` is not a list of ``width`` values: say what it is instead."""
    if isinstance(row, list):
        got = str(len(row))
    else:
        got = next((name for kind, name in ((str, "a string"), (dict, "an object"), (bool, "a boolean"),
                                             (int | float, "a number")) if isinstance(row, kind)),
                   "null" if row is None else type(row).__name__)
    return InvalidInputError(f"row {r} must be a list of {width} values (got {got})", field="body")


_PANDAS_DTYPES = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32",
                  "boolean": "bool"}


def enforce_frame(frame: pd.DataFrame, signature: ModelSignature) -> pd.DataFrame:
    """Check a DataFrame against the signature columns: names, order and value types."""
    if not signature.columns or not signature.names:
        return frame
    missing = [c.name for c in signature.columns if c.required and c.name not in frame.columns]
    if missing:
        raise InvalidInputError(f"model is missing inputs {missing}", field=missing[0])
    out = {}
    for spec in signature.columns:
        if spec.name is None or spec.name not in frame.columns:
            out[spec.name] = pd.Series([None] * len(frame), dtype="object")
            continue
        out[spec.name] = _coerce_column(frame[spec.name], spec.name, spec.type)
    return pd.DataFrame(out, index=frame.index)


def _coerce_column(col: pd.Series, name: str, kind: str) -> pd.Series:
    if kind in _PANDAS_DTYPES:
        if col.dtype.kind not in "fiub":
            bad = [(i, v) for i, v in enumerate(col.tolist())
                   if v is not None and not isinstance(v, bool | int | float)]
            if bad:
                raise InvalidInputError(f"column '{name}' expects {kind}; got {bad[0][1]!r} in row {bad[0][0]}",
                                        field=name)
            col = col.astype("float64")
        if kind in ("long", "integer") and col.dtype.kind == "f":
            fraction = np.flatnonzero(np.isfinite(col.to_numpy()) & (np.mod(col.to_numpy(), 1) != 0))
            if fraction.size:  # astype would cut 2.5 to 2 silently; MLflow refuses it too
                row = int(fraction[0])
                got = float(col.iloc[row])
                raise InvalidInputError(f"column '{name}' expects {kind}; got {got!r} in row {row}", field=name)
        if kind in ("long", "integer") and col.isna().any():
            return col  # ints with gaps stay float, as pandas would
        try:
            return col.astype(_PANDAS_DTYPES[kind])
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"column '{name}' expects {kind}: {exc}", field=name) from exc
    if kind == "string":
        bad = [v for v in col if v is not None and not isinstance(v, str)]
        if bad:
            raise InvalidInputError(f"column '{name}' expects string; got {bad[0]!r}", field=name)
    if kind == "datetime":
        try:
            return pd.to_datetime(col)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(f"column '{name}' expects datetime: {exc}", field=name) from exc
    return col


def _to_tensor(key: str, value: Any, signature: ModelSignature) -> np.ndarray:
    spec = signature.tensor
    assert spec is not None
    if key == "dataframe_split" and isinstance(value, dict):
        value = value.get("data")
    elif key == "dataframe_records":
        value = pd.DataFrame(value).to_numpy()
    try:
        arr = np.asarray(value, dtype=spec.dtype)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"input must be a {spec.dtype} tensor: {exc}", field="inputs") from exc
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise _empty()
    if len(spec.shape) != arr.ndim or any(s not in (-1, a) for s, a in zip(spec.shape, arr.shape, strict=False)):
        raise InvalidInputError(f"input shape {list(arr.shape)} does not match {list(spec.shape)}",
                                field="inputs")
    return arr


def _default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, pd.Timestamp):
        return obj.isoformat()
    return str(obj)


def predictions_to_json(preds: Any) -> bytes:
    """Serialise predictions as MLflow does: ``{"predictions": ...}``."""
    if isinstance(preds, np.ndarray):
        body: Any = preds if preds.dtype.kind in "biuf" and preds.flags.c_contiguous else preds.tolist()
    elif isinstance(preds, pd.DataFrame):
        body = preds.to_dict(orient="records")
    elif isinstance(preds, pd.Series):
        body = preds.tolist()
    else:
        body = preds
    return orjson.dumps({"predictions": body}, default=_default,
                        option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS)
