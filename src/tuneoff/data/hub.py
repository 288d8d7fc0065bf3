"""Any Hugging Face ``datasets`` data set: a hub id (with config and revision) or a folder saved with
``save_to_disk``. Its fingerprint and revision are recorded; without network a hub id fails before
training with one line. A ClassLabel column's classes are matched to ``labels`` by name, never by
position; other label columns follow the rule of ``classes_of`` (docs/guides/datasets.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from tuneoff.data.core import (
    DATASETS,
    DataError,
    Dataset,
    DatasetSpec,
    Split,
    check_labels,
    classes_of,
    distinct_names,
    other_column,
    overlap_warnings,
)
from tuneoff.options import StrTuple


@DATASETS.register
class HubDataset(DatasetSpec):
    """A data set through the Hugging Face ``datasets`` library (e.g. SetFit/sst5, yelp_review_full)."""

    name: Literal["hf"] = "hf"
    id: str = Field(min_length=1, description="hub id, or a folder written by save_to_disk")
    config: str | None = Field(None, description="the data set's configuration, if it has several")
    revision: str | None = Field(None, description="a commit or tag of the hub repository")
    text_column: str = "text"
    label_column: str = Field("label", validate_default=True)  # checked against text_column even when not given
    train_split: str = "train"
    dev_split: str = "validation"
    test_split: str = "test"
    labels: StrTuple = Field(
        (),
        description="label names in class order (a ClassLabel column is matched by name); empty = the data set's own",
    )

    @field_validator("labels")
    @classmethod
    def _distinct(cls, labels):
        return distinct_names(labels)

    def hub_ids(self) -> tuple[str, ...]:
        return () if Path(self.id).expanduser().is_dir() else (self.id,)

    def hub_config(self) -> str | None:
        return self.config

    @field_validator("label_column")
    @classmethod
    def _not_the_text(cls, label_column, info):
        return other_column(label_column, info)

    def _open(self):
        import datasets

        try:
            if Path(self.id).expanduser().is_dir():
                data = datasets.load_from_disk(str(Path(self.id).expanduser()))
            else:
                data = datasets.load_dataset(self.id, self.config, revision=self.revision)
        except Exception as err:  # noqa: BLE001 - whatever the library raises, one line says why
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise DataError(
                f"Hugging Face data set {self.id!r} could not be loaded: {first} "
                "(a hub id needs network access; a local folder from save_to_disk does not)"
            ) from None
        if not isinstance(data, datasets.DatasetDict):
            raise DataError(
                f"{self.id}: a single {type(data).__name__} ({getattr(data, 'num_rows', '?')} rows), not "
                f"a DatasetDict with the splits {self.train_split!r}, {self.dev_split!r}, "
                f"{self.test_split!r}; save a DatasetDict, or name its splits with train_split, "
                "dev_split and test_split"
            )
        return data

    def load(self, data_dir=None, origin=None) -> Dataset:
        data = self._open()
        parts = {"train": self.train_split, "dev": self.dev_split, "test": self.test_split}
        missing = [name for name in parts.values() if name not in data]
        if missing:
            raise DataError(f"{self.id}: no split {missing}; splits: {list(data)}")
        columns = {ours: self._columns(ours, data[theirs]) for ours, theirs in parts.items()}
        names, index = self._classes(data[self.train_split], columns["train"][1])
        splits = [self._split(ours, *columns[ours], names, index) for ours in parts]
        check_labels(tuple(names), splits, self.id)
        fingerprints = {ours: getattr(data[theirs], "_fingerprint", "") for ours, theirs in parts.items()}
        train, dev, test = splits
        return Dataset(
            "hf",
            tuple(names),
            train,
            dev,
            test,
            "Hugging Face datasets",
            self.id,
            fingerprints,
            revision=self.revision,
            warnings=overlap_warnings(splits, self.id),
        )

    def _columns(self, ours: str, part) -> tuple[list[str], list[str]]:
        """(texts, labels as text) of a split; a ClassLabel's ids become its names, so splits match by name."""
        for column in (self.text_column, self.label_column):
            if column not in part.column_names:
                raise DataError(f"{self.id} [{ours}]: no column {column!r}; columns: {part.column_names}")
        texts, values = part[self.text_column], part[self.label_column]
        for row, text in enumerate(texts, start=1):
            if not isinstance(text, str):
                raise DataError(f"{self.id} [{ours}] row {row}: {self.text_column!r} is {text!r}, not a text")
            if not text.strip():
                raise DataError(f"{self.id} [{ours}] row {row}: empty text")
        names = getattr(part.features.get(self.label_column), "names", None)
        labels = []
        for row, value in enumerate(values, start=1):
            if (label := _label_text(value, names)) is None:
                what = f"a class id 0..{len(names) - 1} (-1 means unlabelled)" if names else "a name or an integer"
                raise DataError(f"{self.id} [{ours}] row {row}: {self.label_column!r} is {value!r}; a label is {what}")
            labels.append(label)
        return texts, labels

    def _classes(self, train, values: list[str]):
        """The class names and a lookup; a ClassLabel's names must all be in ``labels``, which orders them."""
        names = getattr(train.features.get(self.label_column), "names", None)
        if not names:
            return classes_of(values, self.labels, f"{self.id} [train]")
        if missing := [n for n in names if self.labels and n not in self.labels]:
            raise DataError(
                f"{self.id}: labels {list(self.labels)} lack {missing} of column {self.label_column!r}, "
                f"a ClassLabel with names {list(names)}; its classes are matched by name"
            )
        ordered = self.labels or tuple(names)
        return ordered, {n: i for i, n in enumerate(ordered)}.get

    def _split(self, ours: str, texts, labels, names, index) -> Split:
        ids = []
        for row, label in enumerate(labels, start=1):
            if (i := index(label)) is None:
                raise DataError(f"{self.id} [{ours}] row {row}: unknown label {label!r}; labels: {list(names)}")
            ids.append(i)
        return Split(ours, tuple(texts), tuple(ids))


def _label_text(value, names) -> str | None:
    """A label value as text (a ClassLabel id as its name); None when it is no label."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    if names:
        return names[value] if isinstance(value, int) and 0 <= value < len(names) else None
    return str(value).strip() or None
