"""Three data sets from the same SST trees: sentences (SST-5), phrases (train only), and binary SST-2."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tuneoff.data.core import DATASETS, Dataset, DatasetSpec, Split
from tuneoff.data.trees import EXPECTED_SHA256, SST_LABELS, read_sst


class _Trees(DatasetSpec):
    dir: str | None = Field(None, description="folder with train/dev/test.txt; --data-dir wins")
    verify: bool = Field(True, description="require the canonical sha256 sums and sizes")
    relative_paths: ClassVar[tuple[str, ...]] = ("dir",)

    def _files(self, data_dir, origin):
        root, source, files = read_sst(data_dir or self.dir, self.verify, origin)
        sums = {s: f.sha256 for s, f in files.items()}
        return root, source, files, sums, sums == EXPECTED_SHA256

    @staticmethod
    def _sentences(name: str, files, keep=lambda label: True, relabel=lambda label: label) -> Split:
        roots = [tree[0] for tree in files[name].trees if keep(tree[0][1])]
        return Split(name, tuple(t for t, _ in roots), tuple(relabel(y) for _, y in roots))


@DATASETS.register
class Sst5(_Trees):
    """SST-5 (Socher et al. 2013): five sentiment classes, whole sentences, 8,544 / 1,101 / 2,210."""

    name: Literal["sst5"] = "sst5"

    def hub_ids(self) -> tuple[str, ...]:
        # SetFit/sst5 is SST-5 as a classifier reads it: the same sentences of the same trees, split 8,544 /
        # 1,101 / 2,210, with the five labels as integers 0-4. stanfordnlp/sst holds the treebank itself, but its
        # default configuration labels each sentence with a continuous score: a model-index naming it would
        # describe a regression task, not this five-class one.
        return ("SetFit/sst5",)

    def load(self, data_dir=None, origin=None) -> Dataset:
        root, source, files, sums, ok = self._files(data_dir, origin)
        train, dev, test = (self._sentences(s, files) for s in ("train", "dev", "test"))
        return Dataset("sst5", SST_LABELS, train, dev, test, source, str(root), sums, ok, fixed_names=True)


@DATASETS.register
class Sst5Phrases(_Trees):
    """SST-5 trained on every labelled node of the *train* trees (318,582 nodes, 159,274 distinct texts);
    dev and test stay whole sentences. No phrase ever comes from the dev or test trees."""

    name: Literal["sst5-phrases"] = "sst5-phrases"

    def hub_ids(self) -> tuple[str, ...]:
        return ("SetFit/sst5", "stanfordnlp/sst")  # scored on SST-5's sentences; trained on the treebank's phrases

    dedupe: bool = Field(True, description="keep each distinct phrase text once (its first label)")

    def load(self, data_dir=None, origin=None) -> Dataset:
        root, source, files, sums, ok = self._files(data_dir, origin)
        nodes = [node for tree in files["train"].trees for node in tree]
        if self.dedupe:
            first: dict[str, int] = {}
            for text, label in nodes:
                first.setdefault(text, label)
            nodes = list(first.items())
        train = Split("train", tuple(t for t, _ in nodes), tuple(y for _, y in nodes))
        return Dataset(
            "sst5-phrases",
            SST_LABELS,
            train,
            self._sentences("dev", files),
            self._sentences("test", files),
            source,
            str(root),
            sums,
            ok,
            fixed_names=True,
        )


@DATASETS.register
class Sst2(_Trees):
    """SST-2: the same sentences, neutral dropped, 0-1 negative and 3-4 positive; 6,920 / 872 / 1,821."""

    name: Literal["sst2"] = "sst2"

    def hub_ids(self) -> tuple[str, ...]:
        # stanfordnlp/sst2 is GLUE's SST-2, the same binary task on the same trees: its validation split is these
        # 872 dev sentences and its test split these 1,821 test sentences (labels hidden there); its train split
        # holds the phrases of the train trees, where this one keeps their 6,920 whole sentences
        return ("stanfordnlp/sst2",)

    def load(self, data_dir=None, origin=None) -> Dataset:
        root, source, files, sums, ok = self._files(data_dir, origin)
        train, dev, test = (
            self._sentences(s, files, keep=lambda y: y != 2, relabel=lambda y: int(y > 2))
            for s in ("train", "dev", "test")
        )
        return Dataset(
            "sst2", ("negative", "positive"), train, dev, test, source, str(root), sums, ok, fixed_names=True
        )
