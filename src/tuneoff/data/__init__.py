"""Data sets: a registry of name -> options, each loading a :class:`Dataset` (labels, splits, fingerprint).

Adding a data set is one class with ``load`` and ``@DATASETS.register`` above it.
"""

from __future__ import annotations

from pathlib import Path

from tuneoff.data.core import (
    DATASETS,
    DataError,
    Dataset,
    DatasetSpec,
    DataWarning,
    Split,
    content_sha256,
    decode_utf8,
)
from tuneoff.data.files import Csv, Jsonl
from tuneoff.data.hub import HubDataset
from tuneoff.data.sst import Sst2, Sst5, Sst5Phrases
from tuneoff.data.trees import (
    DOWNLOAD_URL,
    ENV_VAR,
    EXPECTED_COUNTS,
    EXPECTED_SHA256,
    SPLITS,
    SST_LABELS,
    default_cache_dir,
    download,
    parse_nodes,
    parse_tree,
    resolve_data_dir,
)


def load_sst5(data_dir: str | Path | None = None, *, verify: bool = True, origin: str | None = None) -> Dataset:
    """SST-5 sentences from the tree files (the default data set)."""
    return Sst5(verify=verify).load(data_dir, origin)


__all__ = [
    "DATASETS",
    "DOWNLOAD_URL",
    "DataError",
    "DataWarning",
    "Dataset",
    "DatasetSpec",
    "ENV_VAR",
    "EXPECTED_COUNTS",
    "EXPECTED_SHA256",
    "SPLITS",
    "Split",
    "content_sha256",
    "decode_utf8",
    "default_cache_dir",
    "download",
    "load_sst5",
    "parse_nodes",
    "parse_tree",
    "resolve_data_dir",
    "Csv",
    "HubDataset",
    "Jsonl",
    "Sst2",
    "Sst5",
    "Sst5Phrases",
    "SST_LABELS",
]
