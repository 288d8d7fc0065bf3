"""The game's speed bonus: one per board, decided by a time that passing contention does not move, and
shared by every player not significantly slower than the fastest. Apart from the accuracy verdict.

**The time.** A job records its training time per window of steps between the loop's loss reads
(``history.window_seconds``: [steps, samples, seconds]; those reads wait for the device, so a window
holds its own work). Its *steady time per sample* is the lower quartile over windows of seconds per
sample: another process that shares the cores for part of a run slows the windows it overlaps, and the
lower quartile moves only once it covers three quarters of the run. ``speed_metric`` picks what is
compared: ``samples_per_second``, the steady time per sample; ``train_seconds``, the steady time per
sample times the samples the job trained (a player that trains on more sentences takes longer).

**The test.** On log times. The fastest is the player with the smallest mean log time over its seeds.
Every other player shares the bonus unless it is shown to be more than ``SPEED_TIE`` (5 %) slower than
the fastest: a one-sided Welch t test at ``SPEED_ALPHA`` on the gap beyond 5 %. A player with one seed
takes the seed-to-seed spread pooled over the players with several; with no spread at all (one seed
each), only a gap beyond ``ONE_SEED_TIE`` (15 %: about two standard deviations of the difference of two
jobs' times that vary by 5 %) counts. So noise does not decide the bonus: equal times share, times that
wobble cannot be shown slower and share, and only a clear gap wins it alone. The bonus is split equally.
benchmarks/speed_bonus.py measures it.

**Hardware.** One bonus per board, among the players timed on one device (chip and device type): the
device on which the most players ran a seed (then the most seeds, then the name). Seeds a player ran
elsewhere are left out of its time, so a player whose seeds ran on two chips is timed on the board's one;
a player with no seed there gets no share, and a note says so. No torch here.
"""

from __future__ import annotations

import numpy as np

from tuneoff.verdict import stats

SPEED_ALPHA = 0.025  # one-sided: two equally fast players share in about 95 % of boards
SPEED_TIE = 0.05  # a gap the bonus ignores: only a player shown more than 5 % slower loses its share
ONE_SEED_TIE = 0.15  # with no spread to test (one seed each): about two jitters of 5 % between two jobs' times
QUANTILE = 0.25  # of windows' seconds per sample: a job's steady time

RULE = (
    "one bonus per board, among the non-collapsed players timed on the board's device (the one most players "
    "ran on; seeds elsewhere are left out); a job's time is its steady training time per sample (the lower "
    "quartile over windows of steps: contention for part of a run does not move it), times the samples it "
    "trained with speed_metric train_seconds; the player with the smallest mean log time is the fastest, and "
    f"every player not shown to be more than {SPEED_TIE:.0%} slower (one-sided Welch t test on log times at "
    f"{SPEED_ALPHA}; one seed: the spread pooled over the others; one seed each: a gap beyond "
    f"{ONE_SEED_TIE:.0%}) shares it"
)


def hardware_key(result: dict) -> str:
    """The device a training time depends on: the chip and the device. Threads and jobs at once are shown
    beside it, never part of it, so a resumed run is one table."""
    hw = result.get("environment", {}).get("hardware", {})
    return " / ".join(str(p) for p in (hw.get("gpu") or hw.get("cpu") or "unknown", hw.get("device")) if p)


def seconds_per_sample(result: dict) -> float:
    """A job's steady training seconds per sample: the lower quartile over its windows."""
    windows = [s / n for _, n, s in result["history"]["window_seconds"] if n > 0]
    return float(np.quantile(windows, QUANTILE))


def job_time(result: dict, metric: str) -> float:
    """The time compared for one job under ``metric``."""
    per = seconds_per_sample(result)
    if metric == "samples_per_second":
        return per
    timing = result["timing"]
    return per * timing["train_seconds"] * timing["train_samples_per_second"]


def _device(timed: dict[str, list[dict]]) -> str | None:
    """The board's device: the one on which the most players ran a seed (then the most seeds, then the name)."""
    counts: dict[str, list[int]] = {}
    for runs in timed.values():
        keys = [hardware_key(r) for r in runs]
        for key in set(keys):
            counts.setdefault(key, [0, 0])
            counts[key][0] += 1
            counts[key][1] += keys.count(key)
    return min(counts, key=lambda k: (-counts[k][0], -counts[k][1], k)) if counts else None


def _spread(x: np.ndarray, pooled: tuple[float, float] | None) -> tuple[float, float] | None:
    """(variance of one seed's log time, its df): the player's own with two or more seeds, else the pool's."""
    return (float(x.var(ddof=1)), len(x) - 1.0) if len(x) > 1 else pooled


def slower(logs: dict[str, np.ndarray], fastest: str) -> dict[str, bool]:
    """Per player, whether it is shown more than SPEED_TIE slower than ``fastest`` (log times per seed): a
    one-sided Welch t test at SPEED_ALPHA; a player with one seed takes the spread pooled over the players with
    several; with no spread at all, only a gap beyond ONE_SEED_TIE counts."""
    many = [x for x in logs.values() if len(x) > 1]
    df = sum(len(x) - 1 for x in many)
    pooled = (sum(float(x.var(ddof=1)) * (len(x) - 1) for x in many) / df, float(df)) if df else None
    best, margin = logs[fastest], np.log1p(SPEED_TIE)
    out = {}
    for name, x in logs.items():
        gap = float(x.mean() - best.mean()) - margin
        a, b = _spread(x, pooled), _spread(best, pooled)
        if a is None or b is None or name == fastest:
            out[name] = float(x.mean() - best.mean()) > np.log1p(ONE_SEED_TIE)
            continue
        va, vb = a[0] / len(x), b[0] / len(best)
        se = np.sqrt(va + vb)
        welch = stats.satterthwaite(va, a[1], vb, b[1])
        out[name] = gap > 0 and (se == 0 or gap / se > stats.t_upper(SPEED_ALPHA, welch))
    return out


def award(rows: list[dict], runs: dict[str, list[dict]], bonus: float, metric: str) -> list[str]:
    """Give the bonus (rows updated: fastest, bonus, points, speed); returns the board's notes on it."""
    timed = {r["player"]: runs[r["player"]] for r in rows if not r["collapsed"]}
    device = _device(timed)
    if device is None or not bonus:
        return []
    logs = {}
    for name, results in timed.items():
        if here := [job_time(r, metric) for r in results if hardware_key(r) == device]:
            logs[name] = np.log(here)
    fastest = min(logs, key=lambda n: (float(logs[n].mean()), n))
    sharing = [n for n, late in slower(logs, fastest).items() if not late]
    for r in rows:
        if r["player"] in logs:
            r["speed"] = {
                "device": device,
                "metric": metric,
                "seeds": len(logs[r["player"]]),
                "time": float(np.exp(logs[r["player"]].mean())),
            }
        if r["player"] in sharing:
            r.update(fastest=True, bonus=bonus / len(sharing), points=r["points"] + bonus / len(sharing))
    notes = []
    if len(sharing) > 1:
        notes.append(
            f"speed bonus shared by {', '.join(sharing)} (+{bonus / len(sharing):g} each): none is "
            f"shown more than {SPEED_TIE:.0%} slower than {fastest}, the fastest"
        )
    if away := sorted(set(timed) - set(logs)):
        notes.append(f"speed is compared on {device}; {', '.join(away)} ran no seed there: no share of the bonus")
    elif len({hardware_key(r) for rs in timed.values() for r in rs}) > 1:
        notes.append(f"speed is compared on {device}; seeds that ran on other devices are left out of the times")
    if len({c for r in rows if r["player"] in logs for c in r["concurrent_jobs"]}) > 1:
        notes.append(
            "these players trained with different numbers of jobs at once; their speeds are shown, but "
            "compare them with care"
        )
    return notes
