"""What a data set is, and the registry of data sets.

A ``Dataset`` holds its label names (any number of classes), its three splits and a
content fingerprint: the sha256 of every split's texts and labels, so a changed sentence
or label changes every job's identity. A data set is configured by a ``DatasetSpec``, a
strict options class registered by name; adding one is one class and one register line.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from tuneoff.options import Options
from tuneoff.registry import Registry


class DataError(ValueError):
    """Bad or missing data; the message names the file (and line) at fault."""


def decode_utf8(raw: bytes, path: Path, error=ValueError) -> str:
    """The text of a file, or an error naming the file, the line and the bad byte."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark is not content
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise error(f"{path}:{line}: not UTF-8 text (byte 0x{raw[err.start]:02x} at column {column})") from None


def content_sha256(texts, labels) -> str:
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{label}\t{text}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Split:
    name: str
    texts: tuple[str, ...]
    labels: tuple[int, ...]
    sha256: str = ""  # of the content (texts and labels); computed when not given

    def __post_init__(self):
        if not self.sha256:
            object.__setattr__(self, "sha256", content_sha256(self.texts, self.labels))

    def __len__(self) -> int:
        return len(self.texts)

    def sample(self, n: int, seed: int = 0) -> "Split":
        """A fixed random n examples in file order (files are often sorted, so a prefix is skewed)."""
        import random

        if not n or n >= len(self):
            return self
        keep = sorted(random.Random(seed).sample(range(len(self)), n))
        return Split(self.name, tuple(self.texts[i] for i in keep), tuple(self.labels[i] for i in keep))

    def class_counts(self, classes: int | None = None) -> list[int]:
        counts = Counter(self.labels)
        return [counts.get(i, 0) for i in range(classes if classes is not None else max(self.labels, default=-1) + 1)]


@dataclass(frozen=True)
class Dataset:
    name: str
    labels: tuple[str, ...]
    train: Split
    dev: Split
    test: Split
    source: str  # where it came from, in words
    root: str  # folder, file or hub id
    files: dict[str, str] = field(default_factory=dict)  # file sha256 per split, where there are files
    checksums_ok: bool | None = None  # against published sums, where there are any
    revision: str | None = None

    def splits(self) -> tuple[Split, Split, Split]:
        return self.train, self.dev, self.test

    @property
    def fingerprint(self) -> dict[str, str]:
        return {s.name: s.sha256 for s in self.splits()}


class DatasetSpec(Options):
    """A registry entry's options; ``load`` returns the Dataset."""

    name: str
    max_train: int = Field(0, ge=0, description="train on a fixed random N examples (0 = all); for smoke runs")
    max_eval: int = Field(0, ge=0, description="score a fixed random N dev and N test examples (0 = all)")
    # Options that say where the files are, not what is in them: relative to the config file, and left
    # out of a job's identity (the content fingerprint of every split is in it), so moving files
    # makes no result stale.
    relative_paths: ClassVar[tuple[str, ...]] = ()

    def load(self, data_dir: str | Path | None = None, origin: str | None = None) -> Dataset:  # pragma: no cover
        raise NotImplementedError


DATASETS = Registry("dataset", "name", "tuneoff.datasets")


def check_labels(labels: tuple[str, ...], splits: list[Split], where: str) -> None:
    if len(labels) < 2:
        raise DataError(f"{where}: a classifier needs at least 2 labels (got {list(labels)})")
    for s in splits:
        bad = sorted({y for y in s.labels if not 0 <= y < len(labels)})
        if bad:
            raise DataError(f"{where}: {s.name} has label ids {bad[:5]} outside 0..{len(labels) - 1}")
        if not len(s):
            raise DataError(f"{where}: the {s.name} split is empty")
