"""Any Hugging Face ``datasets`` data set: a hub id (with config and revision) or a folder saved with
``save_to_disk``. Its fingerprint and revision are recorded; without network a hub id fails before
training with one line."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from tuneoff.data.core import DATASETS, DataError, Dataset, DatasetSpec, Split, check_labels
from tuneoff.options import StrTuple


@DATASETS.register
class HubDataset(DatasetSpec):
    """A data set through the Hugging Face ``datasets`` library (e.g. SetFit/sst5, yelp_review_full)."""

    name: Literal["hf"] = "hf"
    id: str = Field(min_length=1, description="hub id, or a folder written by save_to_disk")
    config: str | None = Field(None, description="the data set's configuration, if it has several")
    revision: str | None = Field(None, description="a commit or tag of the hub repository")
    text_column: str = "text"
    label_column: str = "label"
    train_split: str = "train"
    dev_split: str = "validation"
    test_split: str = "test"
    labels: StrTuple = Field((), description="label names in class order; empty = the data set's own")

    def _open(self):
        import datasets

        try:
            if Path(self.id).expanduser().is_dir():
                return datasets.load_from_disk(str(Path(self.id).expanduser()))
            return datasets.load_dataset(self.id, self.config, revision=self.revision)
        except Exception as err:  # noqa: BLE001 - whatever the library raises, one line says why
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise DataError(f"Hugging Face data set {self.id!r} could not be loaded: {first} "
                            "(a hub id needs network access; a local folder from save_to_disk does not)") from None

    def load(self, data_dir=None, origin=None) -> Dataset:
        data = self._open()
        parts = {"train": self.train_split, "dev": self.dev_split, "test": self.test_split}
        missing = [name for name in parts.values() if name not in data]
        if missing:
            raise DataError(f"{self.id}: no split {missing}; splits: {list(data)}")
        names = self.labels or _label_names(data[self.train_split], self.label_column)
        splits = [self._split(ours, data[theirs], names) for ours, theirs in parts.items()]
        check_labels(tuple(names), splits, self.id)
        fingerprints = {ours: getattr(data[theirs], "_fingerprint", "") for ours, theirs in parts.items()}
        return Dataset("hf", tuple(names), *splits, "Hugging Face datasets", self.id, fingerprints,
                       revision=self.revision)

    def _split(self, ours: str, part, names) -> Split:
        for column in (self.text_column, self.label_column):
            if column not in part.column_names:
                raise DataError(f"{self.id} [{ours}]: no column {column!r}; columns: {part.column_names}")
        texts, labels = part[self.text_column], part[self.label_column]
        index = {n: i for i, n in enumerate(names)}
        ids = []
        for row, label in enumerate(labels, start=1):
            key = label if isinstance(label, int) and not isinstance(label, bool) else index.get(str(label))
            if key is None:
                raise DataError(f"{self.id} [{ours}] row {row}: unknown label {label!r}; labels: {list(names)}")
            ids.append(key)
        empty = next((i for i, t in enumerate(texts, start=1) if not str(t).strip()), None)
        if empty:
            raise DataError(f"{self.id} [{ours}] row {empty}: empty text")
        return Split(ours, tuple(map(str, texts)), tuple(ids))


def _label_names(part, column: str) -> tuple[str, ...]:
    feature = part.features.get(column)
    if getattr(feature, "names", None):
        return tuple(feature.names)
    values = set(part[column])
    if all(isinstance(v, int) for v in values):
        return tuple(str(i) for i in range(max(values) + 1))
    return tuple(sorted(map(str, values)))
