"""SST-5 from the Stanford PTB tree files: find, verify, parse.

A tree line looks like ``(3 (2 It) (4 (2 's) (4 good)))``: every node carries a
label 0..4, the root label is the sentence label, and the leaves are the tokens.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import re
import urllib.error
import urllib.request
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

LABELS = ("very negative", "negative", "neutral", "positive", "very positive")
SPLITS = ("train", "dev", "test")
EXPECTED_COUNTS = {"train": 8544, "dev": 1101, "test": 2210}
# sha256 of the canonical trainDevTestTrees_PTB.zip release's trees/*.txt
EXPECTED_SHA256 = {
    "train": "e2f3f41b0b1e6d4dddc0effe3bfc2d27ed8928079aa9a03d652311614fc5feb7",
    "dev": "0e9336aed6e4730e19f58d00a77b3f0297efdb755f7b5e598c98a05e3f97ea40",
    "test": "6e54806dee95cf80cd918e7dfb3f6770f6df24bf826f289a4d1f709e1c8f6761",
}
DOWNLOAD_URL = "https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip"
ENV_VAR = "TUNEOFF_DATA_DIR"
_BRACKETS = {"-LRB-": "(", "-RRB-": ")"}
_TOKEN = re.compile(r"\(|\)|[^\s()]+")


class DataError(ValueError):
    """Bad or missing data; the message names the file (and line) at fault."""


@dataclass(frozen=True)
class Split:
    name: str
    texts: tuple[str, ...]
    labels: tuple[int, ...]
    sha256: str

    def __len__(self) -> int:
        return len(self.texts)

    def sample(self, n: int, seed: int = 0) -> "Split":
        """A fixed random n sentences in file order (the files are not shuffled, so a prefix is skewed)."""
        if not n or n >= len(self):
            return self
        keep = sorted(random.Random(seed).sample(range(len(self)), n))
        return Split(self.name, tuple(self.texts[i] for i in keep), tuple(self.labels[i] for i in keep), self.sha256)

    def class_counts(self) -> list[int]:
        counts = Counter(self.labels)
        return [counts.get(i, 0) for i in range(len(LABELS))]


def parse_tree(line: str) -> tuple[str, int]:
    """Return (sentence, root label) of one PTB tree; raise ValueError saying what is wrong."""
    tokens = _TOKEN.findall(line)
    if not tokens:
        raise ValueError("empty line")
    pos = 0
    leaves: list[str] = []

    def node() -> int:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos] != "(":
            got = tokens[pos] if pos < len(tokens) else "end of line"
            raise ValueError(f"expected '(' at token {pos + 1}, got {got!r}")
        pos += 1
        if pos >= len(tokens) or not re.fullmatch(r"[0-4]", tokens[pos]):
            got = tokens[pos] if pos < len(tokens) else "end of line"
            raise ValueError(f"expected a label 0..4 at token {pos + 1}, got {got!r}")
        label = int(tokens[pos])
        pos += 1
        if pos < len(tokens) and tokens[pos] not in "()":
            # a leaf; a few hold a space ("8 1\/2"), so take every word up to ')'
            words = []
            while pos < len(tokens) and tokens[pos] not in "()":
                words.append(_BRACKETS.get(tokens[pos], tokens[pos]))
                pos += 1
            leaves.append(" ".join(words))
        else:
            children = 0
            while pos < len(tokens) and tokens[pos] == "(":
                node()
                children += 1
            if children == 0:
                raise ValueError(f"node at token {pos} has neither a word nor children")
        if pos >= len(tokens) or tokens[pos] != ")":
            raise ValueError(f"unbalanced parentheses: missing ')' at token {pos + 1}")
        pos += 1
        return label

    root = node()
    if pos != len(tokens):
        raise ValueError(f"text after the end of the tree at token {pos + 1}: {tokens[pos]!r}")
    return " ".join(leaves), root


def decode_utf8(raw: bytes, path: Path, error=ValueError) -> str:
    """The text of a file, or an error naming the file, the line and the bad byte."""
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark is not content
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        column = err.start - (raw.rfind(b"\n", 0, err.start) + 1) + 1
        raise error(f"{path}:{line}: not UTF-8 text (byte 0x{raw[err.start]:02x} at column {column})") from None


def read_split(path: Path, name: str) -> Split:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror or err})") from None
    texts, labels = [], []
    for number, line in enumerate(decode_utf8(raw, path, DataError).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            text, label = parse_tree(line)
        except ValueError as err:
            raise DataError(f"{path}:{number}: malformed tree: {err}") from None
        texts.append(text)
        labels.append(label)
    if not texts:
        raise DataError(f"{path}: no trees in file")
    return Split(name, tuple(texts), tuple(labels), hashlib.sha256(raw).hexdigest())


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("tuneoff")) / "sst5"


def resolve_data_dir(data_dir: str | Path | None, origin: str | None = None) -> tuple[Path, str]:
    """Where the tree files live: --data-dir (or the config's data.dir), else $TUNEOFF_DATA_DIR, else the cache."""
    if data_dir:
        return Path(data_dir).expanduser(), origin or "--data-dir"
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser(), f"${ENV_VAR}"
    return default_cache_dir(), "cache"


def download(target: Path, url: str = DOWNLOAD_URL, timeout: float = 30.0) -> None:
    """Fetch the canonical zip and unpack trees/{train,dev,test}.txt into target."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError) as err:
        raise DataError(
            f"SST-5 is not in {target} and downloading {url} failed ({err}). "
            "Put train.txt, dev.txt and test.txt in a folder and pass it with --data-dir "
            f"(or set ${ENV_VAR})."
        ) from None
    target.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        for split in SPLITS:
            member = f"trees/{split}.txt"
            tmp = target / f".{split}.txt.part"
            tmp.write_bytes(archive.read(member))
            tmp.replace(target / f"{split}.txt")


@dataclass(frozen=True)
class SST5:
    root: Path
    source: str
    train: Split
    dev: Split
    test: Split

    def splits(self) -> tuple[Split, Split, Split]:
        return self.train, self.dev, self.test

    def checksums_ok(self) -> bool:
        return all(s.sha256 == EXPECTED_SHA256[s.name] for s in self.splits())


def load_sst5(
    data_dir: str | Path | None = None, *, verify: bool = True, allow_download: bool = True, origin: str | None = None
) -> SST5:
    """Load the three splits; with verify, the sums and counts must be the canonical ones.

    ``origin`` names where ``data_dir`` came from, for messages (``--data-dir`` by default).
    """
    root, source = resolve_data_dir(data_dir, origin)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root} ({source}) is not a folder")
    missing = [s for s in SPLITS if not (root / f"{s}.txt").is_file()]
    if missing:
        if source != "cache" or not allow_download:
            raise DataError(f"{root} ({source}) lacks {', '.join(s + '.txt' for s in missing)}")
        download(root)
    splits = {s: read_split(root / f"{s}.txt", s) for s in SPLITS}
    if verify:
        for s, split in splits.items():
            if split.sha256 != EXPECTED_SHA256[s]:
                raise DataError(
                    f"{root / (s + '.txt')}: sha256 {split.sha256} is not the canonical "
                    f"{EXPECTED_SHA256[s]}; set data.verify = false to use other files knowingly"
                )
            if len(split) != EXPECTED_COUNTS[s]:
                raise DataError(f"{root / (s + '.txt')}: {len(split)} sentences, expected {EXPECTED_COUNTS[s]}")
    return SST5(root, source, splits["train"], splits["dev"], splits["test"])
