"""Does the verdict keep its promise? Simulated boards through the board's own test, many at once.

    nice -n 10 python benchmarks/calibration.py [--replicates 2000] [--power-replicates 1000] \\
        [--out benchmarks/RESULTS.md]

Each replicate draws a fresh test set of N sentences, each with its own difficulty (a probability of
being right, uniform on 0..1), and every run of every player (its seed) a run effect: a shift of that
probability, normal (or t with 3 df: heavy tails) with the given std in points. Options per cell: a
player x sentence effect (each player its own per-sentence shift, so pairs differ sentence by sentence
and the sentences' term of a pair is exercised), one player with 3x the run noise, run effects shared
by players on the same seed, players left with fewer seeds than planned. Every player is the *same*
strategy (true accuracy 50 %) unless player 0 is made better, so any "separable" pair is false.

The boards go through :mod:`tuneoff.verdict.family` and Holm's step-down, the code ``rules.build``
runs (tests/test_calibration.py checks a few boards against ``rules.build`` itself). Per cell:

- FWER: the share of boards with at least one false "separable" pair, with its exact (Clopper-Pearson)
  one-sided 95 % upper bound; the cell passes when that bound is at most 5 %. One-seed boards speak of
  trained models: they are judged against each trained model's own truth (a pair is wrong when its
  direction is), and their error against the strategy's truth is shown beside;
- coverage: the share of players' 95 % CIs that hold the truth, with its one-sided 95 % lower bound
  (boards x players trials); it passes at >= 93 %;
- for a player short of seeds: its CI width over the width it gets with all its seeds, same world;
- two alternatives the board does not use, measured on the same boards: Hsu's comparison with the best
  (MCB, Bonferroni over the P-1 one-sided comparisons) for "may be best", and seeds paired where players
  share them (the runs' term from per-seed differences, df S-1);
- power: player 0 better by 1, 2 or 3 points; the share of boards that separate it from every other
  player (Holm), where it alone may be best, and the same for MCB and for paired seeds.
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.stats import beta

from tuneoff.verdict import family, stats


@dataclass(frozen=True)
class Setting:
    seeds: tuple  # completed seeds per player
    run: float = 1.5  # run-to-run std, points
    planned: tuple | None = None  # seeds planned per player (None: as completed)
    tails: str = "normal"  # or "t3": heavy-tailed run effects with the same std
    player_sentence: float = 0.0  # std of each player's own per-sentence shift (probability)
    noisy: float = 1.0  # the last player's run std, times the others'
    shared: float = 0.0  # correlation of run effects between players on the same seed
    better: float = 0.0  # player 0's advantage, points

    def describe(self) -> str:
        counts = sorted(set(self.seeds))
        seeds = str(counts[0]) if len(counts) == 1 else "/".join(map(str, self.seeds))
        if self.planned:
            seeds += f" of {max(self.planned)}"
        extra = [
            x
            for x in (
                self.tails == "t3" and "t3 run effects",
                self.player_sentence and f"player x sentence {self.player_sentence:g}",
                self.noisy != 1 and f"last player {self.noisy:g}x run noise",
                self.shared and f"shared seeds, r = {self.shared:g}",
            )
            if x
        ]
        return f"| {len(self.seeds)} | {seeds} | {self.run:g} | {', '.join(extra) or '–'} "


def _run_effects(rng, s: Setting, boards: int) -> list[np.ndarray]:
    draw = (lambda size: rng.standard_t(3, size) / np.sqrt(3)) if s.tails == "t3" else rng.standard_normal
    common = draw((boards, max(s.seeds), 1))
    out = []
    for i, k in enumerate(s.seeds):
        own = draw((boards, k, 1))
        u = np.sqrt(s.shared) * common[:, :k] + np.sqrt(1 - s.shared) * own
        out.append(u * s.run / 100 * (s.noisy if i == len(s.seeds) - 1 else 1.0))
    return out


def trained_truth(u: np.ndarray) -> np.ndarray:
    """The true accuracy of a trained model whose run effect is u (difficulty uniform, clipped to 0..1)."""
    u = np.clip(u, -1, 1)
    return np.where(u >= 0, 1 - (1 - u) ** 2 / 2, (1 + u) ** 2 / 2)


def world(rng, s: Setting, boards: int, sentences: int):
    """Per player its (boards, all planned seeds, sentences) correctness, and each seed's run effect."""
    p = rng.random((boards, 1, sentences))
    full, effects = [], _run_effects(rng, replace(s, seeds=s.planned or s.seeds), boards)
    for i, u in enumerate(effects):
        own = rng.normal(0, s.player_sentence, (boards, 1, sentences)) if s.player_sentence else 0.0
        shift = s.better / 100 if i == 0 else 0.0
        full.append(rng.random(u.shape[:2] + (sentences,)) < np.clip(p + own + shift + u, 0, 1))
    return full, effects


def paired(summary: family.Summary, pairs) -> stats.Estimate:
    """The alternative with seeds paired: the runs' term from per-seed differences (same seed counts)."""
    unpaired = family.differences(summary, pairs)
    runs, df = [], []
    for i, j in pairs:
        d = summary.per_seed[i] - summary.per_seed[j]
        runs.append(d.var(axis=1, ddof=1) / d.shape[1])
        df.append(np.full(d.shape[0], d.shape[1] - 1.0))
    return replace(unpaired, runs_var=np.stack(runs, 1), runs_df=np.stack(df, 1))


def mcb_best(summary: family.Summary) -> np.ndarray:
    """(boards, players) True where MCB keeps the player among those that may be best: no other player is
    ahead of it by the one-sided test at ALPHA / (P - 1)."""
    players = len(summary.seeds)
    pairs = [(j, i) for i in range(players) for j in range(players) if i != j]
    ahead = family.differences(summary, pairs)
    beaten = (np.asarray(ahead.mean) > 0) & (ahead.ratio() >= ahead.upper(stats.ALPHA / (players - 1)))
    return ~beaten.reshape(beaten.shape[0], players, players - 1).any(axis=2)


def upper_bound(k: int, n: int) -> float:
    """Exact one-sided 95 % upper confidence bound of a rate k/n (Clopper-Pearson)."""
    return 1.0 if k >= n else float(beta.ppf(0.95, k + 1, n - k))


def lower_bound(k: int, n: int) -> float:
    return 0.0 if k <= 0 else float(beta.ppf(0.05, k, n - k + 1))


@dataclass
class Tally:
    boards: int = 0
    false: int = 0  # boards with a false verdict (against the strategies' truth, or the trained models')
    false_strategy: int = 0  # one-seed boards: against the strategies' truth
    covered: int = 0
    intervals: int = 0
    mcb_false: int = 0
    paired_false: int = 0
    ratios: list = None


def _null_chunk(rng, s: Setting, boards: int, sentences: int, tally: Tally) -> None:
    full, effects = world(rng, s, boards, sentences)
    done = [m[:, :k] for m, k in zip(full, s.seeds)]
    summary = family.summarise(done, s.planned)
    players = len(s.seeds)
    pairs = [(i, j) for i in range(players) for j in range(i + 1, players)]
    tests = family.differences(summary, pairs)
    rejected = stats.holm_rejects(tests)
    lo, hi = family.accuracies(summary).ci()
    if max(s.seeds) == 1:  # trained models: each one's own truth
        truth = np.concatenate([trained_truth(u[:, 0, 0])[:, None] for u in effects], axis=1)
        i, j = np.array(pairs).T
        wrong = np.sign(np.asarray(tests.mean)) != np.sign(truth[:, i] - truth[:, j])
        tally.false += int((rejected & wrong).any(axis=1).sum())
        tally.false_strategy += int(rejected.any(axis=1).sum())
    else:
        truth = np.full((boards, players), 0.5)
        tally.false += int(rejected.any(axis=1).sum())
        tally.mcb_false += int((~mcb_best(summary)).any(axis=1).sum())
        if len(set(s.seeds)) == 1 and s.seeds[0] > 1:
            tally.paired_false += int(stats.holm_rejects(paired(summary, pairs)).any(axis=1).sum())
    tally.covered += int(((lo <= truth) & (truth <= hi)).sum())
    tally.intervals += lo.size
    if s.planned and s.planned[-1] > s.seeds[-1]:  # the last player is the one short of seeds
        whole = family.accuracies(family.summarise(full)).ci()
        tally.ratios.append((hi[:, -1] - lo[:, -1]) / (whole[1][:, -1] - whole[0][:, -1]))
    tally.boards += boards


def null_cell(s: Setting, replicates: int, sentences: int, chunk: int = 100) -> dict:
    rng = np.random.default_rng(zlib.crc32(repr(s).encode()))
    tally = Tally(ratios=[])
    for start in range(0, replicates, chunk):
        _null_chunk(rng, s, min(chunk, replicates - start), sentences, tally)
    n = tally.boards
    out = {
        "setting": s,
        "fwer": tally.false / n,
        "fwer_upper": upper_bound(tally.false, n),
        "coverage": tally.covered / tally.intervals,
        "coverage_lower": lower_bound(tally.covered, tally.intervals),
        "strategy_fwer": tally.false_strategy / n if max(s.seeds) == 1 else None,
        "mcb_false": tally.mcb_false / n if max(s.seeds) > 1 else None,
        "paired_fwer": tally.paired_false / n if len(set(s.seeds)) == 1 and s.seeds[0] > 1 else None,
        "replicates": n,
    }
    if tally.ratios:
        r = np.concatenate(tally.ratios)
        out["width_ratio"] = (float(np.median(r)), float(np.quantile(r, 0.05)), float(np.mean(r < 1)))
    out["passes"] = out["fwer_upper"] <= stats.ALPHA and out["coverage_lower"] >= 0.93
    return out


def power_cell(s: Setting, replicates: int, sentences: int, chunk: int = 100) -> dict:
    rng = np.random.default_rng(zlib.crc32(repr(s).encode()))
    players = len(s.seeds)
    pairs = [(i, j) for i in range(players) for j in range(i + 1, players)]
    first = [k for k, (i, _) in enumerate(pairs) if i == 0]
    hits = np.zeros(3)
    for start in range(0, replicates, chunk):
        full, _ = world(rng, s, min(chunk, replicates - start), sentences)
        summary = family.summarise(full)
        holm = stats.holm_rejects(family.differences(summary, pairs))[:, first].all(axis=1)
        mcb = mcb_best(summary)
        hits += [
            holm.sum(),
            (mcb[:, 0] & ~mcb[:, 1:].any(axis=1)).sum(),
            stats.holm_rejects(paired(summary, pairs))[:, first].all(axis=1).sum(),
        ]
    separated, mcb_alone, paired_separated = hits / replicates
    return {
        "setting": s,
        "separated": separated,
        "mcb_alone": mcb_alone,
        "paired": paired_separated,
        "replicates": replicates,
    }


NULL = [Setting((k,) * p, run) for p in (4, 10, 18) for k in (3, 5) for run in (0.0, 1.5, 3.0)]
NULL += [Setting((1,) * p, run) for p in (4, 13) for run in (0.0, 1.5)]
NULL += [Setting((2,) * p, run) for p in (4, 13) for run in (1.5, 3.0)]
NULL += [Setting((3, 3, 3, 1), run, planned=(3,) * 4) for run in (0.0, 1.5, 3.0)]
NULL += [
    Setting((3, 3, 3, 2), 1.5, planned=(3,) * 4),
    Setting((3,) * 10 + (1,) * 3, 1.5, planned=(3,) * 13),
    Setting((5, 3, 2, 1), 1.5, planned=(5,) * 4),
    Setting((3, 3, 3, 1), 1.5, planned=(3,) * 4, noisy=3.0),
]
NULL += [Setting((3,) * p, 1.5, player_sentence=e) for p in (4, 13) for e in (0.1, 0.2)]
NULL += [Setting((k,) * p, run, tails="t3") for p, k in ((4, 3), (13, 3), (4, 5)) for run in (1.5, 3.0)]
NULL += [Setting((3,) * 4, 1.5, noisy=3.0), Setting((3,) * 4, 1.5, shared=0.7), Setting((5,) * 4, 1.5, shared=0.7)]
POWER = [
    Setting((k,) * p, run, better=d)
    for p, k in ((4, 3), (4, 5), (4, 10), (13, 3))
    for run in (0.0, 1.5)
    for d in (1.0, 2.0, 3.0)
]
POWER += [Setting((5,) * 4, 1.5, shared=0.7, better=d) for d in (1.0, 2.0)]


def _pct(x) -> str:
    return "–" if x is None else f"{x:.1%}"


def null_table(cells: list[dict]) -> list[str]:
    lines = [
        "| players | seeds | run std, points | also | FWER [95 % upper] | coverage [95 % lower] | "
        "one seed: FWER against the strategies | MCB: drops a tied best | paired seeds: FWER | "
        "short player's CI width / with all seeds: median, 5 %, share narrower | passes |",
        "|---:|---|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for c in cells:
        ratio = c.get("width_ratio")
        lines.append(
            c["setting"].describe() + f"| {c['fwer']:.1%} [{c['fwer_upper']:.1%}] | {c['coverage']:.1%} "
            f"[{c['coverage_lower']:.1%}] | {_pct(c['strategy_fwer'])} | {_pct(c['mcb_false'])} | "
            f"{_pct(c['paired_fwer'])} | "
            + (f"{ratio[0]:.2f}, {ratio[1]:.2f}, {ratio[2]:.1%}" if ratio else "–")
            + f" | {'yes' if c['passes'] else '**no**'} |"
        )
    return lines


def power_table(cells: list[dict]) -> list[str]:
    lines = [
        "| players | seeds | run std, points | also | player 0 better by, points | Holm: separated from all "
        "(the board) | MCB: alone may be best | paired seeds: separated from all |",
        "|---:|---|---:|---|---:|---:|---:|---:|",
    ]
    lines += [
        c["setting"].describe() + f"| {c['setting'].better:g} | {c['separated']:.0%} | {c['mcb_alone']:.0%} | "
        f"{c['paired']:.0%} |"
        for c in cells
    ]
    return lines


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    from results_file import append_section, command

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicates", type=int, default=2000)
    ap.add_argument("--power-replicates", type=int, default=1000)
    ap.add_argument("--sentences", type=int, default=2210)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"))
    args = ap.parse_args(argv)
    started = time.perf_counter()
    nulls = [null_cell(s, args.replicates, args.sentences) for s in NULL]
    for line in null_table(nulls)[2:]:
        print(line, flush=True)
    powers = [power_cell(s, args.power_replicates, args.sentences) for s in POWER]
    lines = [
        f"## Calibration of the verdict ({args.replicates} replicates per cell, {args.power_replicates} for "
        f"power, {args.sentences} test sentences)",
        "",
        f"`{command('calibration.py', argv)}`",
        "",
        *null_table(nulls),
        "",
        *power_table(powers),
        "",
        f"All cells pass: **{'yes' if all(c['passes'] for c in nulls) else 'no'}**. "
        f"({time.perf_counter() - started:.0f} s.)",
        "",
    ]
    append_section(args.out, lines)
    return 0 if all(c["passes"] for c in nulls) else 1


if __name__ == "__main__":
    sys.exit(main())
