"""verdict/format.py, the one owner of how the verdict is written: p-values (an underflow is a bound, never 0),
differences with their CIs, accuracies with their CIs, times, and the board's words."""

from __future__ import annotations

import pytest

from tuneoff.verdict import format as fmt


@pytest.mark.parametrize(
    "p, text",
    [
        (0.0, "< 1e-15"),  # underflowed: the bound, never "0"
        (3e-300, "< 1e-15"),
        (1e-15, "1e-15"),
        (7.1e-05, "7.1e-5"),  # no padded exponent
        (1.89e-06, "1.89e-6"),
        (0.0059, "0.0059"),
        (0.00416, "0.00416"),
        (0.123456, "0.123"),
        (1.0, "1"),
    ],
)
def test_p_values(p, text):
    assert fmt.p_value(p) == text


def test_p_values_named_with_their_relation():
    assert fmt.p_is(0.0123) == "p = 0.0123"
    assert fmt.p_is(0.0, "Holm p") == "Holm p < 1e-15"
    assert fmt.p_is(0.001, below=True) == "p < 0.001"  # a published bound
    assert fmt.p_is(0.5432, digits=2) == "p = 0.54"


def test_a_difference_with_its_ci_is_one_style():
    assert fmt.difference(1.234, [-0.454, 2.906]) == "+1.23 [-0.45, +2.91]"
    assert fmt.difference(-8.0, (-14.64, -1.36), p=0.00416) == "-8.00 [-14.64, -1.36], p = 0.00416"
    assert fmt.difference(-54.3, [-56.12, -52.48], p=0.0) == "-54.30 [-56.12, -52.48], p < 1e-15"
    assert fmt.difference(0.5, None) == "+0.50"


def test_accuracies_and_their_cis():
    assert fmt.accuracy_ci(0.4713, 0.6687) == "47.13% – 66.87%"
    assert fmt.mean_std(0.5121, 0.0052) == "51.21% ± 0.52"
    assert fmt.mean_std(0.5121, None) == "51.21%"  # one seed: no spread measured, never "± 0.00"
    assert fmt.accuracy(0.57, 0.0052, (0.55, 0.59)) == "57.00% ± 0.52 (55.00% – 59.00%)"
    assert fmt.accuracy(0.57, ci=[0.55, 0.59]) == "57.00% (55.00% – 59.00%)"


def test_seconds():
    assert [fmt.seconds(s) for s in (0.421, 12.34, 100, 245, 7380)] == [
        "0.42 s",
        "12.3 s",
        "1 min 40 s",
        "4 min 05 s",
        "2 h 03 min",
    ]


def test_the_board_words_follow_what_it_is_about():
    models, strategies = {"about": "trained models"}, {"about": "strategies"}
    assert fmt.words(models)["method"] == "method" and fmt.words(strategies)["method"] == "strategy"
    assert "strateg" not in " ".join(fmt.words(models).values()) + fmt.inseparable(models)
    assert fmt.inseparable(models) == "cannot be separated by this test set (which does not show they are equal)"
    assert fmt.inseparable({}) == (
        "cannot be separated by this test set and these seeds (which does not show they are equal)"
    )
