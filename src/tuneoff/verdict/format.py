"""How every output writes the verdict: p-values, differences with their CIs, accuracies with their CIs, times, and
the board's words. The one owner: the terminal board, leaderboard.md, the report, the model card, compare,
benchmarks/ and the docs' results pages call it, and tests/test_structure.py fails when a p-value is formatted
anywhere else. Accuracies are fractions (0.5121 is written 51.21%); differences are in points of accuracy.
No torch, no numpy.

    p_value(0.0123) == "0.0123"; p_value(7.1e-05) == "7.1e-5"; p_value(0.0) == "< 1e-15"
    p_is(0.0123) == "p = 0.0123"; p_is(0.0, "Holm p") == "Holm p < 1e-15"
    difference(1.234, [-0.45, 2.91]) == "+1.23 [-0.45, +2.91]"
    difference(1.234, [-0.45, 2.91], p=0.03) == "+1.23 [-0.45, +2.91], p = 0.03"
    accuracy_ci(0.4713, 0.6687) == "47.13% – 66.87%"
    accuracy(0.57, 0.0052, (0.55, 0.59)) == "57.00% ± 0.52 (55.00% – 59.00%)"
"""

from __future__ import annotations

from collections.abc import Sequence

P_FLOOR = 1e-15  # a p-value below this has underflowed (a t test's tail in float64): it is shown as this bound


def p_value(p: float, digits: int = 3, below: bool = False) -> str:
    """A p-value as text: ``digits`` significant digits, an exponent without its padding zero ("7.1e-5"), and one
    that underflowed as the bound it is, "< 1e-15" (never "0"). ``below``: the number is itself a bound (a
    published "p < 0.001")."""
    if p < P_FLOOR:
        return f"< {P_FLOOR:g}"
    text = f"{p:.{digits}g}".replace("e-0", "e-")
    return f"< {text}" if below else text


def p_is(p: float, name: str = "p", digits: int = 3, below: bool = False) -> str:
    """A p-value named, with its relation: "p = 0.0123", "Holm p < 1e-15"."""
    value = p_value(p, digits, below)
    return f"{name} {value}" if value.startswith("<") else f"{name} = {value}"


def difference(
    diff: float, ci: Sequence[float] | None, p: float | None = None, name: str = "p", below: bool = False
) -> str:
    """A difference in points with its 95 % CI, and its p-value when given: "+1.23 [-0.45, +2.91], p = 0.03"."""
    text = f"{diff:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")
    return text if p is None else f"{text}, {p_is(p, name, below=below)}"


def percent(x: float) -> str:
    """An accuracy (a fraction) in percent: "51.21%"."""
    return f"{x:.2%}"


def accuracy_ci(lo: float, hi: float) -> str:
    """The 95 % CI of an accuracy: "47.13% – 66.87%"."""
    return f"{lo:.2%} – {hi:.2%}"


def mean_std(mean: float, std: float | None) -> str:
    """An accuracy over seeds: "51.21% ± 0.52" (std in points); with no std (one seed: its spread is not
    measured), the bare accuracy, never "± 0.00"."""
    return percent(mean) + ("" if std is None else f" ± {100 * std:.2f}")


def accuracy(mean: float, std: float | None = None, ci: Sequence[float] | None = None) -> str:
    """An accuracy with its spread and its 95 % CI in one cell: "57.00% ± 0.52 (55.00% – 59.00%)"."""
    return mean_std(mean, std) + (f" ({accuracy_ci(*ci)})" if ci else "")


def seconds(s: float) -> str:
    """A duration: "0.42 s", "12.3 s", "4 min 05 s", "2 h 03 min"."""
    if s < 60:
        return f"{s:.2f} s" if s < 1 else f"{s:.1f} s"
    m, sec = divmod(round(s), 60)
    return f"{m} min {sec:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


# --- the board's words --------------------------------------------------------------------------------------


def trained_models(board: dict) -> bool:
    """Is the board (or a comparison, or a power estimate) about the trained models it has (some player has one
    seed), not strategies?"""
    return board.get("about") == "trained models"


def words(board: dict) -> dict[str, str]:
    """The board's own words, for every output: a board about trained models never says "strategy" nor claims
    run-to-run noise; one over seeds speaks of strategies."""
    if trained_models(board):
        return {
            "method": "method",
            "question": "Which trained model is better, and how sure we are",
            "title": "which trained model is better",
            "noise": "which sentences happen to be in the test set (some player has a single seed: the verdict "
            "is about the models trained here, not about what another seed would give)",
            "best": "the best trained model",
            "who": "trained model",
            "over": "sentences",
            "by": "this test set",
        }
    return {
        "method": "strategy",
        "question": "Which strategy is better, and how sure we are",
        "title": "which strategy is better",
        "noise": "both run-to-run noise (the seeds) and which sentences happen to be in the test set",
        "best": "the best strategy",
        "who": "player",
        "over": "seeds and sentences",
        "by": "this test set and these seeds",
    }


def inseparable(board: dict) -> str:
    """What a pair (or a set) the test cannot tell apart is, and is not."""
    return f"cannot be separated by {words(board)['by']} (which does not show they are equal)"
