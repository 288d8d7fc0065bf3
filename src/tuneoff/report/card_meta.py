"""An exported model card's YAML header, as the Hugging Face Hub reads it (``ModelCard.load(...).data``):
license, base model, Hub data set ids, tags, and a model-index with every test set this checkpoint was scored
on (accuracy, macro-F1 and the 95 % CI of its accuracy over the test sentences). No torch here."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tuneoff.verdict import stats


@dataclass(frozen=True)
class HubSet:
    """A test set as the Hub names it: a data set id (or tuneoff's name for local files) and its config."""

    id: str | None  # the Hub data set id; None for local files
    config: str | None = None


@dataclass(frozen=True)
class Hub:
    """What the card's metadata says about where the model comes from (filled by ``tuneoff export``)."""

    base_model: str | None = None  # the Hub id of the pretrained weights; None for random or local ones
    license: str = "unknown"
    sets: dict[str, HubSet] = field(default_factory=dict)  # "test" (the run's own) and each extra set's name
    collapsed: bool = False  # the exported checkpoint collapsed: tagged


def sentences_ci(predictions: list[int], labels: list[int]) -> tuple[float, float]:
    """The 95 % CI of one checkpoint's accuracy over these sentences (the board's test, one seed)."""
    correct = np.asarray(predictions)[None, :] == np.asarray(labels)[None, :]
    lo, hi = stats.accuracy(correct).ci()
    return max(0.0, lo), min(1.0, hi)


def _scores(name: str, scored: dict) -> list[tuple[str, str, float, dict | None]]:
    """(metric type, metric name, value, args) of one test set: accuracy, macro-F1, and the CI where the
    sentences' predictions are kept."""
    out = [
        ("accuracy", "accuracy", scored["accuracy"], None),
        ("f1", "macro-F1", scored["macro_f1"], {"average": "macro"}),
    ]
    if "predictions" in scored and "labels" in scored:
        lo, hi = sentences_ci(scored["predictions"], scored["labels"])
        out += [
            ("accuracy_ci95_low", "accuracy, 95 % CI lower bound (over test sentences)", lo, None),
            ("accuracy_ci95_high", "accuracy, 95 % CI upper bound (over test sentences)", hi, None),
        ]
    return out


def eval_results(result: dict, hub: Hub) -> list:
    """The model-index entries: the run's own test set, then every extra set scored with this checkpoint."""
    from huggingface_hub import EvalResult

    sets = [("test", result["data"]["name"], result["test"])]
    sets += [(name, name, entry) for name, entry in sorted((result.get("extra_eval") or {}).items())]
    out = []
    for key, name, scored in sets:
        where = hub.sets.get(key, HubSet(None))
        for metric, label, value, args in _scores(name, scored):
            out.append(
                EvalResult(
                    task_type="text-classification",
                    dataset_type=where.id or name,
                    dataset_name=name,
                    dataset_config=where.config,
                    dataset_split="test",
                    metric_type=metric,
                    metric_name=label,
                    metric_value=float(value),
                    metric_args=args,
                )
            )
    return out


def metadata(result: dict, name: str, hub: Hub, adapter: bool, bottleneck: bool = False) -> str:
    """The card's YAML front matter, between its --- lines (``bottleneck``: tuneoff's own adapters, which tuneoff
    loads, not PEFT)."""
    from huggingface_hub import ModelCardData

    strategy = result["player"]["strategy"]["name"]
    tags = ["tuneoff", "text-classification", strategy]
    if adapter and hub.base_model:
        tags.append(f"base_model:adapter:{hub.base_model}")  # as PEFT's own cards tag an adapter
    if hub.collapsed:
        tags.append("collapsed")
    ids = list(dict.fromkeys(s.id for s in hub.sets.values() if s.id))
    card = ModelCardData(
        library_name=("tuneoff" if bottleneck else "peft") if adapter else "transformers",
        pipeline_tag="text-classification",
        license=hub.license,
        base_model=hub.base_model,
        tags=tags,
        datasets=ids or None,
        metrics=["accuracy", "f1"],
        model_name=name,
        eval_results=eval_results(result, hub),
    )
    return f"---\n{card.to_yaml()}\n---\n"
