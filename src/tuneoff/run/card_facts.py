"""What an exported model card says about the Hub: the base model's id and license (from the model source),
and each test set's Hub data set id (from its data set's options: the run's own, each configured [[eval]] set,
and each set `tuneoff score` added). Local weights and files have no id; an unknown license is "unknown"
unless ``--license`` names it."""

from __future__ import annotations

from tuneoff.data import DATASETS
from tuneoff.models.sources import KNOWN_LICENSES, SOURCES
from tuneoff.report.card_meta import Hub, HubSet


def base_model_id(result: dict) -> str | None:
    """The Hub id of the pretrained weights the player started from; None for random or local ones."""
    model = result["player"]["model"]
    try:
        return SOURCES.lookup(model["kind"]).model_validate(model).hub_id()
    except (ValueError, TypeError):  # a plugin source no longer installed, or options it no longer takes
        return None


def _spec(table: dict | None):
    """A data set's options from a recorded table (identity and sums left out); None when they do not validate."""
    if not isinstance(table, dict):
        return None
    table = {k: v for k, v in table.items() if k != "sha256"}
    try:
        return DATASETS.lookup(table.get("name", "sst5")).model_validate(table)
    except (ValueError, TypeError):
        return None


def _hub_set(spec) -> HubSet:
    ids = spec.hub_ids() if spec is not None else ()
    return HubSet(ids[0] if ids else None, spec.hub_config() if spec is not None and ids else None)


def scored_sets(result: dict, config: dict) -> dict[str, HubSet]:
    """ "test" (the run's own data) and every extra set of the result, with its Hub id where it has one."""
    evals = {e["name"]: e.get("dataset") for e in config.get("eval") or []}
    sets = {"test": _hub_set(_spec((result.get("job") or {}).get("data") or config.get("data")))}
    for name, entry in (result.get("extra_eval") or {}).items():
        table = evals.get(name) or entry.get("spec") or {"name": entry.get("dataset")}
        sets[name] = _hub_set(_spec(table))
    return sets


def hub_facts(result: dict, config: dict, license: str | None, collapsed: bool) -> Hub:
    base = base_model_id(result)
    return Hub(
        base_model=base,
        license=license or KNOWN_LICENSES.get(base or "", "unknown"),
        sets=scored_sets(result, config),
        collapsed=collapsed,
    )
