"""The tuning budget's table (``[tuning]``, version 2) and each player's sweep under it.

What the sweep is, axis by axis and point by point, is ``plan.grid``'s docstring; here is the config that
sets it, the checks that keep it equal for every player, and ``sweep_for``, which builds one player's
points. No torch here.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator, model_validator

from tuneoff.options import FloatTuple, IntTuple, Options, _list_to_tuple
from tuneoff.plan.grid import Axis, Sweep, log_grid, per_axis, pick, rate_axis, sweep

KnobValues = Annotated[tuple[int | float, ...], BeforeValidator(_list_to_tuple)]


def distinct_seeds(seeds: tuple[int, ...]) -> tuple[int, ...]:
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers >= 0 (got {list(seeds)})")
    return seeds


def _rates(rates: tuple[float, ...] | None) -> tuple[float, ...] | None:
    if rates is not None and (any(not 0 < r <= 1 for r in rates) or len(set(rates)) != len(rates)):
        raise ValueError(f"learning rates must be distinct and in (0, 1] (got {list(rates)})")
    return rates


class PlayerGrid(Options):
    """One player's own values for an axis of its sweep, replacing the rule's (as many as the rule's)."""

    learning_rates: FloatTuple | None = Field(None, min_length=2, description="its rate axis")
    knob: KnobValues | None = Field(None, min_length=2, description="its strategy knob's values (p of them)")
    second_rates: FloatTuple | None = Field(None, min_length=2, description="its second rate's axis (p of them)")

    @field_validator("learning_rates", "second_rates")
    @classmethod
    def _distinct(cls, rates):
        return _rates(rates)

    @field_validator("knob")
    @classmethod
    def _distinct_values(cls, values):
        if values is not None and len(set(values)) != len(values):
            raise ValueError(f"knob values must be distinct (got {list(values)})")
        return values


class Tuning(Options):
    """A fair tuning budget (version 2): every player gets the same number of trials per tuning seed, spent on
    its strategy's axes (the rate, its knob, its second rate; see ``plan.grid``), each trial with the finals'
    epochs and schedule on train and dev only (the test split is never read); the point with the best mean dev
    accuracy over at least 2 tuning seeds is kept, and the player's seeds run at it."""

    trials: int = Field(
        9,
        ge=9,
        le=225,
        description="trials per player and tuning seed: p² with p odd (9, 25, 49): "
        "p rates x p knob values, or p² rates for a strategy with the rate alone",
    )
    span: float = Field(
        5.0,
        gt=1.0,
        le=10.0,
        description="factor between neighbouring rates of a p-point rate "
        "axis; a player tuning the rate alone gets p² rates over the same range",
    )
    points: int | None = Field(None, exclude=True, description="version 1's key, refused with the new form")
    learning_rates: FloatTuple | None = Field(
        None,
        min_length=2,
        description="the older form: one list every player tries, the rate alone (no knob or "
        "second rate crossed): the equal, not the fair, budget",
    )
    players: dict[str, PlayerGrid] = Field(default_factory=dict, description="a player's own values for an axis")
    epochs: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="epochs per trial; unset = the finals' epochs "
        "(the fair setting: any other value changes the schedule, and the run warns)",
    )
    seeds: IntTuple = Field(
        (),
        description="tuning seeds, at least 2 (the choice is the mean over them); empty = "
        "the tournament's first two seeds",
    )

    @field_validator("points")
    @classmethod
    def _version_one(cls, points):
        if points is not None:
            raise ValueError(
                f"points = {points} was version 1's budget (rates per player, the rate alone); version 2 "
                "counts trials per player and tuning seed: trials = 9 (3 rates x 3 knob values, or 9 "
                "rates), 25 or 49 (see docs/guides/configs.md, A fair tuning budget)"
            )
        return points

    @field_validator("trials")
    @classmethod
    def _square(cls, trials):
        per_axis(trials)
        return trials

    @field_validator("seeds")
    @classmethod
    def _two_or_more(cls, seeds):
        distinct_seeds(seeds)
        if len(seeds) == 1:
            raise ValueError(
                f"seeds = {list(seeds)}: the choice is the mean dev accuracy over at least 2 tuning "
                "seeds; give two or more, or leave it empty for the tournament's first two"
            )
        return seeds

    @field_validator("learning_rates")
    @classmethod
    def _shared(cls, rates):
        return _rates(rates)

    @model_validator(mode="after")
    def _one_grid_rule(self):
        both = sorted({"trials", "span"} & self.model_fields_set)
        if self.learning_rates is not None and both:
            raise ValueError(
                f"tuning.learning_rates is one shared list; it cannot go with {both} (each strategy's "
                "own sweep): choose one"
            )
        crossed = sorted(
            f"tuning.players.{n}.{k}"
            for n, g in self.players.items()
            for k in ("knob", "second_rates")
            if getattr(g, k) is not None
        )
        if self.learning_rates is not None and crossed:
            raise ValueError(
                f"tuning.learning_rates (the older form) tunes the rate alone; {crossed} need the "
                "version 2 sweep (tuning.trials): choose one"
            )
        return self

    @property
    def p(self) -> int | None:
        """Points per axis; None for the older form (one shared list)."""
        return None if self.learning_rates is not None else per_axis(self.trials)

    @property
    def size(self) -> int:
        """How many trials every player runs per tuning seed."""
        return len(self.learning_rates) if self.learning_rates is not None else self.trials


def sweep_for(tuning: Tuning, player) -> Sweep:
    """The points ``player`` tries: each axis from its own list, else the rule (see ``plan.grid``)."""
    cls, own = type(player.strategy), tuning.players.get(player.name) or PlayerGrid()
    if tuning.learning_rates is not None:  # the older form (p is None): one shared list
        rates = own.learning_rates or tuning.learning_rates
        where = "its own list" if own.learning_rates else "the shared list (tuning.learning_rates)"
        return sweep((Axis("learning_rate", "learning_rate", tuple(sorted(rates)), where),), None)
    p, others = per_axis(tuning.trials), []  # tuning.p, version 2's
    if (second := cls.second_rate) is not None:
        values = own.second_rates or log_grid(second.centre, p, tuning.span)
        where = "its own list" if own.second_rates else f"{p} rates x{tuning.span:g} apart around {second.centre:g}"
        others.append(Axis("second_rate", second.field, tuple(sorted(values)), f"{where} ({second.source})"))
    if (knob := cls.knob) is not None:
        values = own.knob or pick(knob.values, p)
        where = "its own list" if own.knob else f"{p} of {list(knob.values)}"
        others.append(Axis("knob", knob.field, tuple(sorted(values)), f"{where} ({knob.source})"))
    rates = own.learning_rates or rate_axis(cls.default_lr, p, tuning.span, alone=not others)
    where = (
        "its own list"
        if own.learning_rates
        else (
            f"{len(rates)} rates from {min(rates):g} to {max(rates):g} around {player.strategy.name}'s published "
            f"{cls.default_lr:g}"
        )
    )
    return sweep((Axis("learning_rate", "learning_rate", tuple(sorted(rates)), where), *others), p)


def expected_lengths(tuning: Tuning, player) -> dict[str, int]:
    """How long each of a player's own lists must be: the rate axis p (p² when the rate is its only axis, the
    shared list's length in the older form), the knob and the second rate p each."""
    cls = type(player.strategy)
    if tuning.p is None:
        return {"learning_rates": tuning.size}
    alone = cls.knob is None and cls.second_rate is None
    return {"learning_rates": tuning.p**2 if alone else tuning.p, "knob": tuning.p, "second_rates": tuning.p}


def check_tuning(tuning: Tuning, players, overridable) -> None:
    """Every player's sweep: its own lists name a player and an axis it has, and are as long as the rule's;
    its knob values are valid options; no rate above 1; the same number of trials for all."""
    if "learning_rate" in overridable:
        raise ValueError("[tuning] chooses each player's learning rate; remove learning_rate from overridable")
    names = {p.name: p for p in players}
    for name, own in tuning.players.items():
        if name not in names:
            raise ValueError(f"tuning.players.{name}: no such player; players: {list(names)}")
        _check_own(tuning, names[name], own)
    for p in players:
        try:
            grid = sweep_for(tuning, p)
        except ValueError as err:  # a declared knob with fewer values than the axis needs
            knob = type(p.strategy).knob
            raise ValueError(
                f"player {p.name!r}: {p.strategy.name}'s knob {knob.field} declares {err}; give "
                f"tuning.players.{p.name}.knob = [...] ({tuning.p} values)"
            ) from None
        for axis in grid.axes:
            _check_axis(tuning, p, axis)
        if len(grid.points) != tuning.size:  # pragma: no cover - the design guarantees it
            raise AssertionError(f"{p.name}: {len(grid.points)} points, not {tuning.size}")


def _check_own(tuning: Tuning, player, own: PlayerGrid) -> None:
    cls, lengths = type(player.strategy), expected_lengths(tuning, player)
    for key in ("learning_rates", "knob", "second_rates"):
        values = getattr(own, key)
        if values is None:
            continue
        if (key == "knob" and cls.knob is None) or (key == "second_rates" and cls.second_rate is None):
            raise ValueError(
                f"tuning.players.{player.name}.{key}: {player.strategy.name} declares no "
                f"{'knob' if key == 'knob' else 'second rate'}"
            )
        if len(values) != lengths[key]:
            raise ValueError(
                f"tuning.players.{player.name}.{key} has {len(values)} values; this player's sweep "
                f"needs {lengths[key]} (tuning.trials = {tuning.trials}: the same number of trials "
                "for all)"
            )


def _check_axis(tuning: Tuning, player, axis: Axis) -> None:
    if len(set(axis.values)) != len(axis.values):
        raise ValueError(
            f"player {player.name!r}: its {axis.kind} axis repeats a value after rounding to 3 "
            f"digits ({list(axis.values)}); raise tuning.span"
        )
    if axis.kind == "knob":
        cls = type(player.strategy)
        for value in axis.values:
            try:
                cls.model_validate({**player.strategy.model_dump(), axis.field: value})
            except ValueError as err:
                first = str(err).splitlines()[-1].strip() if str(err) else ""
                raise ValueError(
                    f"player {player.name!r}: knob {axis.field} = {value!r} is not a valid "
                    f"{player.strategy.name} option ({first})"
                ) from None
    elif max(axis.values) > 1:
        own = "learning_rates" if axis.kind == "learning_rate" else "second_rates"
        raise ValueError(
            f"player {player.name!r}: its {axis.kind} axis reaches {max(axis.values):g} ({axis.source}), "
            f"above the limit of 1; lower tuning.span, or give it tuning.players.{player.name}.{own}"
        )
