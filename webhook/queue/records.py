"""Records <-> rows by column name, with the columns derived from the record's fields.

A field of ``Job`` (or of ``SyncRequest``, which it builds on) is a column of ``jobs``: its
SQL type, nullability and default follow from the field's type and default, and a store
opened on an older database adds the missing column. So a new field is one declaration.
Values are stored as plain SQL values: enums by value, booleans as 0/1, pull requests and
results as JSON text.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, asdict, dataclass, fields
from enum import Enum
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from webhook.model import Job

R = TypeVar("R")

#: Fields whose column has another name (``commit`` is an SQL keyword).
RENAMED = {"commit": "commit_sha"}

#: Column types; ``{real}``, ``{bigint}`` and ``{serial}`` are filled in by the dialect.
_SQL_TYPES: dict[type, str] = {str: "TEXT", bool: "INTEGER", int: "{bigint}", float: "{real}"}


@dataclass(frozen=True)
class Column:
    """One field of a record as one column of a table."""

    field: str
    name: str
    sql_type: str
    nullable: bool
    default: str | None
    dump: Callable[[Any], Any]
    load: Callable[[Any], Any]

    def ddl(self) -> str:
        if self.name == "id":
            return "id {serial}"
        text = f"{self.name} {self.sql_type}"
        if self.default is not None:
            text += f" DEFAULT {self.default}"
        return text if self.nullable else text + " NOT NULL"


def _same(value: Any) -> Any:
    return value


def _json_dump(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return json.dumps([asdict(item) for item in value])
    return json.dumps(value)


def _column(spec: Field[Any], hint: Any) -> Column:
    nullable = False
    if get_origin(hint) in (Union, types.UnionType):
        inner = [arg for arg in get_args(hint) if arg is not type(None)]
        nullable, hint = True, inner[0]
    dump: Callable[[Any], Any] = _same
    load: Callable[[Any], Any] = _same
    if isinstance(hint, type) and issubclass(hint, Enum):
        sql_type, dump, load = "TEXT", _enum_value, hint
    elif get_origin(hint) is tuple:
        item = get_args(hint)[0]
        sql_type, dump = "TEXT", _json_dump

        def load(text: Any, item: Any = item) -> Any:
            return tuple(item(**entry) for entry in json.loads(text or "[]"))

    elif get_origin(hint) is dict:
        sql_type, dump = "TEXT", _json_dump

        def load(text: Any) -> Any:
            return json.loads(text) if text else None

    elif hint in _SQL_TYPES:
        sql_type, load = _SQL_TYPES[hint], hint
        dump = int if hint is bool else _same
    else:  # pragma: no cover - a field type the store cannot keep yet
        raise TypeError(f"{spec.name}: no column type for {hint!r}")
    if nullable:
        dump, load = _or_none(dump), _or_none(load)
    default = spec.default if spec.default is not MISSING else None
    return Column(
        field=spec.name,
        name=RENAMED.get(spec.name, spec.name),
        sql_type=sql_type,
        nullable=nullable,
        default=None if default is None else _sql_literal(dump(default)),
        dump=dump,
        load=load,
    )


def _or_none(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert``, letting NULL through as None."""
    return lambda value: None if value is None else convert(value)


def _enum_value(value: Enum) -> Any:
    return value.value


def _sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


_COLUMNS: dict[type, tuple[Column, ...]] = {}


def columns(record: type) -> tuple[Column, ...]:
    """The columns of ``record``'s fields, in field order."""
    if record not in _COLUMNS:
        hints = get_type_hints(record)
        _COLUMNS[record] = tuple(_column(spec, hints[spec.name]) for spec in fields(record))
    return _COLUMNS[record]


def select(record: type, *, alias: str = "") -> str:
    """The column list that reads ``record`` back (``alias.`` before each column)."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + column.name for column in columns(record))


def load(record: type[R], row: Mapping[str, Any]) -> R:
    """A record from a row read by column name."""
    make: Callable[..., R] = record
    return make(**{c.field: c.load(row[c.name]) for c in columns(record)})


def dump(record: object, *, without: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    """Column name -> SQL value for each field of ``record`` (the key left to the database)."""
    return {
        c.name: c.dump(getattr(record, c.field))
        for c in columns(type(record))
        if c.field not in without
    }


# -- the jobs table -------------------------------------------------------------------

#: Columns of ``jobs`` that no field holds: what the queries filter on, computed on insert.
JOB_EXTRAS: Mapping[str, str] = {
    # Jobs of one lane run one at a time and supersede each other: the app's name for
    # deployments, app#pr-N for a pull request's previews.
    "lane": "lane TEXT NOT NULL DEFAULT ''",
}

JOB_COLUMNS = select(Job)


def job_values(job: Job) -> dict[str, Any]:
    """The row to insert for ``job``."""
    return {**dump(job), "lane": job.lane}


def load_job(row: Mapping[str, Any]) -> Job:
    return load(Job, row)


def jobs_table() -> str:
    """``CREATE TABLE jobs`` from the fields of ``Job``."""
    ordered = sorted(columns(Job), key=lambda column: column.name != "id")  # the key first
    lines = [column.ddl() for column in ordered] + list(JOB_EXTRAS.values())
    return "CREATE TABLE IF NOT EXISTS jobs (\n    " + ",\n    ".join(lines) + "\n)"


def missing_job_columns(existing: set[str]) -> list[str]:
    """``ALTER TABLE`` statements for fields added since the table was created."""
    wanted = {c.name: c.ddl() for c in columns(Job)} | dict(JOB_EXTRAS)
    statements = []
    for name, ddl in wanted.items():
        if name in existing:
            continue
        if "NOT NULL" in ddl and "DEFAULT" not in ddl:
            raise ValueError(
                f"jobs.{name}: a field added to an existing store needs a default or None"
            )
        statements.append(f"ALTER TABLE jobs ADD COLUMN {ddl}")
    return statements


def changes(record: type, **values: Any) -> dict[str, Any]:
    """Column name -> SQL value for some fields of ``record``, given by field name."""
    by_field = {c.field: c for c in columns(record)}
    return {by_field[name].name: by_field[name].dump(value) for name, value in values.items()}
