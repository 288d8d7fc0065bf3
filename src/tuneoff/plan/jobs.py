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

from tuneoff.data import DatasetSpec
from tuneoff.plan.config import Config, Player, Protocol, grid_for, seed_pairs, teacher_order, tuning_seeds
from tuneoff.plan.grid import on_edge
from tuneoff.store.runfolder import seed_label, trial_label


@dataclass(frozen=True)
class Job:
    tournament: str
    player: Player
    protocol: Protocol  # resolved: shared protocol, the player's overrides, this job's seeds
    data: DatasetSpec
    identity: dict  # what the hash covers (see module docstring)
    job_hash: str
    overrides: dict
    kind: str = "final"  # or "tuning": train and dev only, never the test split, no checkpoint
    tuning: dict | None = None  # the sweep that chose this final job's learning rate

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
        if self.kind == "tuning":
            return trial_label(self.protocol.learning_rate, self.seed)
        return seed_label(self.seed, self.data_seed)


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
        "data": {**data.model_dump(mode="json", exclude=where), "sha256": dict(sorted(data_sha256.items())),
                 **({"classes": list(classes)} if classes is not None else {})},
    }


def hash_of(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def plan(config: Config, data_sha256: dict[str, str], chosen: dict[str, dict] | None = None) -> list[Job]:
    """Every final job: each player once per (seed, data seed), teachers before their students.

    With [tuning], ``chosen`` maps a player to its sweep ({"learning_rate": best, ...}); a player
    missing from it is not planned yet.
    """
    players = {p.name: p for p in config.players}
    out, hashes = [], {}
    for name in teacher_order(config.players):  # teachers first: a student's identity includes its teacher's
        player, sweep = players[name], (chosen or {}).get(name)
        if config.tuning and sweep is None:
            continue
        for seed, data_seed in seed_pairs(config):
            update = {"seed": seed, "data_seed": data_seed, **({"learning_rate": sweep["learning_rate"]} if sweep else {})}
            protocol = config.protocol_for(player).model_copy(update=update)
            ident = identity(player, protocol, config.data, data_sha256)
            if config.tuning:
                ident["tuning"] = sweep_identity(config, player)
            if (teacher := player.strategy.teacher_name()) is not None:
                ident["teacher"] = hashes.get((teacher, seed, data_seed))
            hashes[(name, seed, data_seed)] = hash_of(ident)
            out.append(Job(config.tournament.name, player, protocol, config.data, ident, hash_of(ident),
                           dict(player.protocol), tuning=sweep))
    return out


def sweep_identity(config: Config, player: Player) -> dict:
    """What a final job's identity holds of the sweep that chose its rate: the player's own grid, the trials'
    epochs (None: the finals') and seeds. A shared list gives the same identity it always did."""
    spec = config.tuning
    return {"learning_rates": list(grid_for(spec, player)), "epochs": spec.epochs, "seeds": list(spec.seeds)}


def plan_tuning(config: Config, data_sha256: dict[str, str], player: str, teacher_hashes: dict) -> list[Job]:
    """One player's trials: every learning rate of its grid with every tuning seed, train and dev only, with the
    finals' epochs unless tuning.epochs says otherwise."""
    spec, p = config.tuning, next(x for x in config.players if x.name == player)
    out = []
    for rate in grid_for(spec, p):
        for seed in tuning_seeds(config):
            update = {"learning_rate": rate, "seed": seed, "data_seed": None,
                      **({"epochs": spec.epochs} if spec.epochs else {})}
            protocol = config.protocol_for(p).model_copy(update=update)
            ident = {**identity(p, protocol, config.data, data_sha256), "kind": "tuning"}
            if (teacher := p.strategy.teacher_name()) is not None:
                ident["teacher"] = teacher_hashes.get((teacher, seed, None))
            out.append(Job(config.tournament.name, p, protocol, config.data, ident, hash_of(ident),
                           dict(p.protocol), kind="tuning"))
    return out


def choose(trials: list[dict]) -> dict:
    """The sweep's summary: mean best dev accuracy per learning rate, the best rate (ties: the smaller), and
    whether that rate is the grid's lowest or highest (``on_edge``: the best may lie beyond the grid)."""
    rates = sorted({t["learning_rate"] for t in trials})
    mean = {r: sum(t["best_dev_accuracy"] for t in trials if t["learning_rate"] == r) /
            sum(1 for t in trials if t["learning_rate"] == r) for r in rates}
    best = max(rates, key=lambda r: (mean[r], -r))
    return {"learning_rate": best, "learning_rates": rates, "dev_accuracy": [mean[r] for r in rates],
            "trials": len(trials), "metric": "best dev accuracy, mean over tuning seeds",
            "on_edge": on_edge(best, rates)}
