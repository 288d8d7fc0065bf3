"""The leaderboard's rows as text, built once: the terminal, Markdown and HTML renderers (and
benchmarks/tables.py) only choose which cells to show and how to lay them out. No torch here."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Note:
    text: str
    kind: str  # fastest | tied | collapsed | partly-collapsed


@dataclass(frozen=True)
class Row:
    """One ranked player, every cell already formatted."""

    rank: str
    player: str
    strategy: str
    hardware: str
    points: str
    accuracy: str  # mean ± std over seeds, in points
    ci: str  # 95 % CI of the mean accuracy
    macro_f1: str
    seeds: str
    std: str  # over seeds; "–" with one seed
    binomial_se: str
    vs_leader: str  # "leader", or difference [CI] p
    diff: str  # difference from the leader in points ("" for the leader)
    diff_ci: str
    p: str
    tied: str  # yes | no | – (the leader)
    bonus: str
    train_seconds: float
    parameters: str  # trainable / total
    trainable_share: str
    peak_rss: str
    gap: str  # train minus dev accuracy at the kept epoch
    notes: list[Note] = field(default_factory=list)


def _notes(r: dict) -> list[Note]:
    notes = []
    if r["fastest"]:
        notes.append(Note(f"⚡+{r['bonus']:g}", "fastest"))
    if r["tied_with_leader"] and r["p_vs_leader"] is not None:
        notes.append(Note("tied with leader", "tied"))
    if r["collapsed"]:
        notes.append(Note("COLLAPSED", "collapsed"))
    elif r["collapsed_seeds"]:
        notes.append(Note(f"{len(r['collapsed_seeds'])} of {len(r['seeds'])} seeds collapsed", "partly-collapsed"))
    return notes


def row(r: dict) -> Row:
    """A ranked entry of leaderboard.json as text."""
    lo, hi = r["test_accuracy_ci95"]
    leader = r["p_vs_leader"] is None
    diff = "" if leader else f"{r['diff_vs_leader']:+.2f}"
    diff_ci = "" if leader else f"[{r['diff_vs_leader_ci95'][0]:+.2f}, {r['diff_vs_leader_ci95'][1]:+.2f}]"
    p = "" if leader else f"{r['p_vs_leader']:.3g}"
    return Row(
        rank=str(r["rank"]), player=r["player"], strategy=r["strategy"], hardware=r["hardware"],
        points=f"{r['points']:.2f}", accuracy=f"{r['test_accuracy']:.2%} ± {100 * r['test_accuracy_std']:.2f}",
        ci=f"{lo:.2%} – {hi:.2%}", macro_f1=f"{r['macro_f1']:.3f}", seeds=str(len(r["seeds"])),
        std=f"{100 * r['test_accuracy_std']:.2f}" if len(r["seeds"]) > 1 else "–",
        binomial_se=f"{100 * r['binomial_se']:.2f}",
        vs_leader="leader" if leader else f"{diff} {diff_ci} p={p}", diff=diff, diff_ci=diff_ci, p=p,
        tied="–" if leader else ("yes" if r["tied_with_leader"] else "no"),
        bonus=f"⚡ +{r['bonus']:g}" if r["fastest"] else "", train_seconds=r["train_seconds"],
        parameters=f"{r['trainable_parameters']:,} / {r['total_parameters']:,}",
        trainable_share=f"{r['trainable_parameters'] / r['total_parameters']:.2%}",
        peak_rss=f"{r['peak_rss_bytes'] / 2**20:,.1f} MiB",
        gap="–" if r["generalization_gap"] is None else f"{r['generalization_gap']:+.2%}",
        notes=_notes(r),
    )


def rows(board: dict, group: str | None = None) -> list[Row]:
    """The ranked players (of one hardware group, or all), in rank order."""
    return [row(r) for r in board["ranked"] if group is None or r["hardware"] == group]


def note_text(notes: list[Note], bold=lambda s: s) -> str:
    return ", ".join(bold(n.text) if n.kind == "collapsed" else n.text for n in notes)


def extra_eval_table(ranked: list[dict], own: bool = False) -> tuple[list[str], list[list[str]]]:
    """Extra test sets (mean ± std over seeds), one row per player; empty when there are none.

    ``own`` adds the player's accuracy on its own test set as the first value column."""
    sets = sorted({n for r in ranked for n in r.get("extra_eval", {})})
    if not sets:
        return [], []
    headers = ["player"] + (["test accuracy (own data)"] if own else []) + sets
    body = [[r["player"]] + ([f"{r['test_accuracy']:.2%}"] if own else []) +
            [f"{r['extra_eval'][n]['mean']:.2%} ± {100 * r['extra_eval'][n]['std']:.2f}" if n in r["extra_eval"]
             else "–" for n in sets] for r in ranked]
    return headers, body
