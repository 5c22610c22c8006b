"""Batch scoring: stream a Parquet or CSV file through a model in chunks, in constant memory."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from opsloop.errors import InvalidInputError, NotFoundError
from opsloop.mlops.serving.loading import LoadedModel
from opsloop.mlops.serving.payload import enforce_frame

__all__ = ["BatchStats", "predict_file", "score_batch"]


@dataclass(frozen=True, slots=True)
class BatchStats:
    """What a batch run did."""

    rows: int
    chunks: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class _Columns:
    """The columns read from the input: the model's inputs (none: every column) and those kept."""

    inputs: list[str]
    keep: list[str]
    floats: tuple[str, ...] = ()  # inputs the signature types float or double

    @property
    def read(self) -> list[str] | None:
        return list(dict.fromkeys([*self.inputs, *self.keep])) if self.inputs else None

    def check(self, path: Path, have: list[str]) -> None:
        missing = [c for c in self.inputs if c not in have]
        if missing:
            raise InvalidInputError(f"{path} is missing model inputs {missing}", field=missing[0])
        unknown = [c for c in self.keep if c not in have]
        if unknown:
            raise InvalidInputError(f"--keep names {'columns' if len(unknown) > 1 else 'a column'} {path} does not "
                                    f"have: {', '.join(unknown)} (it has {_listed(have)})", field="keep")


def _listed(names: list[str], most: int = 20) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def _csv_batches(path: Path, wanted: _Columns) -> Iterator[pa.RecordBatch]:
    opts = pacsv.ReadOptions(block_size=1 << 22)
    columns = wanted.read
    # a float input is read as float64 in every block: typed from the first block alone, a column whose first
    # values were whole numbers (int64) failed at the first fraction further on
    convert = pacsv.ConvertOptions(column_types=dict.fromkeys(wanted.floats, pa.float64()))
    try:
        reader = pacsv.open_csv(path, read_options=opts)
        wanted.check(path, reader.schema.names)
        if columns or wanted.floats:  # read only the columns scored or kept
            if columns:
                convert.include_columns = columns
            reader = pacsv.open_csv(path, read_options=opts, convert_options=convert)
        yield from reader
    except pa.ArrowInvalid as exc:  # a short row, an unterminated quote, a text in a number column…
        raise InvalidInputError(f"{path} is not a readable CSV file: {exc}", field="input") from exc


def _batches(path: Path, wanted: _Columns, chunk_rows: int) -> Iterator[pa.RecordBatch]:
    if path.suffix.lower() in (".csv", ".txt"):
        yield from _csv_batches(path, wanted)
        return
    try:
        pf = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInputError(f"{path} is not a readable Parquet file: {exc}", field="input") from exc
    wanted.check(path, pf.schema_arrow.names)
    yield from pf.iter_batches(batch_size=chunk_rows, columns=wanted.read, use_threads=False)


def _features(model: LoadedModel, batch: pa.RecordBatch) -> Any:
    names = model.signature.names
    if model.fast_path:
        cols = []
        for name in names:
            col = batch.column(name)
            if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_boolean(col.type)):
                raise InvalidInputError(f"column '{name}' expects a number; the file has {col.type}", field=name)
            cols.append(col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False))
        return np.column_stack(cols)
    return enforce_frame(batch.to_pandas(), model.signature)


def score_batch(model: LoadedModel, batch: pa.RecordBatch, prediction_column: str = "prediction") -> pa.Table:
    """Predictions for one record batch as an Arrow table."""
    x = _features(model, batch)
    preds = model.predict_matrix(x) if isinstance(x, np.ndarray) else model.predict_frame(x)
    if isinstance(preds, pd.DataFrame):
        return pa.Table.from_pandas(preds, preserve_index=False)
    arr = np.asarray(preds)
    if arr.ndim == 1:
        return pa.table({prediction_column: arr})
    return pa.table({f"{prediction_column}_{i}": arr[:, i] for i in range(arr.shape[1])})


def _writer(dst: Path, path: Path, schema: pa.Schema) -> pq.ParquetWriter | pacsv.CSVWriter:
    """A writer of ``path`` in ``dst``'s format: CSV for an output named ``.csv`` (as the input is read),
    Parquet otherwise."""
    if dst.suffix.lower() == ".csv":
        return pacsv.CSVWriter(str(path), schema)
    return pq.ParquetWriter(path, schema, compression="snappy")


def _check_names(out: pa.Table, keep: list[str]) -> None:
    """A kept column and a prediction column of the same name would make two columns of one name."""
    clash = [c for c in keep if c in out.column_names]
    if clash:
        raise InvalidInputError(f"--keep column '{clash[0]}' has the name of a prediction column; choose another "
                                "--prediction-column", field="prediction_column")


def predict_file(model: LoadedModel, input_path: str | Path, output_path: str | Path, *,
                 chunk_rows: int = 100_000, keep_columns: list[str] | None = None,
                 prediction_column: str = "prediction") -> BatchStats:
    """Score ``input_path`` (Parquet or CSV) chunk by chunk and write ``output_path`` (CSV when it is named
    ``.csv``, else Parquet).

    Memory is bounded by ``chunk_rows`` (and the input's row-group size), not by the file size. The output
    is written beside ``output_path`` and moved there once every row is scored: a run that fails leaves no
    partial file that looks complete (and an earlier output in place).

    Raises:
        NotFoundError: the input does not exist.
        InvalidInputError: the input lacks a model input or a ``keep_columns`` column, has non-numeric values
            in a numeric column, or a kept column has a prediction column's name.
    """
    src, dst = Path(input_path), Path(output_path)
    if not src.is_file():
        raise NotFoundError(f"input file {src} does not exist", field="input")
    keep = list(keep_columns or [])
    start, rows, chunks = time.perf_counter(), 0, 0
    writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
    partial = dst.with_name(f".{dst.name}.{os.getpid()}.partial")
    try:
        floats = tuple(c.name for c in model.signature.columns if c.name and c.type in ("double", "float"))
        for batch in _batches(src, _Columns(list(model.signature.names), keep, floats), chunk_rows):
            if batch.num_rows == 0:
                continue
            out = score_batch(model, batch, prediction_column)
            if writer is None:
                _check_names(out, keep)
            for c in reversed(keep):
                out = out.add_column(0, c, batch.column(c))
            if writer is None:
                writer = _writer(dst, partial, out.schema)
            writer.write_table(out)
            rows += batch.num_rows
            chunks += 1
        if writer is None:
            raise InvalidInputError(f"{src} has no rows to score", field="input")
        writer.close()
        os.replace(partial, dst)
    finally:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
    return BatchStats(rows=rows, chunks=chunks, seconds=time.perf_counter() - start)
