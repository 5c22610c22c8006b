"""MLflow's documented limits, enforced before anything is written."""

from __future__ import annotations

import re

from opsloop.errors import InvalidInputError, LimitExceededError

MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_LOGGED_MODEL_PARAM_TAG_VAL_LENGTH = None  # MLflow keeps a logged model's params and tags whole (Text columns)
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
MAX_ENTITY_KEY_LENGTH = 250
MAX_RUN_NAME_LENGTH = 250  # the runs.name column; the mlflow.runName tag keeps up to MAX_TAG_VAL_LENGTH
MAX_USER_ID_LENGTH = 256
MAX_MODEL_ID_LENGTH = 64
MAX_RUN_ID_LENGTH = 32
MAX_LOGGED_MODEL_NAME_LENGTH = 500  # also the model_type
MAX_LOGGED_MODEL_KEY_LENGTH = 255  # a logged model's param and tag keys (their column)
MAX_RESULTS_SEARCH_RUNS = 50000
MAX_RESULTS_SEARCH_EXPERIMENTS = 50000
MAX_RESULTS_METRIC_HISTORY = 25000
MAX_RUNS_METRIC_HISTORY_BULK = 100
MAX_RESULTS_PER_RUN_METRIC_HISTORY_BULK = 2500
MAX_RESULTS_SEARCH_LOGGED_MODELS = 50000
MAX_DATASET_NAME_SIZE = 500
MAX_DATASET_DIGEST_SIZE = 36
MAX_DATASET_SOURCE_SIZE = 65535
MAX_DATASET_SCHEMA_SIZE = 1048575
MAX_DATASET_PROFILE_SIZE = 16777215
MAX_INPUT_TAG_KEY_SIZE = 255
MAX_INPUT_TAG_VALUE_SIZE = 500
MAX_INT64 = 2**63 - 1
_I64 = 2**63

# MLflow's key rule: alphanumerics, underscores, dashes, periods, spaces, slashes (and colons).
_KEY_RE = re.compile(r"^[/\w.\- :]*$", re.UNICODE)


def check_key(key: object, kind: str) -> str:
    if not isinstance(key, str) or key == "":
        raise InvalidInputError(f"Missing value for required parameter 'key' of {kind}", field="key")
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise LimitExceededError(
            f"{kind.capitalize()} key '{key[:40]}...' had length {len(key)}, which exceeded length limit of "
            f"{MAX_ENTITY_KEY_LENGTH}",
            field="key",
        )
    if not _KEY_RE.match(key) or ".." in key.split("/") or key.startswith("/"):
        raise InvalidInputError(
            f"Invalid {kind} name: '{key}'. Names may only contain alphanumerics, underscores (_), dashes (-), "
            "periods (.), spaces ( ), colon(:) and slashes (/).",
            field="key",
        )
    return key


def check_logged_model_key(key: object, kind: str) -> str:
    """A logged model's param or tag key: any string that fits its column (MLflow checks no name rule there)."""
    if not isinstance(key, str) or key == "":
        raise InvalidInputError(f"Missing value for required parameter 'key' of {kind}", field="key")
    check_length(key, MAX_LOGGED_MODEL_KEY_LENGTH, "key")
    return key


def check_value(value: object, kind: str, key: str, limit: int | None, *, truncate: bool = False) -> str:
    """``value`` if it is a string of at most ``limit`` characters (any length with ``None``); with ``truncate``,
    a longer one is cut to ``limit``, as MLflow's server does with run params and tags
    (``MLFLOW_TRUNCATE_LONG_VALUES``, on by default), instead of refused."""
    if value is None:
        raise InvalidInputError(f"Missing value for required parameter 'value' of {kind} '{key}'", field="value")
    if not isinstance(value, str):
        raise InvalidInputError(f"{kind.capitalize()} '{key}' value must be a string", field="value")
    if limit is None:
        return value
    if len(value) > limit and truncate:
        return value[:limit]
    if len(value) > limit:
        raise LimitExceededError(
            f"{kind.capitalize()} '{key}' had value length {len(value)}, which exceeded length limit of {limit}",
            field="value",
        )
    return value


def check_length(value: object, limit: int, field: str) -> None:
    """A string that must fit its column (``limit`` characters), else a ``LimitExceededError`` naming ``field``."""
    if isinstance(value, str) and len(value) > limit:
        raise LimitExceededError(f"'{field}' has length {len(value)}, which exceeded length limit of {limit}",
                                 field=field)


def check_metric_link(model_id: str, dataset_name: str, dataset_digest: str) -> None:
    """The logged model and dataset a metric point names fit their columns."""
    check_length(model_id, MAX_MODEL_ID_LENGTH, "model_id")
    check_length(dataset_name, MAX_DATASET_NAME_SIZE, "dataset_name")
    check_length(dataset_digest, MAX_DATASET_DIGEST_SIZE, "dataset_digest")


def check_metric_numbers(key: str, value: object, timestamp: object, step: object) -> tuple[str, float, int, int]:
    """A metric point's numbers; a negative timestamp is refused, as MLflow's server refuses it."""
    if type(value) is float and type(timestamp) is int and type(step) is int and 0 <= timestamp < _I64 \
            and -_I64 <= step < _I64:
        return key, value, timestamp, step  # the common case, checked cheaply
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInputError(
            f"Got invalid value {value!r} for metric '{key}' (timestamp={timestamp}). Please specify value "
            "as a valid double (64-bit floating point)",
            field="value",
        )
    stamp = check_int64(timestamp, "timestamp")
    if stamp < 0:
        raise InvalidInputError(
            f"Invalid value {stamp} for parameter 'timestamp' supplied: metric '{key}' (value={value}). "
            "Timestamp must be a nonnegative long (64-bit integer)",
            field="timestamp",
        )
    return key, float(value), stamp, check_int64(step, "step")


def check_max_results(value: object, limit: int) -> int:
    """A search's page size, 1 to ``limit`` (MLflow's message)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"Invalid value {value!r} for parameter 'max_results' supplied. It must be a "
                                f"positive integer", field="max_results")
    if value > limit:
        raise InvalidInputError(f"Invalid value for request parameter max_results. It must be at most {limit}, "
                                f"but got value {value}", field="max_results")
    return value


def check_int64(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (-MAX_INT64 - 1 <= value <= MAX_INT64):
        raise InvalidInputError(f"Invalid value {value!r} for parameter '{name}': expected a 64-bit integer",
                                field=name)
    return value

