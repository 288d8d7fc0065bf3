"""The model card (README.md) of an exported player: Hub metadata, then where the model comes from and how
good it is, in the board's own words. Reads the result, tournament.json and the board only; no torch here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tuneoff.store.files import read_json
from tuneoff.store.runfolder import RunFolder
from tuneoff.verdict.board import read_run
from tuneoff.verdict.rows import may_be_best_sentence, row, trained_models, words


@dataclass(frozen=True)
class Export:
    """What was exported, as the card describes it."""

    folder: str  # where it was written, as the user named it
    command: str  # the `tuneoff export ...` line that wrote it
    adapter: bool  # a PEFT adapter folder (--no-merge), else a plain transformers model
    base: str | None = None  # the base model the adapter names


def board_of(run: RunFolder) -> dict:
    """The run's leaderboard.json, or the board built from its results when none was written."""
    path = run.board_paths()[0]
    return read_json(path) if path.is_file() else read_run(run).board


def base_model(result: dict) -> str | None:
    """The Hub id the player's model was loaded from; None for random or local weights."""
    model = result["player"]["model"]
    if model["kind"] != "hub" or Path(model["name"]).expanduser().exists():
        return None
    return model["name"]


def _metadata(result: dict, name: str) -> str:
    from huggingface_hub import EvalResult, ModelCardData

    data, strategy = result["data"], result["player"]["strategy"]["name"]
    card = ModelCardData(
        library_name="transformers", pipeline_tag="text-classification", base_model=base_model(result),
        tags=["tuneoff", "text-classification", strategy], datasets=[data["name"]], metrics=["accuracy"],
        model_name=name,
        eval_results=[EvalResult(task_type="text-classification", dataset_type=data["name"],
                                 dataset_name=data["name"], dataset_split="test", metric_type="accuracy",
                                 metric_value=result["test"]["accuracy"])])
    return f"---\n{card.to_yaml()}\n---\n"


def _use(export: Export, labels: list[str]) -> list[str]:
    if export.adapter:
        code = ["from peft import AutoPeftModelForSequenceClassification",
                "from transformers import AutoTokenizer", "",
                f"model = AutoPeftModelForSequenceClassification.from_pretrained({export.folder!r})",
                f"tokenizer = AutoTokenizer.from_pretrained({export.folder!r})",
                f"labels = {labels!r}  # the order of the logits"]
        where = (f"A PEFT adapter over the base model `{export.base}` (its `adapter_config.json` names it; PEFT "
                 "loads it from there), with the tokenizer.")
    else:
        code = ["from transformers import pipeline", "",
                f"classify = pipeline('text-classification', model={export.folder!r})",
                "classify('a superb film', top_k=None)  # every label with its probability"]
        where = ("A standard transformers model (safetensors weights; any adapter merged into them), its tokenizer, "
                 "and `config.json` whose `id2label` names the labels.")
    return ["## Use it", "", where, "", "```python", *code, "```", ""]


def _tournament(meta: dict, run: RunFolder) -> list[str]:
    rules = meta["config"]["tournament"]
    players = ", ".join(p["name"] for p in meta["config"]["players"])
    return ["## The tournament", "",
            f"- name: **{rules['name']}**" + (f" ({rules['description']})" if rules.get("description") else ""),
            f"- config file: `{meta.get('config_file') or 'not recorded'}`",
            f"- run folder: `{run.path.resolve()}`", f"- players: {players}", ""]


def _data(result: dict) -> list[str]:
    data = result["data"]
    lines = ["## The data", "", f"- dataset: **{data['name']}** (from {data['source']}"
             + (f", `{data['dir']}`" if data.get("dir") else "") + ")",
             f"- labels, in the model's order: {', '.join(result['labels'])}", "",
             "| split | examples | content fingerprint (sha256) |", "|---|---:|---|"]
    lines += [f"| {split} | {n:,} | `{data['sha256'].get(split, '–')}` |" for split, n in data["sizes"].items()]
    return lines + [""]


def _protocol(result: dict) -> list[str]:
    lines = ["## The protocol", "", "The same for every player (a player's own overrides: "
             f"{json.dumps(result['overrides']) if result['overrides'] else 'none'}).", "",
             "| setting | value |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in result["protocol"].items()]
    return lines + [""]


def _strategy(result: dict, method: str = "strategy") -> list[str]:
    options = {k: v for k, v in result["player"]["strategy"].items() if k != "name"}
    params = result["parameters"]
    return [f"## The {method}", "",
            f"- **{result['player']['strategy']['name']}**, options: "
            f"{json.dumps(options) if options else 'the defaults'}",
            f"- model: {result['model']['description']} ("
            + ("pretrained" if result["model"]["pretrained"] else "RANDOMLY INITIALISED") + ")",
            f"- trained parameters: {params['trainable']:,} of {params['total']:,}",
            f"- kept epoch: {result['best_epoch']} of {result['protocol']['epochs']} (the best on dev)", ""]


def _accuracy(result: dict, ranked: dict | None) -> list[str]:
    lines = ["## Test accuracy", "",
             f"This checkpoint (seed {result['seed']}, the one exported): test accuracy "
             f"**{result['test']['accuracy']:.2%}**, macro-F1 {result['test']['macro_f1']:.3f}, on "
             f"{result['data']['sizes']['test']:,} test sentences (always the largest class: "
             f"{result['data']['test_majority_rate']:.2%}).", ""]
    if ranked is None:
        return lines + ["The player is not ranked on the run's board (its results are unfinished or stale).", ""]
    shown = row(ranked)
    spread = " (mean ± std, points)" if len(ranked["seeds"]) > 1 else " (one seed: its spread is not measured)"
    return lines + [f"The player over its {shown.seeds} seed(s): **{shown.accuracy}**{spread}, 95 % CI {shown.ci}.", ""]


def _pair(pair: dict, models: bool = False) -> str:
    lo, hi = pair["ci95"]
    p = "< 1e-15" if pair["p_holm"] < 1e-15 else f"= {pair['p_holm']:.3g}"  # underflow is a bound, never p=0
    numbers = f"{pair['diff']:+.2f} points [{lo:+.2f}, {hi:+.2f}] (simultaneous), Holm p {p}, {pair['test']}"
    if not pair["separable"]:
        return (f"- {pair['a']} vs {pair['b']}: {numbers}: they cannot be separated by this test set"
                + ("" if models else " and these seeds") + " (which does not show they are equal)")
    better, worse = (pair["a"], pair["b"]) if pair["diff"] > 0 else (pair["b"], pair["a"])
    return f"- {pair['a']} vs {pair['b']}: {numbers}: {better} is significantly better than {worse}"


def _verdict(board: dict, player: str, ranked: dict | None) -> list[str]:
    lines = ["## The verdict against the other players", ""]
    if ranked is not None:
        shown = row(ranked)
        lines += [(f"COLLAPSED, not ranked: {ranked['collapse_reason']}." if ranked["collapsed"] else
                   f"Rank {shown.rank} of {sum(r['rank'] is not None for r in board['ranked'])}, rank interval "
                   f"**{shown.rank_interval}** (the ranks the data allow, 95 % together)."), ""]
    lines += [may_be_best_sentence(board), ""]
    pairs = [_pair(p, trained_models(board)) for p in board["pairwise"] if player in (p["a"], p["b"])]
    return lines + (pairs + [""] if pairs else [])


def model_card(run: RunFolder, result: dict, export: Export) -> str:
    """README.md for an exported player: Hub YAML metadata, then the tournament, data, protocol, strategy,
    accuracy with its CI, the verdict as the board states it, and the commands that made it."""
    meta, board = run.tournament(), board_of(run)
    player = result["player"]["name"]
    ranked = next((r for r in board["ranked"] if r["player"] == player), None)
    name = f"{meta['config']['tournament']['name']}-{player}"
    ran = (result.get("process") or {}).get("command")
    lines = [_metadata(result, name), f"# {name}: {result['player']['strategy']['name']} on {result['data']['name']}",
             "", f"Player **{player}** (seed {result['seed']}) of the tuneoff tournament "
             f"**{meta['config']['tournament']['name']}**, exported by `tuneoff export`.", ""]
    lines += _use(export, result["labels"]) + _tournament(meta, run) + _data(result) + _protocol(result)
    lines += _strategy(result, words(board)["method"]) + _accuracy(result, ranked) + _verdict(board, player, ranked)
    lines += ["## How it was made", "", "```", ran or "# the run command was not recorded", export.command, "```", ""]
    return "\n".join(lines)
