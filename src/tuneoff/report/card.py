"""The model card (README.md) of an exported player: Hub metadata (card_meta), how to load it (card_use), then
where the model comes from and how good it is, in the board's own words, and how to make it again. Reads the
result, tournament.json and the board only; no torch here. No path of the exporting machine is written."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tuneoff.report.card_meta import Hub, metadata, sentences_ci
from tuneoff.report.card_use import epochs_table, framework_versions, reproduction, usage
from tuneoff.store.runfolder import RunFolder
from tuneoff.verdict.board import read_run
from tuneoff.verdict.format import accuracy_ci, difference, inseparable, p_is, words
from tuneoff.verdict.rows import may_be_best_sentence, row


@dataclass(frozen=True)
class Export:
    """What was exported, as the card describes it (filled by ``tuneoff export``)."""

    name: str  # what the card's snippets load: the Hub repo id, else the exported folder's name
    adapter: bool  # an adapter folder (--no-merge), else a plain transformers model
    base: str | None = None  # the base model the adapter names (a Hub id, or a folder of this machine)
    base_subfolder: str | None = None  # the base written beside the adapter, in this subfolder
    hub: Hub = field(default_factory=Hub)
    collapse: str | None = None  # one line: the checkpoint, or the player's other seeds, collapsed
    config_file: str | None = None  # the run's config, written beside the model
    config_notes: tuple[str, ...] = ()  # what to supply that the config names but the export lacks
    export_args: tuple[str, ...] = ()  # the export command's options after the run folder (no local path)
    bottleneck: bool = False  # the adapter is tuneoff's bottleneck adapters (tuneoff.models.bottleneck), not PEFT's


def _banner(export: Export) -> list[str]:
    if not export.collapse:
        return []
    if export.hub.collapsed:
        return [
            f"> **COLLAPSED: this model learned nothing.** {export.collapse}. Exported with `--allow-collapsed`, "
            "as a record of the tournament: do not use it to classify anything.",
            "",
        ]
    return [f"> **Collapse in other seeds.** {export.collapse}.", ""]


def _tournament(meta: dict) -> list[str]:
    rules = meta["config"]["tournament"]
    players = ", ".join(p["name"] for p in meta["config"]["players"])
    config = Path(meta["config_file"]).name if meta.get("config_file") else "not recorded"
    return [
        "## The tournament",
        "",
        f"- name: **{rules['name']}**" + (f" ({rules['description']})" if rules.get("description") else ""),
        f"- config file: `{config}`",
        f"- players: {players}",
        "",
    ]


def _data(result: dict, export: Export) -> list[str]:
    data, own = result["data"], export.hub.sets.get("test")
    hub = f", on the Hub as [`{own.id}`](https://huggingface.co/datasets/{own.id})" if own and own.id else ""
    lines = [
        "## The data",
        "",
        f"- dataset: **{data['name']}** (from {data['source']}{hub})",
        f"- labels, in the model's order: {', '.join(result['labels'])}",
        "",
        "| split | examples | content fingerprint (sha256) |",
        "|---|---:|---|",
    ]
    lines += [f"| {split} | {n:,} | `{data['sha256'].get(split, '–')}` |" for split, n in data["sizes"].items()]
    return lines + [""]


def _extra_sets(result: dict, export: Export) -> list[str]:
    """Every other test set this checkpoint was scored on (configured [[eval]] sets and `tuneoff score`)."""
    extra = result.get("extra_eval") or {}
    if not extra:
        return []
    lines = [
        "## Other test sets",
        "",
        "Scored once with this checkpoint, through a label mapping; never used to choose anything.",
        "",
        "| set | Hub id | examples | accuracy | 95 % CI | macro-F1 |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, e in sorted(extra.items()):
        hub = export.hub.sets.get(name)
        ci = sentences_ci(e["predictions"], e["labels"]) if "predictions" in e and "labels" in e else None
        lines.append(
            f"| {name} | {f'`{hub.id}`' if hub and hub.id else '–'} | {e['examples']:,} | "
            f"{e['accuracy']:.2%} | {accuracy_ci(*ci) if ci else '–'} | {e['macro_f1']:.3f} |"
        )
    return lines + [""]


def _protocol(result: dict) -> list[str]:
    lines = [
        "## The protocol",
        "",
        "The same for every player (a player's own overrides: "
        f"{json.dumps(result['overrides']) if result['overrides'] else 'none'}).",
        "",
        "| setting | value |",
        "|---|---|",
    ]
    lines += [f"| {key} | {value} |" for key, value in result["protocol"].items()]
    return lines + [""]


def _model(result: dict) -> str:
    """The model as the job described it, a folder of this machine named by its name only."""
    described, model = result["model"]["description"], result["player"]["model"]
    if model.get("kind") == "hub" and Path(model.get("name", "")).expanduser().is_absolute():
        described = described.replace(model["name"], f"a local folder {Path(model['name']).name!r}")
    return described


def _strategy(result: dict, method: str = "strategy") -> list[str]:
    options = {k: v for k, v in result["player"]["strategy"].items() if k != "name"}
    params = result["parameters"]
    return [
        f"## The {method}",
        "",
        f"- **{result['player']['strategy']['name']}**, options: {json.dumps(options) if options else 'the defaults'}",
        f"- model: {_model(result)} ("
        + ("pretrained" if result["model"]["pretrained"] else "RANDOMLY INITIALISED")
        + ")",
        f"- trained parameters: {params['trainable']:,} of {params['total']:,}",
        f"- kept epoch: {result['best_epoch']} of {result['protocol']['epochs']} (the best on dev)",
        "",
    ]


def _accuracy(result: dict, ranked: dict | None) -> list[str]:
    lines = [
        "## Test accuracy",
        "",
        f"This checkpoint (seed {result['seed']}, the one exported): test accuracy "
        f"**{result['test']['accuracy']:.2%}**, macro-F1 {result['test']['macro_f1']:.3f}, on "
        f"{result['data']['sizes']['test']:,} test sentences (always the largest class: "
        f"{result['data']['test_majority_rate']:.2%}).",
        "",
    ]
    if ranked is None:
        return lines + ["The player is not ranked on the run's board (its results are unfinished or stale).", ""]
    shown = row(ranked)
    spread = " (mean ± std, points)" if len(ranked["seeds"]) > 1 else " (one seed: its spread is not measured)"
    return lines + [f"The player over its {shown.seeds} seed(s): **{shown.accuracy}**{spread}, 95 % CI {shown.ci}.", ""]


def _pair(pair: dict, board: dict) -> str:
    numbers = (
        f"{difference(pair['diff'], pair['ci95'])} points (simultaneous 95 % CI), "
        f"{p_is(pair['p_holm'], 'Holm p')}, {pair['test']}"
    )
    if not pair["separable"]:
        return f"- {pair['a']} vs {pair['b']}: {numbers}: they {inseparable(board)}"
    better, worse = (pair["a"], pair["b"]) if pair["diff"] > 0 else (pair["b"], pair["a"])
    return f"- {pair['a']} vs {pair['b']}: {numbers}: {better} is significantly better than {worse}"


def _verdict(board: dict, player: str, ranked: dict | None) -> list[str]:
    lines = ["## The verdict against the other players", ""]
    if ranked is not None:
        shown = row(ranked)
        lines += [
            (
                f"COLLAPSED, not ranked: {ranked['collapse_reason']}."
                if ranked["collapsed"]
                else f"Rank {shown.rank} of {sum(r['rank'] is not None for r in board['ranked'])}, rank interval "
                f"**{shown.rank_interval}** (the ranks the data allow, 95 % together)."
            ),
            "",
        ]
    lines += [may_be_best_sentence(board), ""]
    pairs = [_pair(p, board) for p in board["pairwise"] if player in (p["a"], p["b"])]
    return lines + (pairs + [""] if pairs else [])


def model_card(run: RunFolder, result: dict, export: Export) -> str:
    """README.md for an exported player: Hub YAML metadata, a banner when it collapsed, how to load it, then the
    tournament, data, protocol, strategy, accuracy with its CI, other test sets, the epochs, the verdict as the
    board states it, the versions, and the commands that make it again."""
    built = read_run(run)  # the board the report shows: rebuilt from the results, never a stale leaderboard.json
    meta, board = built.meta, built.board
    player, tournament = result["player"]["name"], meta["config"]["tournament"]["name"]
    ranked = next((r for r in board["ranked"] if r["player"] == player), None)
    name = f"{tournament}-{player}"
    lines = [
        metadata(result, name, export.hub, export.adapter, export.bottleneck),
        *_banner(export),
        f"# {name}: {result['player']['strategy']['name']} on {result['data']['name']}",
        "",
        f"Player **{player}** (seed {result['seed']}) of the tuneoff tournament **{tournament}**, exported by "
        "`tuneoff export`.",
        "",
    ]
    lines += usage(export.name, result["labels"], export.adapter, export.base, export.base_subfolder, export.bottleneck)
    lines += _tournament(meta) + _data(result, export) + _protocol(result) + _strategy(result, words(board)["method"])
    lines += _accuracy(result, ranked) + _extra_sets(result, export) + epochs_table(result)
    lines += _verdict(board, player, ranked) + framework_versions(result)
    lines += reproduction(result, export.config_file, export.config_notes, tournament, list(export.export_args))
    return "\n".join(lines)
