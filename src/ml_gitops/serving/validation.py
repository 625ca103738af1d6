"""Request models generated from the model's signature: the documented schema IS the validation.

One pydantic model per bundle (`Record`), built from `signature.json`:
- every feature is required (null allowed when the column is nullable), unknown fields are refused;
- numbers are strict (a JSON string or boolean is a wrong type) with the schema's min/max;
- categories are `Literal[...]` of the training categories: an unseen category is REJECTED (422).
  The Pipeline's one-hot encoder would silently treat it as "none of the above" and answer
  confidently about an input it never saw; the client is better served by a 422 naming the
  field and the allowed values. (Monitoring sees the rate of such rejections as 4xx counts.)

The same generated models feed FastAPI's OpenAPI document, so /openapi.json shows exactly these rules,
and batch scoring validates each column with the very field types the model is built from
(`field_type` -> `validate_columns`, one Rust call per column), so `make score` and /predict
accept and refuse the same values with the same messages.

Missing values, one rule for both paths (`MISSING_TEXT`, `is_missing`): JSON null, and in a nullable
field the strings the training data's CSV reader already read as missing (pandas' defaults: "",
"NA", "None", "null", "NaN", ...; `adapters.tables.DEFAULT_NA_VALUES`). No trained category or number
can be spelled that way, so reading them as missing never hides a real value; a non-nullable field
refuses them like null.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    ValidationError,
    create_model,
)

from ..adapters.tables import DEFAULT_NA_VALUES
from ..core.schema import parse_dates

PREDICTION_ID_PATTERN = r"^[0-9a-f]{32}$"
MISSING_TEXT = frozenset(DEFAULT_NA_VALUES)


def is_missing(value: Any) -> bool:
    """The one definition of a missing value: None, or a string spelled as missing (see module doc)."""
    return value is None or (isinstance(value, str) and value in MISSING_TEXT)


def _missing_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and value in MISSING_TEXT else value


MissingAsNone = BeforeValidator(_missing_to_none)


def _integral(value: Any) -> Any:
    """12.0 is the integer 12 (JSON does not tell them apart; Parquet stores nullable ints as floats)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _a_date(value: str) -> str:
    """Date text as training reads it (ISO or any form pandas parses); kept as written for the model."""
    if parse_dates([value]).isna()[0]:
        raise ValueError(f"expected a date, found {value!r}")
    return value


def field_type(spec: Mapping[str, Any], *, missing_text: bool = True) -> Any:
    """The type of one feature: the single statement of its rules, for the Record model and for batch columns.

    ``missing_text=False`` leaves out the mapping of missing spellings to None, for a caller that
    has applied `is_missing` already (batch scoring, column at a time: no Python call per value).
    """
    dtype = spec["dtype"]
    bounds = {k: v for k, v in (("ge", spec.get("min")), ("le", spec.get("max"))) if v is not None}
    if dtype == "float":
        typ: Any = Annotated[float, Field(strict=True, allow_inf_nan=False, **bounds)]
    elif dtype == "int":
        typ = Annotated[int, BeforeValidator(_integral), Field(strict=True, **bounds)]
    elif dtype == "bool":
        typ = StrictBool
    elif dtype == "date":
        typ = Annotated[str, Field(strict=True, max_length=64), AfterValidator(_a_date)]
    elif dtype == "text":  # free text: the model hashes its words
        typ = Annotated[str, Field(strict=True)]
    else:
        typ = Literal[tuple(str(c) for c in spec["categories"])]
    if not spec.get("nullable", True):
        return typ
    return Annotated[typ | None, MissingAsNone] if missing_text else typ | None


@dataclass(frozen=True)
class RequestModels:
    record: type[BaseModel]
    many: TypeAdapter[Any]
    feedback: type[BaseModel]
    feedback_many: TypeAdapter[Any]
    names: tuple[tuple[str, str], ...]  # (python attribute, feature name)
    columns: dict[str, TypeAdapter[Any]]  # feature -> validator of a list of its values (batch)

    def as_dicts(self, items: list[BaseModel]) -> list[dict[str, Any]]:
        pairs = self.names
        return [{name: getattr(item, attr) for attr, name in pairs} for item in items]


def build(signature: Mapping[str, Any], max_records: int) -> RequestModels:
    """Pydantic models for /predict and /feedback from a signature (features may be any string)."""
    features = signature["features"]
    fields: dict[str, Any] = {}
    names = []
    for i, (name, spec) in enumerate(features.items()):
        attr = f"f{i}"  # feature names need not be Python identifiers: validate by alias
        fields[attr] = (field_type(spec), Field(..., alias=name, description=f"{spec['dtype']} feature"))
        names.append((attr, name))
    record = create_model(
        "Record",
        __config__=ConfigDict(extra="forbid", populate_by_name=False, title="Record"),
        __doc__="One input row, validated against the training schema.",
        **fields,
    )
    many = TypeAdapter(Annotated[list[record], Field(min_length=1, max_length=max_records)])  # type: ignore[valid-type]
    label: Any
    if signature.get("task") == "regression":  # the observed value: a finite JSON number, not text
        label = (float, Field(..., strict=True, allow_inf_nan=False, description="observed value (a number)"))
    else:
        label = (Literal[tuple(str(c) for c in signature["classes"])], Field(..., description="observed class"))
    feedback = create_model(
        "Feedback",
        __config__=ConfigDict(extra="forbid", title="Feedback"),
        __doc__="The observed label for an earlier prediction.",
        prediction_id=(str, Field(..., pattern=PREDICTION_ID_PATTERN, description="id returned by /predict")),
        label=label,
    )
    feedback_many = TypeAdapter(Annotated[list[feedback], Field(min_length=1, max_length=max_records)])  # type: ignore[valid-type]
    columns = {name: TypeAdapter(list[field_type(spec, missing_text=False)]) for name, spec in features.items()}
    return RequestModels(record, many, feedback, feedback_many, tuple(names), columns)


class BadJSON(ValueError):
    """The body is not JSON at all (400), as opposed to JSON that breaks the schema (422)."""


def parse(body: bytes, one: type[BaseModel], many: TypeAdapter[Any]) -> list[BaseModel]:
    """One object or a non-empty list of objects, validated straight from the JSON bytes."""
    stripped = body.lstrip()
    try:
        if stripped[:1] == b"[":
            return list(many.validate_json(body))
        return [one.model_validate_json(body)]
    except ValidationError as err:
        if any(e["type"] == "json_invalid" for e in err.errors()):
            raise BadJSON(err.errors()[0]["msg"]) from None
        raise


def validate_columns(models: RequestModels, columns: Mapping[str, list[Any]], n: int) -> tuple[Any, list[str]]:
    """Rows by /predict's field rules, a column at a time: (rejected mask, each rejected row's reasons).

    ``columns`` holds every feature's values with missing spellings already None (`is_missing`).
    Reasons read left to right in feature order, with the messages /predict gives.
    """
    found: dict[int, list[str]] = {}
    for name, values in columns.items():
        try:
            models.columns[name].validate_python(values)
        except ValidationError as err:
            for e in err.errors(include_url=False, include_context=False, include_input=False):
                found.setdefault(int(e["loc"][0]), []).append(f"{name}: {e['msg']}")
    bad = [False] * n
    for row in found:
        bad[row] = True
    return bad, ["; ".join(found[row]) for row in sorted(found)]


def error_detail(err: ValidationError) -> list[dict[str, Any]]:
    """Field-level messages: where (body, [index,] field), what, and the rule broken."""
    out = []
    for e in err.errors(include_url=False, include_context=False, include_input=False):
        out.append({"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]})
    return out
