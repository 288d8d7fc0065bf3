"""Statistics against known answers, and the leaderboard rules that use them."""

import numpy as np
import pytest
from factories import noisy, scored
from scipy import stats as scipy_stats

from tuneoff.verdict import family, power, stats
from tuneoff.verdict import rules as leaderboard


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
        scipy_stats.binomtest(650, 2000, 0.3, alternative="greater").pvalue
    )


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
    assert power["seed_variance_measured"] and power["seeds"] == [3, 3] and power["comparisons"] == 1
    assert power["sentences"] == 2000 and power["range"][0] <= power["detectable_difference"] <= power["range"][1]
    assert board["about"] == "strategies"


def test_one_seed_each_says_the_runs_were_not_measured():
    board = leaderboard.build([noisy("a", 0.5, rng_seed=1), noisy("b", 0.4, rng_seed=2)], bonus=0)
    (pair,) = board["pairwise"]
    assert "one seed" in pair["test"] and not board["power"]["seed_variance_measured"]


def test_a_player_below_the_majority_rate_is_collapsed_and_gets_no_bonus():
    labels = np.arange(2000) % 5
    rng = np.random.default_rng(0)
    spread = np.where(rng.random(2000) < 0.15, labels, (labels + 1) % 5)  # 15 %, predictions spread evenly
    board = leaderboard.build([scored("below", labels, spread, train_seconds=10), noisy("ok", 0.45, train_seconds=100)])
    rows = {r["player"]: r for r in board["ranked"]}
    assert rows["below"]["collapsed"] and "below the majority-class rate" in rows["below"]["collapse_reason"]
    assert rows["below"]["bonus"] == 0 and rows["ok"]["bonus"] == 10


def test_holm_without_p_values_rejects_what_the_adjusted_p_values_reject():
    rng = np.random.default_rng(7)
    p = rng.random(400)
    matrices = [
        np.array([rng.random(400) < np.clip(p + shift + rng.normal(0, 0.02), 0, 1) for _ in range(3)])
        for shift in (0.0, 0.0, 0.04, 0.08, 0.1)
    ]
    summary = family.summarise(matrices)
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    tests = family.differences(summary, pairs)
    by_p = np.array(stats.holm(np.asarray(tests.p())[0])) < stats.ALPHA
    assert by_p.any() and not by_p.all()  # the board tells some pairs apart, not all
    assert (stats.holm_rejects(tests)[0] == by_p).all()


def test_the_family_gives_each_players_own_estimate_when_nothing_is_borrowed():
    rng = np.random.default_rng(1)
    p = rng.random(500)
    matrices = [
        np.array([rng.random(500) < np.clip(p + rng.normal(0, 0.03), 0, 1) for _ in range(k)]) for k in (3, 4, 2)
    ]
    summary = family.summarise(matrices)
    for own, shared in zip((stats.accuracy(m) for m in matrices), family.take(family.accuracies(summary))):
        assert (own.mean, own.runs_var, own.runs_df, own.sentences_var) == pytest.approx(
            (shared.mean, shared.runs_var, shared.runs_df, shared.sentences_var)
        )
    pairs = [(0, 1), (0, 2), (1, 2)]
    for (i, j), shared in zip(pairs, family.take(family.differences(summary, pairs))):
        own = stats.difference(matrices[i], matrices[j])
        assert (own.mean, own.runs_var, own.runs_df, own.sentences_var) == pytest.approx(
            (shared.mean, shared.runs_var, shared.runs_df, shared.sentences_var)
        )
        assert own.p() == pytest.approx(
            stats.Estimate(
                *[getattr(own, f) for f in ("mean", "runs_var", "runs_df", "sentences_var", "sentences_df")]
            ).p()
        )


def test_a_player_with_one_seed_borrows_the_pooled_spread_and_is_never_more_precise_than_with_all_its_seeds():
    rng = np.random.default_rng(2)
    p = rng.random(2000)
    seeds = [np.array([rng.random(2000) < np.clip(p + rng.normal(0, 0.015), 0, 1) for _ in range(3)]) for _ in range(4)]
    short = seeds[:3] + [seeds[3][:1]]
    summary = family.summarise(short, planned=[3, 3, 3, 3], pooled=[True, True, False, True])  # player 2 collapsed
    own = [m.mean(axis=1).var(ddof=1) for m in seeds[:2]]
    assert summary.borrowed.tolist() == [False, False, False, True] and summary.pool_df == 4  # 2 + 2 df, not 2's
    assert summary.seed_var[0, 3] == pytest.approx(np.mean(own))
    assert summary.seed_df[0, 3] == 2  # the pool has 4 df, but 1 of 3 seeds never counts more than 3 would
    (alone,) = family.take(family.accuracies(summary))[3:]
    assert alone.runs_var == pytest.approx(np.mean(own))
    lo, hi = alone.ci()
    # the same player with all 3 seeds at the same spread: a narrower interval
    full = stats.Estimate(alone.mean, alone.runs_var / 3, 2.0, alone.sentences_var, alone.sentences_df)
    assert hi - lo > full.ci()[1] - full.ci()[0]
    old = stats.accuracy(short[3])  # what the board gave before: sentences only, far too narrow
    assert hi - lo > 2 * (old.ci()[1] - old.ci()[0])
    assert family.summarise([seeds[0][:1], seeds[1][:1]]).borrowed.tolist() == [False, False]  # nothing to borrow


def test_with_two_seeds_a_pair_whose_spread_is_small_by_chance_keeps_the_runs_reference():
    """The reference is weighted by the larger of the pair's runs share and the pool's: a pair whose two seeds
    happen to agree keeps t with its few df (else a 2-seed board separates identical players far too often)."""
    lucky = stats.Estimate(0.01, runs_var=1e-8, runs_df=1.5, sentences_var=1e-5, sentences_df=2209)
    assert lucky.upper(0.025) == pytest.approx(scipy_stats.norm.ppf(0.975), rel=0.01)  # its own share: ~normal
    pooled = stats.Estimate(0.01, 1e-8, 1.5, 1e-5, 2209, share=0.9)
    assert pooled.upper(0.025) > 0.85 * scipy_stats.t.ppf(0.975, 1.5)


def test_the_detectable_difference_is_simulated_through_the_boards_own_test():
    rng = np.random.default_rng(3)

    def board(players, seeds, run, sentences=2210):
        p = rng.random(sentences)
        return family.summarise(
            [
                np.array([rng.random(sentences) < np.clip(p + rng.normal(0, run), 0, 1) for _ in range(seeds)])
                for _ in range(players)
            ]
        )

    def median(figures: dict) -> float:
        return float(np.median(list(figures.values())))

    base = median(power.detectable(board(4, 3, 0.015), range(4), 6))
    assert median(power.detectable(board(4, 3, 0.015), range(4), 6)) == pytest.approx(base, rel=0.5)
    assert median(power.detectable(board(4, 10, 0.015), range(4), 6)) < base / 2  # more seeds: far smaller
    assert median(power.detectable(board(4, 3, 0.03), range(4), 6)) > base  # noisier runs: larger
    noisy_board = board(4, 3, 0.015)
    assert median(power.detectable(noisy_board, range(4), 78)) > median(power.detectable(noisy_board, range(4), 6))
    same = board(4, 3, 0.015)
    assert power.detectable(same, range(4), 6) == power.detectable(same, range(4), 6)  # a fixed seed
    assert list(power.detectable(board(20, 2, 0.015), range(20), 190)) == power.sampled(20)  # 12 of 20, spread
    assert power.sampled(20)[0] == 0 and power.sampled(20)[-1] == 19 and len(power.sampled(20)) == 12
    one = board(4, 1, 0.0)  # one seed each: the sentences alone, a t test over 2209 df at Holm's levels
    d = median(power.detectable(one, range(4), 6))
    se = 100 * np.sqrt(np.median(np.asarray(family.differences(one, [(0, 1), (0, 2), (1, 2)]).sentences_var)))
    assert d == pytest.approx(se * (scipy_stats.norm.ppf(1 - 0.05 / 12) + scipy_stats.norm.ppf(0.8)), rel=0.15)
