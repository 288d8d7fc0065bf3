"""Local CSV and JSON-lines files with a text and a label column.

Labels may be names or integers; which classes they make is one rule (``classes_of``,
docs/guides/datasets.md): names as given or sorted, integers sorted numerically. A missing column or
value, an unknown label, an empty text or malformed CSV is reported with the file and line.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from tuneoff.data.core import (
    DATASETS,
    DataError,
    Dataset,
    DatasetSpec,
    Split,
    check_labels,
    classes_of,
    decode_utf8,
    distinct_names,
    other_column,
    overlap_warnings,
)
from tuneoff.options import StrTuple


class _Files(DatasetSpec):
    train: str = Field(description="training file (relative to the config file's folder)")
    dev: str = Field(description="validation file: picks the kept epoch")
    test: str = Field(description="test file: scored once")
    text_column: str = "text"
    label_column: str = Field("label", validate_default=True)  # checked against text_column even when not given
    labels: StrTuple = Field((), description="label names in class order; empty = taken from the data")
    relative_paths: ClassVar[tuple[str, ...]] = ("train", "dev", "test")

    @field_validator("labels")
    @classmethod
    def _distinct(cls, labels):
        return distinct_names(labels)

    @field_validator("label_column")
    @classmethod
    def _not_the_text(cls, label_column, info):
        return other_column(label_column, info)

    def rows(self, path: Path, text: str):  # pragma: no cover - interface
        """(line number, row dict) of every record."""
        raise NotImplementedError

    def _read(self, path: Path) -> list[tuple[int, str, str]]:
        try:
            text = decode_utf8(path.read_bytes(), path, DataError)
        except OSError as err:
            raise DataError(f"{path}: cannot be read ({err.strerror or err})") from None
        out = [(line, *self._record(path, line, row)) for line, row in self.rows(path, text)]
        if not out:
            raise DataError(f"{path}: no records")
        return out

    def _record(self, path: Path, line: int, row: dict) -> tuple[str, str]:
        """(text, label) of one record: the text a non-empty string, the label a name or an integer."""
        for column in (self.text_column, self.label_column):
            if column not in row:
                raise DataError(f"{path}:{line}: no column {column!r}; columns: {sorted(row)}")
            if row[column] is None:
                raise DataError(f"{path}:{line}: {column!r} is null; every record needs a text and a label")
        text, label = row[self.text_column], row[self.label_column]
        if not isinstance(text, str):
            raise DataError(f"{path}:{line}: {self.text_column!r} is {text!r}, not a text")
        if not text.strip():
            raise DataError(f"{path}:{line}: empty text in column {self.text_column!r}")
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise DataError(f"{path}:{line}: {self.label_column!r} is {label!r}; a label is a name or an integer")
        if not str(label).strip():
            raise DataError(f"{path}:{line}: empty label in column {self.label_column!r}")
        return text, str(label).strip()

    def load(self, data_dir=None, origin=None) -> Dataset:
        import hashlib

        paths = {s: Path(getattr(self, s)).expanduser() for s in ("train", "dev", "test")}
        records = {s: self._read(p) for s, p in paths.items()}
        names, index = classes_of((label for _, _, label in records["train"]), self.labels, str(paths["train"]))
        splits = []
        for split, rows in records.items():
            ids = []
            for line, _, label in rows:
                if (i := index(label)) is None:
                    raise DataError(f"{paths[split]}:{line}: unknown label {label!r}; labels: {list(names)}")
                ids.append(i)
            splits.append(Split(split, tuple(t for _, t, _ in rows), tuple(ids)))
        check_labels(tuple(names), splits, str(paths["train"]))
        files = {s: hashlib.sha256(p.read_bytes()).hexdigest() for s, p in paths.items()}
        where = f"{self.name} files in {paths['train'].parent}"
        train, dev, test = splits
        return Dataset(
            self.name,
            tuple(names),
            train,
            dev,
            test,
            f"{self.name} files",
            str(paths["train"].parent),
            files,
            warnings=overlap_warnings(splits, where),
        )


@DATASETS.register
class Csv(_Files):
    """A CSV file per split, with a header row naming the columns (any line endings, quoted fields of any size)."""

    name: Literal["csv"] = "csv"

    def rows(self, path: Path, text: str):
        csv.field_size_limit(max(csv.field_size_limit(), len(text)))  # one field may be the whole file
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = self._next(reader, path, 1)
        if header is None:
            return
        if twice := next((c for i, c in enumerate(header) if c in header[:i]), None):
            raise DataError(
                f"{path}:1: the header names the column {twice!r} twice (columns: {header}); which one "
                "holds the data is not clear: rename one"
            )
        for column in (self.text_column, self.label_column):
            if column not in header:
                raise DataError(f"{path}:1: no column {column!r}; columns: {sorted(header)}")
        while True:
            start = reader.line_num + 1  # a record may span lines (quoted newlines): name its first
            row = self._next(reader, path, start)
            if row is None:
                return
            if not row:  # a blank line
                continue
            if len(row) < len(header):
                raise DataError(
                    f"{path}:{start}: no value for {header[len(row) :]} (the record has {len(row)} of "
                    f"the {len(header)} columns {header})"
                )
            if len(row) > len(header):
                raise DataError(
                    f"{path}:{start}: {len(row)} fields for the {len(header)} columns {header} "
                    "(a text with commas needs double quotes)"
                )
            yield start, dict(zip(header, row))

    @staticmethod
    def _next(reader, path: Path, start: int) -> list[str] | None:
        """The next record (None at the end); malformed CSV is named by the line its record starts on."""
        try:
            return next(reader, None)
        except csv.Error as err:
            end = f", line {reader.line_num}" if reader.line_num > start else ""
            why = "a quoted field is never closed" if "unexpected end of data" in str(err) else f"{err}{end}"
            raise DataError(f"{path}:{start}: not valid CSV in the record starting here: {why}") from None


@DATASETS.register
class Jsonl(_Files):
    """A JSON-lines file per split: one object per line."""

    name: Literal["jsonl"] = "jsonl"

    def rows(self, path: Path, text: str):
        for number, line in enumerate(text.split("\n"), start=1):  # JSON Lines: "\n" ends a record (U+2028 does not)
            if not line.strip():
                continue
            try:
                row = json.loads(line, object_pairs_hook=_no_repeated_keys)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{number}: not valid JSON ({err.msg})") from None
            except _RepeatedKey as err:
                raise DataError(
                    f"{path}:{number}: the key {err.args[0]!r} appears twice in one object; which value "
                    "holds the data is not clear: keep one"
                ) from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: a JSON object per line is expected")
            yield number, row


class _RepeatedKey(Exception):
    """A JSON object naming one key twice (json.loads would keep the last silently)."""


def _no_repeated_keys(pairs: list[tuple[str, object]]) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(key)
        out[key] = value
    return out
