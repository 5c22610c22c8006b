"""Integer request parameters that fit the store's integers (SQL ``BIGINT`` on SQLite and PostgreSQL).

A number outside that range would reach the database driver and fail there as a 500; declared
with these types it is a 400 that names the parameter, like any other bad value.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field

__all__ = ["INT64_MAX", "INT64_MIN", "BodyId", "Offset", "QueryId", "RowId"]

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

RowId = Annotated[int, Path(ge=INT64_MIN, le=INT64_MAX)]
"""An id in the path (``/incidents/{incident_id}``)."""
QueryId = Annotated[int | None, Query(ge=INT64_MIN, le=INT64_MAX)]
"""An optional id in the query string (``?incident_id=``)."""
Offset = Annotated[int, Query(ge=0, le=INT64_MAX)]
"""How many rows to skip (``?offset=``)."""
BodyId = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
"""An id in a JSON body model."""
