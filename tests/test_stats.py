"""Statistics against known answers, and the leaderboard rules that use them."""

import numpy as np
import pytest
from factories import noisy, scored
from scipy import stats as scipy_stats

from tuneoff.verdict import rules as leaderboard
from tuneoff.verdict import stats


def vectors_for(table):
    """Two correctness vectors whose 2x2 agreement table is `table` = [[both, a only], [b only, neither]]."""
    (both, a_only), (b_only, neither) = table
    a = [1] * both + [1] * a_only + [0] * b_only + [0] * neither
    b = [1] * both + [0] * a_only + [1] * b_only + [0] * neither
    return np.array(a, bool), np.array(b, bool)


@pytest.mark.parametrize("table", [[[50, 12], [3, 35]], [[400, 30], [30, 200]], [[10, 0], [7, 5]]])
def test_mcnemar_matches_statsmodels_and_the_binomial_test(table):
    from statsmodels.stats.contingency_tables import mcnemar

    a, b = vectors_for(table)
    p = stats.mcnemar_exact(a, b)
    assert p == pytest.approx(mcnemar(table, exact=True).pvalue)
    discordant = table[0][1] + table[1][0]
    assert p == pytest.approx(min(1.0, scipy_stats.binomtest(table[0][1], discordant, 0.5).pvalue))


def test_one_seed_ci_is_the_bootstrap_over_sentences():
    correct = (np.arange(1000) % 10 < 6)[None, :]  # 60 % right
    lo, hi = stats.hierarchical_ci(correct)
    half = 1.96 * np.sqrt(0.6 * 0.4 / 1000)  # the normal approximation it must agree with
    assert lo == pytest.approx(0.6 - half, abs=0.004) and hi == pytest.approx(0.6 + half, abs=0.004)
    ref = scipy_stats.bootstrap((correct[0].astype(float),), np.mean, n_resamples=2000, method="percentile",
                                random_state=1).confidence_interval
    assert lo == pytest.approx(ref.low, abs=0.005) and hi == pytest.approx(ref.high, abs=0.005)
    assert stats.hierarchical_ci(correct) == (lo, hi)  # same input, same numbers


def test_the_ci_covers_seed_to_seed_variation():
    rng = np.random.default_rng(3)
    seeds = np.array([rng.random(1000) < acc for acc in (0.40, 0.50, 0.60)])
    lo, hi = stats.hierarchical_ci(seeds)
    sentences_only = 2 * 1.96 * np.sqrt(0.25 / 3000)
    assert hi - lo > 4 * sentences_only  # a CI over sentences alone would be ~0.036 wide
    assert lo < 0.5 < hi


def test_paired_bootstrap_finds_a_real_difference_and_not_a_fake_one():
    rng = np.random.default_rng(5)
    a = rng.random(2000) < 0.55
    same = a.copy()
    flip = np.concatenate([rng.choice(np.flatnonzero(a), 20, replace=False), rng.choice(np.flatnonzero(~a), 21,
                                                                                        replace=False)])
    same[flip] = ~same[flip]  # 41 sentences change hands, 20 one way and 21 the other
    better = a | (rng.random(2000) < 0.2)
    assert stats.paired_bootstrap(a.astype(float), same.astype(float))[1] > 0.05
    ci, p = stats.paired_bootstrap(better.astype(float), a.astype(float))
    assert p < 0.01 and ci[0] > 0


def test_holm_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = [0.01, 0.04, 0.03, 0.5]
    assert stats.holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))
    assert stats.holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.5])


def test_equal_players_share_the_leaders_rank_and_a_real_gap_does_not():
    board = leaderboard.build([noisy("a", 0.50, rng_seed=1, train_seconds=300), noisy("b", 0.505, rng_seed=2,
                               train_seconds=300), noisy("c", 0.40, rng_seed=3, train_seconds=300)], bonus=0)
    rows = {r["player"]: r for r in board["ranked"]}
    leader = next(r for r in board["ranked"] if r["p_vs_leader"] is None)
    other = "a" if leader["player"] == "b" else "b"
    assert rows[other]["tied_with_leader"] and rows[other]["rank"] == 1 and rows[other]["p_vs_leader"] > 0.05
    assert not rows["c"]["tied_with_leader"] and rows["c"]["rank"] == 3 and rows["c"]["p_vs_leader"] < 0.001
    lo, hi = rows["c"]["diff_vs_leader_ci95"]
    assert lo < rows["c"]["diff_vs_leader"] < hi < 0
    assert rows["c"]["test_vs_leader"] == "McNemar exact"


def test_several_seeds_give_mean_std_ci_and_a_bootstrap_test():
    runs = [noisy("a", acc, rng_seed=s, seed=s) for s, acc in ((1, 0.50), (2, 0.52), (3, 0.54))]
    runs += [noisy("b", 0.40, rng_seed=10 + s, seed=s) for s in (1, 2, 3)]
    board = leaderboard.build(runs, bonus=0)
    a, b = board["ranked"]
    assert a["seeds"] == [1, 2, 3] and len(a["per_seed_test_accuracy"]) == 3
    assert a["test_accuracy"] == pytest.approx(np.mean(a["per_seed_test_accuracy"]))
    assert a["test_accuracy_std"] == pytest.approx(np.std(a["per_seed_test_accuracy"], ddof=1))
    assert a["test_accuracy_ci95"][0] < a["test_accuracy"] < a["test_accuracy_ci95"][1]
    assert b["test_vs_leader"] == "paired bootstrap over sentences" and b["p_vs_leader"] < 0.01
    (power,) = board["power"].values()
    pooled = np.sqrt((a["test_accuracy_std"] ** 2 + b["test_accuracy_std"] ** 2) / 2)
    assert power["seed_variance_measured"] and power["seed_std"] == pytest.approx(pooled)
    assert power["seeds"] == 3 and power["sentences"] == 2000
    assert power["detectable_difference"] == pytest.approx(
        100 * stats.detectable_difference(pooled, 3, power["sentence_variance"], 2000))


def _timed(name, seconds_per_seed, accuracy=0.5, base=0):
    return [noisy(name, accuracy, rng_seed=base + i, seed=i, train_seconds=t) for i, t in enumerate(seconds_per_seed)]


def test_the_speed_bonus_is_shared_within_the_measured_spread():
    one_seed = leaderboard.build([*_timed("a", [100]), *_timed("b", [104], base=10), *_timed("c", [200], base=20)])
    rows = {r["player"]: r for r in one_seed["ranked"]}
    assert rows["a"]["bonus"] == rows["b"]["bonus"] == 5.0 and rows["c"]["bonus"] == 0  # 4 % apart: shared
    assert any("shared by a, b" in n for n in one_seed["notes"])
    apart = {r["player"]: r for r in leaderboard.build([*_timed("a", [100]), *_timed("b", [106], base=10)])["ranked"]}
    assert apart["a"]["bonus"] == 10.0 and apart["b"]["bonus"] == 0  # 6 % apart: not shared
    # several seeds: the medians are compared, and the seeds' own spread decides
    noisy_seeds = {r["player"]: r for r in leaderboard.build([*_timed("a", [90, 100, 130]),
                                                                *_timed("b", [110, 120, 115], base=10)])["ranked"]}
    assert noisy_seeds["a"]["bonus"] == noisy_seeds["b"]["bonus"] == 5.0  # 100 vs 115, spread 40
    steady = {r["player"]: r for r in leaderboard.build([*_timed("a", [100, 101, 99]),
                                                          *_timed("b", [110, 111, 109], base=10)])["ranked"]}
    assert steady["a"]["bonus"] == 10.0 and steady["b"]["bonus"] == 0  # 100 vs 110, spread 2


def test_a_player_below_the_majority_rate_is_collapsed_and_gets_no_bonus():
    labels = np.arange(2000) % 5
    rng = np.random.default_rng(0)
    spread = np.where(rng.random(2000) < 0.15, labels, (labels + 1) % 5)  # 15 %, predictions spread evenly
    board = leaderboard.build([scored("below", labels, spread, train_seconds=10), noisy("ok", 0.45, train_seconds=100)])
    rows = {r["player"]: r for r in board["ranked"]}
    assert rows["below"]["collapsed"] and "below the majority-class rate" in rows["below"]["collapse_reason"]
    assert rows["below"]["bonus"] == 0 and rows["ok"]["bonus"] == 10


def test_detectable_difference_grows_with_seed_noise_and_shrinks_with_seeds():
    base = stats.detectable_difference(0.0, 1, 0.5, 2210)
    assert base == pytest.approx(2.8016 * np.sqrt(0.5 / 2210), rel=1e-3)
    assert stats.detectable_difference(0.01, 1, 0.5, 2210) > base
    assert stats.detectable_difference(0.01, 5, 0.5, 2210) < stats.detectable_difference(0.01, 1, 0.5, 2210)
