"""The unit of work: one player trained with one seed (and data seed) on one data set.

A job is plain, picklable data. Its *identity* is everything that changes its result:
the player's model source and strategy with their options, the resolved protocol
(seed included) and the data's options and content (sha256 of every split). It leaves
out descriptions. The identity's hash decides resume and staleness; the identity itself
is recorded in every result and in tournament.json, so a stale result can say which
key differs. Each job has its own folder, so jobs can run in any order or in parallel.
No torch here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from tuneoff.data import DatasetSpec
from tuneoff.plan.budget import sweep_for
from tuneoff.plan.choice import choose  # noqa: F401 - the sweep's choice, where the tournament looks for it
from tuneoff.plan.config import Config, Player, Protocol, ingredients, seed_pairs, teacher_order, tuning_seeds
from tuneoff.store.record import Final, Trial


@dataclass(frozen=True)
class Job:
    tournament: str
    player: Player
    protocol: Protocol  # resolved: shared protocol, the player's overrides, this job's seeds
    data: DatasetSpec
    identity: dict  # what the hash covers (see module docstring)
    job_hash: str
    overrides: dict
    kind: type[Final] | type[Trial] = Final  # Trial: train and dev only, never the test split, no checkpoint
    tuning: dict | None = None  # the sweep that chose this final job's learning rate (and knob, second rate)
    axes: tuple = ()  # a trial's other axes: (kind, strategy option, value) for its knob and second rate
    ingredients: tuple[float, ...] = ()  # a soup's final job: the rates of the models it trains and combines

    @property
    def name(self) -> str:
        return self.player.name

    @property
    def seed(self) -> int:
        return self.protocol.seed

    @property
    def data_seed(self) -> int | None:
        return self.protocol.data_seed

    @property
    def label(self) -> str:
        """The job's folder name in a run folder (the store's layout)."""
        return self.kind.label(self)


# Protocol keys added after results were first recorded, with the value that older results
# recorded or implied: left out of the identity at that value, so older results stay current.
LATER_KEYS = {"cuda_graphs": False}
# Keys whose default became "unset: the device decides" (None); unset, they are written as the
# value older results recorded, which was the same behaviour everywhere but CUDA.
DEVICE_DEFAULTS = {"cuda_graphs": False, "static_shapes": 0}


def identity(player: Player, protocol: Protocol, data: DatasetSpec, data_sha256: dict) -> dict:
    """``data_sha256``: the content fingerprint of each split, and of each extra evaluation set; its ``classes``
    (the class names, in order, where the data set does not fix them) become the identity's data.classes."""
    where = set(type(data).relative_paths)  # where files are, not what is in them (the fingerprint is)
    data_sha256 = dict(data_sha256)
    classes = data_sha256.pop("classes", None)
    settled = protocol.model_dump(mode="json")
    settled.update({k: old for k, old in DEVICE_DEFAULTS.items() if settled[k] is None})
    for key, old in LATER_KEYS.items():
        if settled[key] == old:
            del settled[key]
    return {
        "player": player.model_dump(mode="json", exclude={"description"}),
        "protocol": settled,
        "data": {
            **data.model_dump(mode="json", exclude=where),
            "sha256": dict(sorted(data_sha256.items())),
            **({"classes": list(classes)} if classes is not None else {}),
        },
    }


def hash_of(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def plan(config: Config, data_sha256: dict[str, str], chosen: dict[str, dict] | None = None) -> list[Job]:
    """Every final job: each player once per (seed, data seed), teachers before their students.

    With [tuning], ``chosen`` maps a player to its sweep's summary (``choose``: the kept rate, knob value and
    second rate); a player missing from it is not planned yet, unless it trains its own sweep (a soup).
    """
    players = {p.name: p for p in config.players}
    out: list[Job] = []
    hashes: dict[tuple, str] = {}
    for name in teacher_order(config.players):  # teachers first: a student's identity includes its teacher's
        player, sweep = players[name], (chosen or {}).get(name)
        soup = ingredients(config, player) if config.tuning and type(player.strategy).in_job_sweep else ()
        if config.tuning and sweep is None and not soup:
            continue
        if sweep:
            player = at_point(player, [(a, sweep[a]["field"], sweep[a]["value"]) for a in AXES if sweep.get(a)])
        rate = sweep["learning_rate"] if sweep else soup[len(soup) // 2] if soup else None
        for seed, data_seed in seed_pairs(config):
            update = {"seed": seed, "data_seed": data_seed, **({"learning_rate": rate} if rate else {})}
            protocol = config.protocol_for(player).model_copy(update=update)
            ident = identity(player, protocol, config.data, data_sha256)
            if config.tuning:
                ident["tuning"] = {"ingredients": list(soup)} if soup else sweep_identity(config, player)
            if (teacher := player.strategy.teacher_name()) is not None:
                ident["teacher"] = hashes.get((teacher, seed, data_seed))
            hashes[(name, seed, data_seed)] = hash_of(ident)
            out.append(
                Job(
                    config.tournament.name,
                    player,
                    protocol,
                    config.data,
                    ident,
                    hash_of(ident),
                    dict(player.protocol),
                    tuning=sweep,
                    ingredients=soup,
                )
            )
    return out


AXES = ("second_rate", "knob")  # the axes besides the rate, in the design's order


def at_point(player: Player, axes) -> Player:
    """The player with its strategy's options set to a point's knob and second rate ((kind, field, value) each)."""
    if not axes:
        return player
    strategy = type(player.strategy).model_validate({**player.strategy.model_dump(), **{f: v for _, f, v in axes}})
    return player.model_copy(update={"strategy": strategy})


def sweep_identity(config: Config, player: Player) -> dict:
    """What a final job's identity holds of the sweep that chose its point: the player's rate axis (and its knob's
    and second rate's values), the trials' epochs (None: the finals') and the tuning seeds. The older form (a
    shared list with explicit seeds) gives the identity it always did."""
    spec = config.tuned()
    grid = sweep_for(spec, player)
    out: dict[str, Any] = {
        "learning_rates": list(grid.axes[0].values),
        "epochs": spec.epochs,
        "seeds": list(tuning_seeds(config)),
    }
    for axis in grid.axes[1:]:
        out[axis.kind] = {"field": axis.field, "values": list(axis.values)}
    return out if spec.p is None else {**out, "trials": spec.size}


def plan_tuning(config: Config, data_sha256: dict[str, str], player: str, teacher_hashes: dict) -> list[Job]:
    """One player's trials: every point of its sweep (``plan.grid``) with every tuning seed, train and dev only,
    with the finals' epochs unless tuning.epochs says otherwise. A soup runs none (its final jobs train its
    sweep)."""
    spec, p = config.tuned(), next(x for x in config.players if x.name == player)
    if type(p.strategy).in_job_sweep:
        return []
    grid, out = sweep_for(spec, p), []
    for values in grid.points:
        axes = tuple((a.kind, a.field, v) for a, v in zip(grid.axes[1:], values[1:]))
        trial = at_point(p, axes)
        for seed in tuning_seeds(config):
            update = {
                "learning_rate": values[0],
                "seed": seed,
                "data_seed": None,
                **({"epochs": spec.epochs} if spec.epochs else {}),
            }
            protocol = config.protocol_for(p).model_copy(update=update)
            ident = {**identity(trial, protocol, config.data, data_sha256), "kind": Trial.name}
            if (teacher := p.strategy.teacher_name()) is not None:
                ident["teacher"] = teacher_hashes.get((teacher, seed, None))
            out.append(
                Job(
                    config.tournament.name,
                    trial,
                    protocol,
                    config.data,
                    ident,
                    hash_of(ident),
                    dict(p.protocol),
                    kind=Trial,
                    axes=axes,
                )
            )
    return out
