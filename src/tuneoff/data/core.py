"""What a data set is, and the registry of data sets.

A ``Dataset`` holds its label names (any number of classes), its three splits and a
content fingerprint: the sha256 of every split's texts and labels, so a changed sentence
or label changes every job's identity. A data set is configured by a ``DatasetSpec``, a
strict options class registered by name; adding one is one class and one register line.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from tuneoff.options import Options
from tuneoff.registry import Registry


class DataError(ValueError):
    """Bad or missing data; the message names the file (and line) at fault."""


class DataWarning(UserWarning):
    """Data that loads but may mislead (splits sharing texts); also kept in ``Dataset.warnings``."""


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

    def sample(self, n: int, seed: int = 0) -> Split:
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
    warnings: tuple[str, ...] = ()  # worth recording in every job's result (e.g. splits that share texts)
    # The class names are the data set's own (SST's), implied by its name: left out of a job's identity, where
    # the names read from files or a config are (``classes``), so that renaming a class makes results stale.
    fixed_names: bool = False

    def splits(self) -> tuple[Split, Split, Split]:
        return self.train, self.dev, self.test

    @property
    def fingerprint(self) -> dict[str, str]:
        """Each split's content (texts and label ids)."""
        return {s.name: s.sha256 for s in self.splits()}

    @property
    def classes(self) -> tuple[str, ...] | None:
        """The class names a job's identity holds (None: implied by the data set's name, see ``fixed_names``)."""
        return None if self.fixed_names else self.labels


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

    def hub_ids(self) -> tuple[str, ...]:
        """The Hugging Face Hub data set ids these examples are published under, the one whose test split is
        scored first (an exported model card's ``datasets`` and model-index); empty for local files."""
        return ()

    def hub_config(self) -> str | None:
        """The Hub data set's configuration the test split comes from, where it has several."""
        return None


DATASETS: Registry[DatasetSpec] = Registry("dataset", "name", "tuneoff.datasets")


def check_labels(labels: tuple[str, ...], splits: list[Split], where: str) -> None:
    if len(labels) < 2:
        raise DataError(f"{where}: a classifier needs at least 2 labels (got {list(labels)})")
    if len(set(labels)) != len(labels):
        raise DataError(
            f"{where}: label names must be distinct; repeated: {sorted({n for n in labels if labels.count(n) > 1})}"
        )
    for s in splits:
        bad = sorted({y for y in s.labels if not 0 <= y < len(labels)})
        if bad:
            raise DataError(f"{where}: {s.name} has label ids {bad[:5]} outside 0..{len(labels) - 1}")
        if not len(s):
            raise DataError(f"{where}: the {s.name} split is empty")


def distinct_names(labels: tuple[str, ...]) -> tuple[str, ...]:
    """A ``labels`` option's validator: each class named once."""
    repeated = sorted({n for n in labels if labels.count(n) > 1})
    if repeated:
        raise ValueError(f"label names must be distinct; repeated: {repeated}")
    return labels


def other_column(label_column: str, info) -> str:
    """A ``label_column`` option's validator: not the text column (every text would be its own label)."""
    if label_column == info.data.get("text_column"):
        raise ValueError(
            f"label_column {label_column!r} is also text_column: every text would be its own label; "
            "name the column that holds the labels"
        )
    return label_column


_INTEGER = re.compile(r"[+-]?\d+")


def classes_of(values, given: tuple[str, ...], where: str) -> tuple[tuple[str, ...], Callable[[str], int | None]]:
    """The class names and a lookup from a label value (text) to its class id; the rule of docs/guides/datasets.md.

    Values that are all names in ``given`` map by name. Values that are all integers map by number: their
    sorted distinct values are the classes, named by ``given`` in that order (the counts must agree) or by
    the numbers themselves. Other values are names: ``given``, or the sorted distinct values.
    """
    found = set(values)
    numeric = bool(found) and all(_INTEGER.fullmatch(v) for v in found)
    if not numeric or (given and found <= set(given)):
        names = given or tuple(sorted(found))
        return names, {n: i for i, n in enumerate(names)}.get
    numbers = sorted({int(v) for v in found})
    if given and len(given) != len(numbers):
        raise DataError(
            f"{where}: the labels are the numbers {numbers[:10]}{' ...' if len(numbers) > 10 else ''} "
            f"({len(numbers)} distinct) but labels names {len(given)} classes {list(given)}; sorted "
            "numbers map to the names in order, so the counts must agree"
        )
    index = {number: i for i, number in enumerate(numbers)}
    return given or tuple(map(str, numbers)), lambda v: index.get(int(v)) if _INTEGER.fullmatch(v) else None


def overlap_warnings(splits: list[Split], where: str) -> tuple[str, ...]:
    """One warning per pair of splits that share texts (exact text), with the count; also issued as DataWarning."""
    by_name = {s.name: s for s in splits}
    out = []
    for name, other in (("test", "train"), ("dev", "train"), ("test", "dev")):
        seen = set(by_name[other].texts)
        shared = sum(t in seen for t in by_name[name].texts)
        if shared:
            out.append(
                f"{where}: {shared} of {len(by_name[name])} {name} texts are also in {other} (exact text); "
                f"scores on them reward memory, not generalisation"
            )
    for message in out:
        warnings.warn(message, DataWarning, stacklevel=2)
    return tuple(out)
