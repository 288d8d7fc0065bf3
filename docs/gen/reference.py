"""References generated from the code: the command line (tuneoff.cli's argparse parser), the config's tables
(plan/config.py's pydantic models) and the registries (strategies, data sets, model sources: the same reading
of their pydantic models as ``tuneoff list``, plan/catalogue.py). Built-in entries only: plugins installed in
the environment that builds the docs are left out, so the pages are the same everywhere."""

from __future__ import annotations

import argparse

from pydantic import BaseModel

from tuneoff import cli
from tuneoff.data import DATASETS
from tuneoff.models.sources import SOURCES
from tuneoff.plan import budget
from tuneoff.plan import config as cfg
from tuneoff.plan.catalogue import config_entries, first_sentence, option
from tuneoff.plan.grid import log_grid, pick, rate_axis
from tuneoff.strategies import STRATEGIES

from gen.markdown import code, page, paragraphs, prose, table

# --- the command line ---------------------------------------------------------------------------------------


def _commands(ap: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of every subcommand, in the order the parser declares them."""
    sub = next(a for a in ap._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help or "" for a in sub._choices_actions}
    return [(name, helps.get(name, ""), p) for name, p in sub.choices.items()]


def _metavar(action: argparse.Action) -> str:
    if action.choices is not None and action.metavar is None:
        return "{" + ",".join(map(str, action.choices)) + "}"
    return action.metavar or action.dest.upper()


def _synopsis_part(action: argparse.Action) -> str:
    if not action.option_strings:
        word = _metavar(action)
        return f"{word} [{word} ...]" if action.nargs == "+" else word
    flag = action.option_strings[-1]
    text = flag if action.nargs == 0 else f"{flag} {_metavar(action)}"
    if action.required:
        return text
    return f"[{text}]..." if isinstance(action, argparse._AppendAction) else f"[{text}]"


def _wrapped(parts: list[str], width: int = 100) -> str:
    """The synopsis's parts on lines of at most ``width`` characters, continuation lines indented."""
    lines = [parts[0]]
    indent = " " * (len(parts[0]) + 1)
    for part in parts[1:]:
        if len(lines[-1]) + 1 + len(part) > width:
            lines.append(indent + part)
        else:
            lines[-1] += " " + part
    return "\n".join(lines)


def _arguments(p: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in p._actions if not isinstance(a, argparse._HelpAction)]


def _default(action: argparse.Action) -> str:
    if action.required or action.nargs == 0 or action.default in (None, [], argparse.SUPPRESS):
        return ""
    return str(action.default)


def _command_section(name: str, helptext: str, p: argparse.ArgumentParser) -> str:
    actions = _arguments(p)
    synopsis = _wrapped([f"tuneoff {name}"] + [_synopsis_part(a) for a in actions])
    rows = [
        [
            code(", ".join(a.option_strings) if a.option_strings else _metavar(a)),
            "" if not a.option_strings or a.nargs == 0 else code(_metavar(a)),
            "yes" if a.required or not a.option_strings else "",
            _default(a),
            a.help or "",
        ]
        for a in actions
    ]
    return f"## `tuneoff {name}`\n\n{helptext[:1].upper() + helptext[1:]}.\n\n```text\n{synopsis}\n```\n\n" + table(
        ["argument", "value", "required", "default", "meaning"], rows
    )


def cli_page() -> str:
    ap = cli.parser()
    commands = _commands(ap)
    overview = table(["command", "what it does"], [[code(f"tuneoff {n}"), h] for n, h, _ in commands])
    exits = (
        "Exit codes: 0 done; 1 some job failed or a file could not be written; 2 bad input (nothing "
        "was trained or written); 130 and 143 interrupted (Ctrl-C, SIGTERM)."
    )
    return page(
        "Command line",
        "the argparse parser in `tuneoff.cli`",
        prose(ap.description or ""),
        overview,
        *[_command_section(*c) for c in commands],
        exits,
    )


# --- the config's tables ------------------------------------------------------------------------------------

TABLES = [  # (TOML table, its model, what it is): the order a config is written in
    ("[tournament]", cfg.Tournament, "The rules: the run's name, the seeds, the game's bonus."),
    ("[protocol]", cfg.Protocol, None),
    (
        "[data]",
        None,
        "A registered data set by `name` (default `sst5`) with that data set's own options: see "
        "[Data sets](datasets.md).",
    ),
    ("[[eval]]", cfg.EvalSet, None),
    ("[tuning]", budget.Tuning, None),
    ("[tuning.players.NAME]", budget.PlayerGrid, None),
    (
        "[[players]]",
        cfg.Player,
        "`model` is a table naming a model source by `kind` (see [Models](models.md)); "
        "`strategy` one naming a strategy by `name` (see [Strategies](strategies.md)).",
    ),
]


def options_table(model: type[BaseModel], leave_out: str | None = None) -> str:
    rows = []
    for key, field in model.model_fields.items():
        if key == leave_out:
            continue
        o = option(key, field)
        rows.append(
            [code(o.name), code(o.type), code(o.default) if o.default != "required" else "required", o.description]
        )
    return table(["key", "type", "default", "meaning"], rows) if rows else "No options.\n"


def config_page() -> str:
    parts = [
        paragraphs(cfg.__doc__),
        'Every table is strict: an unknown key, a wrong type (`"1e-4"` is not a number, `true` is not an '
        "integer) or a value out of range is an error naming the file, the key and the valid choices.",
    ]
    for name, model, text in TABLES:
        doc = text if text or model is None else paragraphs(model.__doc__)
        parts.append(f"## `{name}`\n\n{doc}\n")
        if model is not None:
            parts.append(options_table(model))
    shipped = table(["name", "description"], [[code(e.name), e.description] for e in config_entries()])
    parts.append(
        "## Shipped configs\n\n`tuneoff run NAME` runs one of these (the files are in "
        "`src/tuneoff/configs/`).\n\n" + shipped
    )
    return page("Config reference", "the pydantic models in `tuneoff.plan.config` and the shipped configs", *parts)


# --- the registries ------------------------------------------------------------------------------------------


def _entry(registry, name: str, cls: type, extra: list[str]) -> str:
    lines = [f"## `{name}`\n", paragraphs(cls.__doc__), *extra]
    return "\n".join(lines) + "\n" + options_table(cls, leave_out=registry.key)


def _strategy_extra(cls) -> list[str]:
    knob, second = getattr(cls, "knob", None), getattr(cls, "second_rate", None)
    rates = rate_axis(cls.default_lr, 3, 5.0, alone=knob is None and second is None)
    lines = [
        f"Published learning rate (the rate axis' centre): `{cls.default_lr:g}`; the default sweep's rate axis "
        f"(9 trials, span 5): {', '.join(f'{r:g}' for r in rates)}.\n"
    ]
    if knob is not None:
        lines.append(
            f"Main knob: `{knob.field}` in {list(knob.values)}"
            + (f" ({knob.source})" if knob.source else "")
            + f"; the default sweep tries {list(pick(knob.values, 3))}.\n"
        )
    if second is not None:
        lines.append(
            f"Second rate: `{second.field}`, centred on `{second.centre:g}`"
            + (f" ({second.source})" if second.source else "")
            + f"; the default sweep tries {', '.join(f'{r:g}' for r in log_grid(second.centre, 3, 5.0))}.\n"
        )
    if getattr(cls, "passes_per_step", 1) != 1:
        lines.append(f"Forward and backward passes per step: {cls.passes_per_step}.\n")
    return lines


REGISTRIES = {  # page: (registry, title, how a config names an entry, extra lines per entry)
    "strategies": (STRATEGIES, "Strategies", '`[[players]] strategy = { name = "...", ... }`', _strategy_extra),
    "datasets": (
        DATASETS,
        "Data sets",
        '`[data] name = "..."` (and `[[eval]] dataset = { name = "..." }`)',
        lambda cls: [],
    ),
    "models": (SOURCES, "Model sources", '`[[players]] model = { kind = "...", ... }`', lambda cls: []),
}


def registry_page(kind: str) -> str:
    registry, title, how, extra = REGISTRIES[kind]
    entries = sorted(registry.items())
    overview = table(["name", "what it is"], [[code(n), first_sentence(c.__doc__)] for n, c in entries])
    intro = (
        f"A config names one with {how}. {len(entries)} built in; a package of your own adds more through the "
        f"`{registry.group}` entry point (see [the registries](../architecture.md#registries)). "
        f"`tuneoff list {kind}` prints the same, with plugins."
    )
    return page(
        title,
        f"the `{registry.group}` registry's pydantic models",
        intro,
        overview,
        *[_entry(registry, n, c, extra(c)) for n, c in entries],
    )


def pages() -> dict[str, str]:
    """Relative path under docs/ -> text."""
    out = {"reference/cli.md": cli_page(), "reference/config.md": config_page()}
    for kind in REGISTRIES:
        out[f"reference/{kind}.md"] = registry_page(kind)
    return out
