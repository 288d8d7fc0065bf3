"""Local CSV and JSON-lines files with a text and a label column.

Labels may be names or integers. The label names come from the config (``labels``),
or else from the data (sorted names, or 0..max for integers). A missing column, an
unknown label or an empty text is reported with the file and line.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from tuneoff.data.core import DATASETS, DataError, Dataset, DatasetSpec, Split, check_labels, decode_utf8
from tuneoff.options import StrTuple


class _Files(DatasetSpec):
    train: str = Field(description="training file (relative to the config file's folder)")
    dev: str = Field(description="validation file: picks the kept epoch")
    test: str = Field(description="test file: scored once")
    text_column: str = "text"
    label_column: str = "label"
    labels: StrTuple = Field((), description="label names in class order; empty = taken from the data")
    relative_paths: ClassVar[tuple[str, ...]] = ("train", "dev", "test")

    def rows(self, path: Path, text: str):  # pragma: no cover - interface
        """(line number, row dict) of every record."""
        raise NotImplementedError

    def _read(self, path: Path) -> list[tuple[int, str, str]]:
        try:
            text = decode_utf8(path.read_bytes(), path, DataError)
        except OSError as err:
            raise DataError(f"{path}: cannot be read ({err.strerror or err})") from None
        out = []
        for line, row in self.rows(path, text):
            for column in (self.text_column, self.label_column):
                if column not in row:
                    raise DataError(f"{path}:{line}: no column {column!r}; columns: {sorted(row)}")
            if not str(row[self.text_column]).strip():
                raise DataError(f"{path}:{line}: empty text in column {self.text_column!r}")
            out.append((line, str(row[self.text_column]), str(row[self.label_column]).strip()))
        if not out:
            raise DataError(f"{path}: no records")
        return out

    def load(self, data_dir=None, origin=None) -> Dataset:
        import hashlib

        paths = {s: Path(getattr(self, s)).expanduser() for s in ("train", "dev", "test")}
        records = {s: self._read(p) for s, p in paths.items()}
        names = self.labels or _names(records["train"])
        index = {n: i for i, n in enumerate(names)}
        splits = []
        for split, rows in records.items():
            ids = []
            for line, _, label in rows:
                if label not in index:
                    raise DataError(f"{paths[split]}:{line}: unknown label {label!r}; labels: {list(names)}")
                ids.append(index[label])
            splits.append(Split(split, tuple(t for _, t, _ in rows), tuple(ids)))
        check_labels(tuple(names), splits, str(paths["train"]))
        files = {s: hashlib.sha256(p.read_bytes()).hexdigest() for s, p in paths.items()}
        return Dataset(self.name, tuple(names), *splits, f"{self.name} files", str(paths["train"].parent), files)


def _names(rows) -> tuple[str, ...]:
    found = {label for _, _, label in rows}
    if all(x.lstrip("-").isdigit() for x in found):
        return tuple(str(i) for i in range(max(int(x) for x in found) + 1))
    return tuple(sorted(found))


@DATASETS.register
class Csv(_Files):
    """A CSV file per split, with a header row naming the columns."""

    name: Literal["csv"] = "csv"

    def rows(self, path: Path, text: str):
        reader = csv.DictReader(io.StringIO(text))
        header = reader.fieldnames or []
        for column in (self.text_column, self.label_column):
            if header and column not in header:
                raise DataError(f"{path}:1: no column {column!r}; columns: {sorted(header)}")
        for row in reader:
            yield reader.line_num, row


@DATASETS.register
class Jsonl(_Files):
    """A JSON-lines file per split: one object per line."""

    name: Literal["jsonl"] = "jsonl"

    def rows(self, path: Path, text: str):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{number}: not valid JSON ({err.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}:{number}: a JSON object per line is expected")
            yield number, row
