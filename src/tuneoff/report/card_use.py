"""The parts of an exported model card a reader copies: how to load it, how it was trained (per epoch), with
which versions, and the commands that reproduce it. Nothing here names a path of the machine that exported
it: the snippets load the Hub repository or the exported folder by its name, and every command is
shell-quoted whole. No torch here."""

from __future__ import annotations

import shlex
from pathlib import Path

SAMPLE = "a superb film"


def _adapter_code(name: str, labels: list[str], base_subfolder: str | None) -> list[str]:
    """Load a PEFT adapter for sequence classification: its base either beside it (a subfolder whose config
    holds the labels, loaded by its path: transformers would take the folder's adapter_config.json for its own)
    or named by adapter_config.json, the head then given the labels' number and names, which a base without this
    head (or with another) does not know."""
    id2label = dict(enumerate(labels))
    if base_subfolder:
        load = [
            "import os",
            "",
            "import torch",
            "from huggingface_hub import snapshot_download",
            "from peft import PeftModel",
            "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
            "",
            f"folder = {name!r} if os.path.isdir({name!r}) else snapshot_download({name!r})",
            f"base = AutoModelForSequenceClassification.from_pretrained(os.path.join(folder, {base_subfolder!r}))",
            "model = PeftModel.from_pretrained(base, folder).eval()",
        ]
        where = "folder"
    else:
        load = [
            "import torch",
            "from peft import AutoPeftModelForSequenceClassification",
            "from transformers import AutoTokenizer",
            "",
            f"id2label = {id2label!r}",
            "model = AutoPeftModelForSequenceClassification.from_pretrained(",
            f"    {name!r}, num_labels={len(labels)}, id2label=id2label,",
            "    label2id={label: i for i, label in id2label.items()}).eval()",
        ]
        where = repr(name)
    return [
        *load,
        f"tokenizer = AutoTokenizer.from_pretrained({where})",
        "",
        f"batch = tokenizer([{SAMPLE!r}], return_tensors='pt')",
        "with torch.no_grad():",
        "    probabilities = model(**batch).logits.softmax(-1)[0]",
        f"labels = {labels!r}  # the order of the logits",
        "print(dict(zip(labels, probabilities.tolist())))",
    ]


def _bottleneck_code(name: str, labels: list[str]) -> list[str]:
    """Load tuneoff's bottleneck adapters: tuneoff rebuilds the base (beside it, or the one its config names)."""
    return [
        "import os",
        "",
        "import torch",
        "from huggingface_hub import snapshot_download",
        "from transformers import AutoTokenizer",
        "from tuneoff.models.bottleneck import from_pretrained",
        "",
        f"folder = {name!r} if os.path.isdir({name!r}) else snapshot_download({name!r})",
        "model = from_pretrained(folder)",
        "tokenizer = AutoTokenizer.from_pretrained(folder)",
        "",
        f"batch = tokenizer([{SAMPLE!r}], return_tensors='pt')",
        "with torch.no_grad():",
        "    probabilities = model(**batch).logits.softmax(-1)[0]",
        f"labels = {labels!r}  # the order of the logits",
        "print(dict(zip(labels, probabilities.tolist())))",
    ]


def usage(
    name: str, labels: list[str], adapter: bool, base: str | None, base_subfolder: str | None, bottleneck: bool = False
) -> list[str]:
    """The "Use it" section. ``name``: the Hub repo id, or the exported folder's name (run from its parent)."""
    if adapter and bottleneck:
        where = (
            "Bottleneck adapters trained by tuneoff, with the trained head (and any trained layer norms), over "
            + (
                f"the base model in the subfolder `{base_subfolder}/`"
                if base_subfolder
                else f"the base model `{base}` (its `adapter_config.json` names it)"
            )
            + "; tuneoff loads them (neither PEFT nor plain transformers can), with the tokenizer."
        )
        code = _bottleneck_code(name, labels)
    elif adapter:
        if base_subfolder:
            where = f"A PEFT adapter and the base model it was trained on, in the subfolder `{base_subfolder}/`"
        elif base and Path(base).is_absolute():
            where = (
                f"A PEFT adapter over a base model in a local folder `{Path(base).name}` (its "
                "`adapter_config.json` names that folder by its path on the machine that exported it)"
            )
        else:
            where = (
                f"A PEFT adapter over the base model `{base}` (its `adapter_config.json` names it; PEFT loads "
                "it from there)"
            )
        code = _adapter_code(name, labels, base_subfolder)
        where += ", with the tokenizer. The trained head is part of the adapter; " + (
            "the base's config names the labels."
            if base_subfolder
            else "the snippet gives the base the labels' number and names, which its own config may not hold."
        )
    else:
        code = [
            "from transformers import pipeline",
            "",
            f"classify = pipeline('text-classification', model={name!r})",
            f"classify({SAMPLE!r}, top_k=None)  # every label with its probability",
        ]
        where = (
            "A standard transformers model (safetensors weights; any adapter merged into them), its tokenizer, "
            "and `config.json` whose `id2label` names the labels."
        )
    return ["## Use it", "", where, "", "```python", *code, "```", ""]


def _cell(value, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def epochs_table(result: dict) -> list[str]:
    """Training results per epoch, the kept one (best on dev) marked."""
    lines = [
        "## Training results",
        "",
        "Per epoch; the kept checkpoint is the epoch best on dev.",
        "",
        "| epoch | train loss | dev loss | dev accuracy | train-probe accuracy | train seconds |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for e in result["history"]["epochs"]:
        kept = " (kept)" if e["epoch"] == result["best_epoch"] else ""
        lines.append(
            f"| {e['epoch']}{kept} | {_cell(e.get('train_loss'), '.4f')} | "
            f"{_cell(e.get('dev_loss'), '.4f')} | "
            f"{_cell(e.get('dev_accuracy'), '.2%')} | {_cell(e.get('train_eval_accuracy'), '.2%')} | "
            f"{_cell(e.get('train_seconds'), '.1f')} |"
        )
    return lines + [""]


VERSIONS = (
    ("tuneoff", "tuneoff"),
    ("Python", "python"),
    ("PyTorch", "torch"),
    ("Transformers", "transformers"),
    ("PEFT", "peft"),
    ("tuneoff commit", "git_commit"),
)


def framework_versions(result: dict) -> list[str]:
    """The versions the checkpoint was trained with (as the job recorded them)."""
    software = (result.get("environment") or {}).get("software") or {}
    lines = [f"- {label} {software[key]}" for label, key in VERSIONS if software.get(key)]
    return ["## Framework versions", "", *(lines or ["- not recorded"]), ""]


def reproduction(
    result: dict, config_file: str | None, notes: tuple[str, ...], run_name: str, export_args: list[str]
) -> list[str]:
    """The commands that train this player again and export it as here: shell-quoted, with no local path."""
    software = (result.get("environment") or {}).get("software") or {}
    made_by = " ".join(
        ["tuneoff", software.get("tuneoff") or "(version not recorded)"]
        + ([f"(commit {software['git_commit'][:12]})"] if software.get("git_commit") else [])
    )
    player = result["player"]["name"]
    run = ["tuneoff", "run", config_file or "CONFIG.toml", "--only", player]
    lines = [
        "## How it was made",
        "",
        (
            f"`{config_file}` beside this card is the run's config as recorded (every player's, so the other "
            "players can be trained too)."
            if config_file
            else "The run's config was not recorded."
        )
        + " `tuneoff run` writes into `runs/<tournament name>`; SST data sets are downloaded on first use, or "
        "read from `--data-dir`.",
        "",
    ]
    lines += [f"- {note}" for note in notes] + ([""] if notes else [])
    return lines + [
        "```bash",
        f"# trained with {made_by}, installed from its source: pip install -e '.[offline]'",
        shlex.join(run),
        shlex.join(["tuneoff", "export", f"runs/{run_name}", "--player", player, *export_args]),
        "```",
        "",
    ]
