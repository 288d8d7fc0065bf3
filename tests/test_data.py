import urllib.error

import pytest

from tuneoff import data
from tuneoff.cli import main
from tuneoff.data import trees


def test_parse_tree_root_label_and_leaves():
    text, label = data.parse_tree("(3 (2 -LRB-) (3 (4 great) (2 8 1\\/2)) (2 -RRB-))")
    assert label == 3
    assert text == "( great 8 1/2 )"  # the treebank's escape undone, as pytreebank renders it


@pytest.mark.parametrize(
    "line, message",
    [
        ("(3 (2 a) (4 b)", "missing ')'"),
        ("(7 (2 a) (4 b))", "label 0..4"),
        ("(x a)", "label 0..4"),
        ("3 (2 a)", "expected '('"),
        ("(3 (2 a)) (2 b)", "after the end"),
        ("(3 )", "neither a word nor children"),
    ],
)
def test_parse_tree_rejects_malformed(line, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        data.parse_tree(line)


def test_malformed_line_names_file_and_line(tree_dir):
    lines = (tree_dir / "dev.txt").read_text().splitlines()
    lines[4] = "(2 (2 broken) (3 tree)"
    (tree_dir / "dev.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(data.DataError, match=r"dev\.txt:5: malformed tree: unbalanced"):
        data.load_sst5(tree_dir, verify=False)


def test_verify_rejects_files_that_are_not_canonical(tree_dir):
    with pytest.raises(data.DataError, match=r"sha256 .* is not the canonical"):
        data.load_sst5(tree_dir)
    assert len(data.load_sst5(tree_dir, verify=False).train) == 60


def test_real_files_counts_sums_and_classes(real_sst5):
    sst = data.load_sst5(real_sst5)
    assert sst.checksums_ok
    assert {s.name: len(s) for s in sst.splits()} == {"train": 8544, "dev": 1101, "test": 2210}
    assert sst.train.class_counts(5) == [1092, 2218, 1624, 2322, 1288]
    assert sst.dev.class_counts(5) == [139, 289, 229, 279, 165]
    assert sst.test.class_counts(5) == [279, 633, 389, 510, 399]
    assert sst.train.texts[0].startswith("The Rock is destined to be the 21st Century 's new `` Conan ''")
    assert not any("-LRB-" in t or "-RRB-" in t for s in sst.splits() for t in s.texts)
    # the sums the package ships are the ones beside the files
    sums = dict(reversed(line.split()) for line in (real_sst5 / "SHA256SUMS").read_text().splitlines())
    assert {f"{k}.txt": v for k, v in data.EXPECTED_SHA256.items()} == sums


def test_data_dir_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path / "env"))
    assert data.resolve_data_dir(tmp_path / "flag") == (tmp_path / "flag", "--data-dir")
    assert data.resolve_data_dir(None) == (tmp_path / "env", f"${data.ENV_VAR}")
    monkeypatch.delenv(data.ENV_VAR)
    monkeypatch.setattr(trees, "default_cache_dir", lambda: tmp_path / "cache")
    assert data.resolve_data_dir(None) == (tmp_path / "cache", "cache")


def test_missing_cache_downloads_and_failure_names_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(trees, "default_cache_dir", lambda: tmp_path / "cache")
    asked = []

    def no_network(url, timeout):
        asked.append(url)
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(trees.urllib.request, "urlopen", no_network)
    with pytest.raises(data.DataError, match="--data-dir"):
        data.load_sst5(None)
    assert asked == [data.DOWNLOAD_URL]
    # an explicit folder never triggers a download
    with pytest.raises(data.DataError, match=r"lacks train\.txt"):
        data.load_sst5(tmp_path / "empty")
    assert len(asked) == 1


def test_download_unpacks_the_canonical_zip_layout(tmp_path, monkeypatch, tree_dir):
    import io
    import zipfile

    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w") as z:
        for s in data.SPLITS:
            z.writestr(f"trees/{s}.txt", (tree_dir / f"{s}.txt").read_text())

    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(trees.urllib.request, "urlopen", lambda url, timeout: Response(payload.getvalue()))
    data.download(tmp_path / "cache")
    for s in data.SPLITS:
        assert (tmp_path / "cache" / f"{s}.txt").read_text() == (tree_dir / f"{s}.txt").read_text()


def test_data_command_reports_counts_and_sums(real_sst5, capsys):
    assert main(["data", "--data-dir", str(real_sst5)]) == 0
    out = capsys.readouterr().out
    assert "8544" in out and "1101" in out and "2210" in out
    assert "checksums: the published files" in out
    assert "negative 633 (28.6%)" in out


def test_data_command_flags_other_files(tree_dir, capsys):
    assert main(["data", "--data-dir", str(tree_dir)]) == 1
    assert "NOT the published files" in capsys.readouterr().out


def test_sample_is_a_fixed_random_subset_in_file_order(tree_dir):
    split = data.load_sst5(tree_dir, verify=False).train
    a, b = split.sample(20), split.sample(20)
    assert a == b and len(a) == 20
    assert a.texts != split.texts[:20]  # not a prefix: the real files are not shuffled
    positions = [split.texts.index(t) for t in a.texts]
    assert all(split.labels[i] == y for i, y in zip(positions, a.labels))
    assert split.sample(0) is split and split.sample(10_000) is split
