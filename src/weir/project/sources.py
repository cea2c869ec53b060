"""Sources in weir.yaml: files, SQL databases and HTTP JSON APIs, and any kind a connector adds.

Every source kind shares the same contract settings (`SourceSettings`: column names, schema
drift) and ends as a stream of Arrow batches; what differs is only where the rows come from.
A source with no `kind` is a file source, so older project files keep working.

The kinds are a registry, `SOURCE_KINDS` (kind -> settings model), not a closed union: a
`Source` in weir.yaml is validated by the model its `kind` names. The three first kinds are
registered here; a connector module of another kind defines its settings model (a subclass
of `SourceSettings`) and registers it with its connector (weir.ingest.connectors). That
module sits in a higher layer, which this one does not import: the registry's group
`weir.source_kinds` is filled by the modules weir/__init__.py declares for it, imported the
first time a kind is not found here (see weir.core.plugins).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from weir.core.plugins import Registry
from weir.project.base import (
    _DECIMAL,
    COLUMN_TYPES,
    ZONE_NAME_FORMAT,
    Documented,
    Strict,
    TimeKeys,
    has_directive,
)


class CsvOptions(Strict):
    delimiter: str = ","
    header: bool = True
    quote: str = '"'
    escape: str = '"'
    null_values: list[str] = Field(
        default_factory=lambda: [""], description="values read as null in every column"
    )
    column_null_values: dict[str, list[str]] = Field(
        default_factory=dict,
        description="column -> its own null values, instead of null_values ('NA' can be "
        "Namibia in one column and 'not available' in another)",
    )
    encoding: Literal["utf-8", "utf-16", "latin-1"] = "utf-8"
    timestamp_format: str | None = Field(
        default=None,
        description="strptime format of timestamp columns, e.g. %d/%m/%Y %H:%M; needed when "
        "day and month cannot be told apart",
    )
    date_format: str | None = Field(
        default=None,
        description="strptime format of date columns, e.g. %d/%m/%Y; needed when day and "
        "month cannot be told apart",
    )
    max_line_bytes: int = Field(
        default=2_097_152,
        ge=1024,
        description="longest line the parser accepts; a longer one is quarantined",
    )

    @field_validator("timestamp_format")
    @classmethod
    def _no_zone_names(cls, value: str | None) -> str | None:
        if value is not None and has_directive(value, "Z"):
            raise ValueError(f"'{value}' {ZONE_NAME_FORMAT}")
        return value

    @field_validator("delimiter", "quote", "escape")
    @classmethod
    def _one_char(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError("must be exactly one character")
        return value


class SchemaPolicy(Strict):
    """What happens when a load's columns differ from the table's current schema."""

    new_columns: Literal["evolve", "reject"] = Field(
        default="evolve", description="evolve: a new schema version with the column added"
    )
    type_changes: Literal["evolve", "quarantine", "reject"] = Field(
        default="reject",
        description="evolve widens (int32→int64→float64, anything→string); quarantine sets the "
        "rows whose value does not fit the old type aside",
    )
    removed_columns: Literal["evolve", "reject"] = Field(
        default="reject", description="evolve keeps the column, null in the new rows"
    )


class SourceSettings(Documented, TimeKeys):
    """What every kind of source shares; a kind is a subclass with `kind: Literal[...]`."""

    kind: str
    columns: dict[str, str] | None = Field(
        default=None,
        description="declared schema: column -> type; rows that do not fit are quarantined",
    )
    normalise_names: Literal["keep", "snake_case", "lower"] = Field(
        default="keep",
        description="rule for column names; two names that end up equal are an error",
    )
    schema_policy: SchemaPolicy = Field(default_factory=SchemaPolicy)

    @field_validator("columns")
    @classmethod
    def _known_types(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("declare at least one column, or leave 'columns' out to infer")
        for column, type_name in value.items():
            decimal = _DECIMAL.match(type_name)
            if type_name not in COLUMN_TYPES and not decimal:
                from weir.core.suggest import suggestion_text

                raise ValueError(
                    f"column '{column}': unknown type '{type_name}'; "
                    + suggestion_text(type_name, [*COLUMN_TYPES, "decimal(p,s)"])
                )
            if decimal and not 1 <= int(decimal.group(1)) <= 38:
                raise ValueError(
                    f"column '{column}': {type_name} has more than the 38 digits a table "
                    "holds; declare it as string to keep every digit"
                )
            if decimal and int(decimal.group(2)) > int(decimal.group(1)):
                raise ValueError(f"column '{column}': {type_name} has more scale than digits")
        return value

    def local_paths(self) -> dict[str, str]:
        """Key -> path of the local files the source reads, relative to the project: each
        is checked to stay inside the project directory and to be printable."""
        return {}


class FileSource(SourceSettings):
    kind: Literal["file"] = "file"
    format: Literal["csv", "json", "ndjson", "parquet"]
    path: str = Field(description="file path or glob, relative to the project directory")
    compression: Literal["auto", "none", "gzip", "zstd"] = Field(
        default="auto", description="auto: from the file name (.gz, .zst)"
    )
    csv: CsvOptions = Field(default_factory=CsvOptions)
    incremental: bool = Field(
        default=False,
        description="load only files not loaded before and append them; "
        "false: every run with a changed file reloads them all",
    )
    on_change: Literal["reject", "reload"] = Field(
        default="reject",
        description="incremental: a file loaded before whose content changed is refused, "
        "or the table is rebuilt from every file",
    )
    non_finite: Literal["reject", "null", "keep"] = Field(
        default="reject",
        description="CSV and JSON: NaN and Infinity refuse the load; null stores them as null "
        "(counted), keep as float NaN/Infinity",
    )

    @model_validator(mode="before")
    @classmethod
    def _csv_timezone(cls, data: Any) -> Any:
        """`csv.timezone` was the zone's key for CSV before `timezone` applied to every
        format; an older project file still loads, meaning the same thing."""
        if not isinstance(data, dict) or not isinstance(data.get("csv"), dict):
            return data
        if "timezone" not in data["csv"]:
            return data
        options = dict(data["csv"])
        zone = options.pop("timezone")
        if data.get("timezone") not in (None, zone):
            raise ValueError(
                f"csv.timezone ({zone}) and timezone ({data['timezone']}) differ; "
                "keep only timezone"
            )
        return {**data, "csv": options, "timezone": zone}

    @model_validator(mode="after")
    def _applies(self) -> FileSource:
        if self.non_finite != "reject" and self.format == "parquet":
            raise ValueError("non_finite applies to csv, json and ndjson sources only")
        return self

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    def local_paths(self) -> dict[str, str]:
        return {"path": self.path}


class SqlSource(SourceSettings):
    kind: Literal["sql"]
    url: str = Field(
        description="postgresql://, mysql:// (MariaDB too) or sqlite:///path; "
        "put the password in ${ENV}"
    )
    table: str | None = Field(default=None, description="a table (or schema.table) to read")
    query: str | None = Field(default=None, description="or a SELECT to read")
    cursor: str | None = Field(
        default=None,
        description="incremental: rows whose cursor column is above the last load's maximum",
    )
    batch_rows: int = Field(default=100_000, ge=100, description="rows per streamed batch")
    connect_timeout_seconds: float = Field(default=10, gt=0)
    retries: int = Field(
        default=4, ge=0, description="retries of a refused or timed-out connection"
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme.split("+")[0]
        if scheme not in ("postgresql", "postgres", "mysql", "mariadb", "sqlite"):
            raise ValueError(
                f"unsupported database '{scheme or 'no scheme'}'; "
                "use a postgresql://, mysql:// or sqlite:/// URL"
            )
        return value

    @model_validator(mode="after")
    def _one_of(self) -> SqlSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        if self.table is not None and not re.fullmatch(
            r"[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)?", self.table
        ):
            raise ValueError(f"table '{self.table}' is not a plain [schema.]table name")
        return self


class Pagination(Strict):
    """How the next page is asked for; `none` reads one response."""

    kind: Literal["none", "page", "offset", "cursor", "next_link"] = "none"
    param: str | None = Field(
        default=None,
        description="query parameter carrying the page number, offset or cursor "
        "(defaults: page, offset, cursor)",
    )
    size_param: str | None = Field(default=None, description="query parameter for the page size")
    size: int = Field(default=100, ge=1, description="records per page")
    start: int = Field(default=1, ge=0, description="page: first page number")
    cursor_path: str | None = Field(
        default=None, description="cursor: where the next cursor is in the body, e.g. meta.next"
    )
    next_path: str | None = Field(
        default=None, description="next_link: where the next URL is in the body, e.g. links.next"
    )
    max_pages: int = Field(default=10_000, ge=1, description="a guard against endless paging")
    total_path: str | None = Field(
        default=None,
        description="where the API states the total record count; a load that got another "
        "count (pages skipped or repeated) is refused",
    )

    @model_validator(mode="after")
    def _needs(self) -> Pagination:
        if self.kind == "cursor" and not self.cursor_path:
            raise ValueError("pagination kind cursor needs cursor_path")
        if self.kind == "next_link" and not self.next_path:
            raise ValueError("pagination kind next_link needs next_path")
        return self

    @property
    def parameter(self) -> str:
        return self.param or {"page": "page", "offset": "offset", "cursor": "cursor"}.get(
            self.kind, ""
        )


class HttpIncremental(Strict):
    """Incremental loads of an HTTP source: only the records above the last load's cursor
    are read, and appended. The highest cursor loaded is committed with the rows."""

    cursor: str = Field(
        description="field of each record that grows with every new or changed record (an "
        "id, an updated_at the API sets); a record whose value is above the highest loaded "
        "before is new"
    )
    since_param: str | None = Field(
        default=None,
        description="query parameter sent with the highest cursor loaded before, so the API "
        "sends only records from there on (Weir still drops those at or below it)",
    )


class HttpSource(SourceSettings):
    kind: Literal["http"]
    url: str = Field(description="http(s) URL of the first page")
    params: dict[str, str] = Field(default_factory=dict, description="query parameters")
    headers: dict[str, str] = Field(
        default_factory=dict, description="headers; take secrets from ${ENV}"
    )
    bearer_token: str | None = Field(default=None, description="Authorization: Bearer; ${ENV}")
    records: str | None = Field(
        default=None, description="path to the list of records in the body, e.g. data.items"
    )
    pagination: Pagination = Field(default_factory=Pagination)
    key: str | None = Field(
        default=None, description="field that identifies a record; repeated keys are refused"
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="other origins (scheme://host[:port]) that next links and redirects may "
        "lead to; they receive the source's credentials",
    )
    max_response_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1,
        description="a larger response (or one larger once decompressed) refuses the load",
    )
    max_total_bytes: int = Field(
        default=2**30,
        ge=1,
        description="records of one load, all pages together (as spooled to the workspace); "
        "more refuses the load",
    )
    timeout_seconds: float = Field(
        default=30, gt=0, description="per request, in all: connecting, waiting and reading"
    )
    retries: int = Field(default=5, ge=0, description="retries of 5xx, 429 and timeouts")
    backoff_seconds: float = Field(default=0.5, ge=0, description="first wait; doubles each retry")
    max_retry_after_seconds: float = Field(
        default=120, ge=0, description="a longer Retry-After fails the load instead of waiting"
    )
    rate_limit: float | None = Field(default=None, gt=0, description="requests per second at most")
    incremental: HttpIncremental | None = Field(
        default=None, description="load only records above the last load's cursor, appended"
    )

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or "@" in parts.netloc
                or parts.path not in ("", "/")
                or parts.query
                or parts.fragment
            ):
                raise ValueError(
                    f"'{origin[:80]}' is not an origin; write scheme://host[:port], "
                    "e.g. https://cdn.example.com"
                )
        return value

    @field_validator("headers")
    @classmethod
    def _header_values(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name):
                raise ValueError(f"'{name[:40]}' is not a valid header name")
            if any(c in text for c in "\r\n\x00") or not all(ord(c) < 256 for c in text):
                raise ValueError(
                    f"header {name}: the value holds a line break, NUL or a character beyond "
                    "Latin-1, which a request cannot carry; check the variable it comes from"
                )
        return value


SOURCE_KINDS: Registry[type[SourceSettings]] = Registry("source kind", "weir.source_kinds")
SOURCE_KINDS.add("file", FileSource)
SOURCE_KINDS.add("sql", SqlSource)
SOURCE_KINDS.add("http", HttpSource)


def _source_kind(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "file"))
    return str(getattr(value, "kind", "file"))


def settings_model(value: Any) -> type[SourceSettings] | None:
    """The settings model of a source as written in weir.yaml (by its `kind`), or None."""
    return SOURCE_KINDS.find(_source_kind(value))


def _validate_source(value: Any) -> SourceSettings:
    """A source validated by the model its kind names (its errors keep their place)."""
    if isinstance(value, SourceSettings):
        return value
    model = settings_model(value)
    if model is None:
        kind = _source_kind(value)
        raise PydanticCustomError(
            "source_kind",
            "unknown source kind '{kind}'",
            {"kind": kind, "expected": ", ".join(SOURCE_KINDS.names())},
        )
    return model.model_validate(value)


class _ByKind:
    """Pydantic's schema of a `Source`: validated through SOURCE_KINDS when it is read, so
    a kind registered after ProjectConfig was defined is known; dumped as its own model;
    described in a JSON schema as one of the kinds registered when the schema is made."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_plain_validator_function(
            _validate_source, serialization=core_schema.any_schema()
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        kinds = [SOURCE_KINDS.get(kind) for kind in SOURCE_KINDS.names()]
        return {"oneOf": [handler(model.__pydantic_core_schema__) for model in kinds]}


Source = Annotated[SourceSettings, _ByKind]
"""A source in weir.yaml: the settings of its kind (`SOURCE_KINDS`)."""
