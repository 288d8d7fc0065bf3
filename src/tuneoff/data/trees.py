"""The Stanford Sentiment Treebank's PTB tree files: find, download, verify, parse.

A tree line looks like ``(3 (2 It) (4 (2 's) (4 good)))``: every node carries a label
0..4, the root's is the sentence's, and the leaves are the tokens. Leaves are rendered
as pytreebank renders them: ``-LRB-``/``-RRB-`` become brackets and the treebank's
escapes ``\\/`` and ``\\*`` become ``/`` and ``*``.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tuneoff.data.core import DataError, decode_utf8

SST_LABELS = ("very negative", "negative", "neutral", "positive", "very positive")
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
_LEAF = {"-LRB-": "(", "-RRB-": ")"}
_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def render(word: str) -> str:
    return _LEAF.get(word, word).replace("\\/", "/").replace("\\*", "*")


def parse_nodes(line: str) -> list[tuple[str, int]]:
    """Every node of one tree as (text, label), the root first; a ValueError says what is malformed."""
    tokens = _TOKEN.findall(line)
    if not tokens:
        raise ValueError("empty line")
    pos = 0
    nodes: list[tuple[str, int] | None] = []  # a node's slot is taken before its children's

    def node() -> list[str]:
        nonlocal pos
        if pos >= len(tokens) or tokens[pos] != "(":
            got = tokens[pos] if pos < len(tokens) else "end of line"
            raise ValueError(f"expected '(' at token {pos + 1}, got {got!r}")
        pos += 1
        if pos >= len(tokens) or not re.fullmatch(r"[0-4]", tokens[pos]):
            got = tokens[pos] if pos < len(tokens) else "end of line"
            raise ValueError(f"expected a label 0..4 at token {pos + 1}, got {got!r}")
        label, slot = int(tokens[pos]), len(nodes)
        nodes.append(None)
        pos += 1
        words: list[str] = []
        if pos < len(tokens) and tokens[pos] not in "()":
            # a leaf; a few hold a space ("8 1\\/2"), so take every word up to ')'
            leaf = []
            while pos < len(tokens) and tokens[pos] not in "()":
                leaf.append(render(tokens[pos]))
                pos += 1
            words.append(" ".join(leaf))
        else:
            while pos < len(tokens) and tokens[pos] == "(":
                words += node()
            if not words:
                raise ValueError(f"node at token {pos} has neither a word nor children")
        if pos >= len(tokens) or tokens[pos] != ")":
            raise ValueError(f"unbalanced parentheses: missing ')' at token {pos + 1}")
        pos += 1
        nodes[slot] = (" ".join(words), label)
        return words

    node()
    if pos != len(tokens):
        raise ValueError(f"text after the end of the tree at token {pos + 1}: {tokens[pos]!r}")
    return [n for n in nodes if n is not None]  # every slot is filled by now


def parse_tree(line: str) -> tuple[str, int]:
    """(sentence, root label) of one tree."""
    return parse_nodes(line)[0]


@dataclass(frozen=True)
class TreeFile:
    path: Path
    sha256: str
    trees: tuple[tuple[tuple[str, int], ...], ...]  # every tree's nodes, root first


def read_trees(path: Path) -> TreeFile:
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise DataError(f"{path}: cannot be read ({err.strerror or err})") from None
    trees = []
    for number, line in enumerate(decode_utf8(raw, path, DataError).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            trees.append(tuple(parse_nodes(line)))
        except ValueError as err:
            raise DataError(f"{path}:{number}: malformed tree: {err}") from None
    if not trees:
        raise DataError(f"{path}: no trees in file")
    return TreeFile(path, hashlib.sha256(raw).hexdigest(), tuple(trees))


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
            tmp = target / f".{split}.txt.part"
            tmp.write_bytes(archive.read(f"trees/{split}.txt"))
            tmp.replace(target / f"{split}.txt")


def read_sst(data_dir, verify: bool, origin: str | None, allow_download: bool = True) -> tuple[Path, str, dict]:
    """(folder, where it came from, split -> TreeFile); with verify, the canonical sums and counts."""
    root, source = resolve_data_dir(data_dir, origin)
    if root.exists() and not root.is_dir():
        raise DataError(f"{root} ({source}) is not a folder")
    if odd := [f"{s}.txt" for s in SPLITS if (root / f"{s}.txt").exists() and not (root / f"{s}.txt").is_file()]:
        raise DataError(
            f"{root} ({source}): {', '.join(odd)} is not a file (a folder?); SST-5 needs "
            f"the PTB tree files {', '.join(s + '.txt' for s in SPLITS)}"
        )
    missing = [s for s in SPLITS if not (root / f"{s}.txt").is_file()]
    if missing:
        if source != "cache" or not allow_download:
            raise DataError(f"{root} ({source}) lacks {', '.join(s + '.txt' for s in missing)}")
        download(root)
    files = {s: read_trees(root / f"{s}.txt") for s in SPLITS}
    if verify:
        for s, f in files.items():
            if f.sha256 != EXPECTED_SHA256[s]:
                raise DataError(
                    f"{f.path}: sha256 {f.sha256} is not the canonical {EXPECTED_SHA256[s]}; "
                    "set data.verify = false to use other files knowingly"
                )
            if len(f.trees) != EXPECTED_COUNTS[s]:
                raise DataError(f"{f.path}: {len(f.trees)} sentences, expected {EXPECTED_COUNTS[s]}")
    return root, source, files
