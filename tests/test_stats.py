"""Statistics against known answers, and the leaderboard rules that use them."""

import numpy as np
import pytest
from factories import noisy, scored
from scipy import stats as scipy_stats

from tuneoff.verdict import rules as leaderboard
from tuneoff.verdict import stats


def test_one_seed_is_the_t_interval_over_sentences():
    correct = (np.arange(1000) % 10 < 6)[None, :]  # 60 % right
    e = stats.accuracy(correct)
    assert not e.seeds_measured and e.runs_var == 0
    half = scipy_stats.t.ppf(0.975, 999) * np.sqrt(0.6 * 0.4 * 1000 / 999 / 1000)  # the sample variance over N
    lo, hi = e.ci()
    assert lo == pytest.approx(0.6 - half) and hi == pytest.approx(0.6 + half)
    assert stats.accuracy(correct).ci() == (lo, hi)  # same input, same numbers


def test_with_one_run_part_only_the_reference_is_students_t_over_seeds():
    e = stats.Estimate(0.5, runs_var=0.0004, runs_df=2, sentences_var=0.0, sentences_df=2209)
    assert e.ci()[1] == pytest.approx(0.5 + scipy_stats.t.ppf(0.975, 2) * 0.02)
    assert e.p() == pytest.approx(2 * scipy_stats.t.sf(0.5 / 0.02, 2), rel=1e-6)


def test_seed_to_seed_variation_widens_the_interval():
    rng = np.random.default_rng(3)
    seeds = np.array([rng.random(1000) < acc for acc in (0.40, 0.50, 0.60)])
    e = stats.accuracy(seeds)
    per_seed = seeds.mean(axis=1)
    assert e.runs_var == pytest.approx(per_seed.var(ddof=1) / 3)
    lo, hi = e.ci()
    assert hi - lo > 10 * 2 * 1.96 * np.sqrt(0.25 / 3000)  # sentences alone would give ~0.036
    assert lo < 0.5 < hi


def test_the_sentence_part_does_not_count_each_runs_coin_flips_twice():
    """Identical strategies on the same sentences: the per-sentence spread is all coin flips, already in the runs'
    term, so the sentences' term of the difference is (close to) zero."""
    rng = np.random.default_rng(4)
    p = rng.random(5000)
    a, b = (np.array([rng.random(5000) < p for _ in range(5)]) for _ in range(2))
    d = stats.difference(a, b)
    assert d.sentences_var < 0.1 * d.runs_var


def test_a_paired_difference_is_found_and_a_fake_one_is_not():
    rng = np.random.default_rng(5)
    p = rng.random(2000)
    a = np.array([rng.random(2000) < p for _ in range(3)])
    same = np.array([rng.random(2000) < p for _ in range(3)])
    better = np.array([rng.random(2000) < np.minimum(1, p + 0.08) for _ in range(3)])
    assert stats.difference(a, same).p() > 0.05
    found = stats.difference(better, a)
    assert found.p() < 0.01 and found.ci()[0] > 0  # 3 seeds: the runs' term has few degrees of freedom
    assert found.mean == pytest.approx(better.mean() - a.mean())


def test_the_p_value_is_where_the_interval_reaches_zero():
    e = stats.Estimate(0.02, runs_var=1e-4, runs_df=4, sentences_var=2e-5, sentences_df=2000)
    p = e.p()
    assert e.ci(1 - p)[0] == pytest.approx(0.0, abs=1e-9)
    assert 0.05 < p < 0.2 and stats.Estimate(0.2, 1e-5, 4, 1e-6, 2000).p() < 1e-4


def test_equivalence_needs_the_whole_90_percent_interval_inside_the_margin():
    e = stats.Estimate(0.001, runs_var=0.0, runs_df=0, sentences_var=1e-6, sentences_df=1e6)
    half = 1.645 * 1e-3
    assert stats.equivalent(e, 0.001 + half + 1e-4) and not stats.equivalent(e, 0.001 + half - 1e-4)


def test_holm_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = [0.01, 0.04, 0.03, 0.5]
    assert stats.holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]))
    assert stats.holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.5])


def test_above_chance_is_the_one_sided_binomial_test():
    assert stats.above_chance(650, 2000, 0.3) == pytest.approx(
        scipy_stats.binomtest(650, 2000, 0.3, alternative="greater").pvalue)


def test_several_seeds_give_mean_std_and_the_verdict():
    runs = [noisy("a", acc, rng_seed=s, seed=s) for s, acc in ((1, 0.50), (2, 0.52), (3, 0.54))]
    runs += [noisy("b", 0.40, rng_seed=10 + s, seed=s) for s in (1, 2, 3)]
    board = leaderboard.build(runs, bonus=0)
    a, b = board["ranked"]
    assert a["seeds"] == [1, 2, 3] and len(a["per_seed_test_accuracy"]) == 3
    assert a["test_accuracy"] == pytest.approx(np.mean(a["per_seed_test_accuracy"]))
    assert a["test_accuracy_std"] == pytest.approx(np.std(a["per_seed_test_accuracy"], ddof=1))
    assert a["test_accuracy_ci95"][0] < a["test_accuracy"] < a["test_accuracy_ci95"][1]
    (pair,) = board["pairwise"]
    assert pair["test"] == "t test over seeds and sentences" and pair["separable"] and b["p_vs_best"] < 0.01
    assert board["may_be_best"] == ["a"] and b["rank_interval"] == [2, 2]
    power = board["power"]
    pooled = (a["test_accuracy_std"] ** 2 + b["test_accuracy_std"] ** 2) / 2
    assert power["seed_variance_measured"] and power["seed_std"] == pytest.approx(np.sqrt(pooled))
    assert power["seeds"] == 3 and power["sentences"] == 2000 and power["comparisons"] == 1
    accuracy = (a["test_accuracy"] + b["test_accuracy"]) / 2
    assert power["detectable_difference"] == pytest.approx(100 * stats.detectable_difference(
        pooled, 3, power["sentence_variance"], 2000, accuracy, 1, 4.0))


def test_one_seed_each_says_the_runs_were_not_measured():
    board = leaderboard.build([noisy("a", 0.5, rng_seed=1), noisy("b", 0.4, rng_seed=2)], bonus=0)
    (pair,) = board["pairwise"]
    assert "one seed" in pair["test"] and not board["power"]["seed_variance_measured"]


def _timed(name, seconds_per_seed, accuracy=0.5, base=0):
    return [noisy(name, accuracy, rng_seed=base + i, seed=i, train_seconds=t) for i, t in enumerate(seconds_per_seed)]


def test_the_speed_bonus_is_shared_only_when_shown_within_five_percent():
    one_seed = leaderboard.build([*_timed("a", [100]), *_timed("b", [104], base=10), *_timed("c", [200], base=20)])
    rows = {r["player"]: r for r in one_seed["ranked"]}
    assert rows["a"]["bonus"] == rows["b"]["bonus"] == 5.0 and rows["c"]["bonus"] == 0  # 4 % apart: shared
    assert any("shared by a, b" in n or "shared by b, a" in n for n in one_seed["notes"])
    apart = {r["player"]: r for r in leaderboard.build([*_timed("a", [100]), *_timed("b", [106], base=10)])["ranked"]}
    assert apart["a"]["bonus"] == 10.0 and apart["b"]["bonus"] == 0  # 6 % apart: not shared
    noisy_seeds = {r["player"]: r for r in leaderboard.build([*_timed("a", [90, 100, 130]),
                                                                *_timed("b", [101, 102, 100], base=10)])["ranked"]}
    assert noisy_seeds["a"]["bonus"] == 10.0 and noisy_seeds["b"]["bonus"] == 0  # b cannot show it is within 5 % of a
    steady = {r["player"]: r for r in leaderboard.build([*_timed("a", [100, 101, 99]),
                                                          *_timed("b", [102, 103, 101], base=10)])["ranked"]}
    assert steady["a"]["bonus"] == steady["b"]["bonus"] == 5.0  # 2 % slower, and shown to be within 5 %


def test_a_player_below_the_majority_rate_is_collapsed_and_gets_no_bonus():
    labels = np.arange(2000) % 5
    rng = np.random.default_rng(0)
    spread = np.where(rng.random(2000) < 0.15, labels, (labels + 1) % 5)  # 15 %, predictions spread evenly
    board = leaderboard.build([scored("below", labels, spread, train_seconds=10), noisy("ok", 0.45, train_seconds=100)])
    rows = {r["player"]: r for r in board["ranked"]}
    assert rows["below"]["collapsed"] and "below the majority-class rate" in rows["below"]["collapse_reason"]
    assert rows["below"]["bonus"] == 0 and rows["ok"]["bonus"] == 10


def test_detectable_difference_grows_with_noise_and_comparisons_and_shrinks_with_seeds():
    base = stats.detectable_difference(0.0, 1, 0.5, 2210, 0.5, 1, 2209)
    z = scipy_stats.t.ppf(0.975, 2209) + scipy_stats.t.ppf(0.8, 2209)
    assert base == pytest.approx(z * np.sqrt(0.5 / 2210), rel=1e-6)
    assert stats.detectable_difference(1e-4, 3, 0.5, 2210, 0.5, 1, 4) > base
    assert stats.detectable_difference(1e-4, 5, 0.5, 2210, 0.5, 1, 8) < stats.detectable_difference(1e-4, 3, 0.5, 2210,
                                                                                                      0.5, 1, 4)
    assert stats.detectable_difference(0.0, 1, 0.5, 2210, 0.5, 171, 2209) > base  # Holm's strictest level
    floor = stats.detectable_difference(0.0, 1, 0.0, 2210, 0.5, 1, 2209)
    assert floor == pytest.approx(z * np.sqrt(0.25 / 2210), rel=1e-6)  # never below p(1-p)/n
