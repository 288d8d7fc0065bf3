"""The report's last section: protocol, data, hardware and software, warnings, failures. No torch."""

from __future__ import annotations

import json

from tuneoff.report.render import Badge, Block
from tuneoff.store.status import Status, Unrecorded

SETUP = "protocol-environment-warnings-and-failures"


def value(v) -> str:
    if isinstance(v, list):
        return ", ".join(map(value, v)) or "[]"
    if isinstance(v, dict):
        return ", ".join(f"{k}={value(x)}" for k, x in v.items()) or "none"
    return "–" if v is None else str(v)


def _groups(results: list[dict], key: str) -> list[tuple[list[str], dict]]:
    """Jobs sharing an identical record (data, environment), in order."""
    out: dict[str, tuple[list[str], dict]] = {}
    for r in results:
        if key in r:
            who = f"{r['player']['name']} seed {r['seed']}"
            out.setdefault(json.dumps(r[key], sort_keys=True), ([], r[key]))[0].append(who)
    return list(out.values())


def _data_rows(d: dict, labels: list[str]) -> list[list]:
    rows: list[list] = [
        [k, value(d[k])]
        for k in ("name", "source", "dir", "sizes", "test_sample", "train_probe_size", "max_train", "max_eval")
        if k in d
    ]
    rows.append(["checksums match", "yes" if d["checksums_ok"] else Badge("NO: not the published files", "warn")])
    rows.append(["test class counts", value(dict(zip(labels, d["test_class_counts"])))])
    rows.append(["test majority-class rate", f"{d['test_majority_rate']:.2%}"])
    return rows + [[f"sha256 {split}", digest] for split, digest in d["sha256"].items()]


def status_badge(status: str) -> Badge:
    kinds: dict[str, str] = {Unrecorded.UNREADABLE: Status.FAILED, Unrecorded.STALE: "warn"}
    kind = kinds.get(status, status)
    return Badge(
        status, kind if kind in (Status.FAILED, Status.INTERRUPTED, Status.RUNNING, "warn") else Unrecorded.MISSING
    )


def _who(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 8 else f"{', '.join(names[:8])} and {len(names) - 8} more"


def setup_section(run, job_states) -> list[Block]:
    results = [r for n in run.names for r in run.jobs.get(n, [])]
    b = [Block("h2", "Protocol, environment, warnings and failures", anchor=SETUP)]
    b += _protocol(run) + _data(run, results) + _environment(results) + _warnings(run, results)
    return b + _failures(run, job_states, results)


def _protocol(run) -> list[Block]:
    """The shared protocol, the seeds, and what each player overrides."""
    b = [Block("h3", "Protocol")]
    shared = (run.config or {}).get("protocol")
    if shared:
        b.append(
            Block(
                "table",
                headers=["setting", "shared value"],
                align="ll",
                rows=[[k, value(v)] for k, v in shared.items()],
            )
        )
    rules = run.tournament
    b.append(
        Block(
            "p",
            f"Seeds: {value(list(rules.get('seeds') or [shared.get('seed') if shared else None]))}"
            + (f"; data seeds: {value(list(rules['data_seeds']))}" if rules.get("data_seeds") else "")
            + f". Players may override: {value(rules.get('overridable', []))}.",
        )
    )
    b.append(
        Block(
            "table",
            headers=["player", "overrides", "resolved protocol differs from shared in"],
            align="lll",
            rows=[_overrides_row(run, n, shared) for n in run.names],
        )
    )
    return b


def _overrides_row(run, n: str, shared: dict | None) -> list:
    mine = run.jobs.get(n, [])
    player: dict = next((p for p in (run.config or {}).get("players", []) if p["name"] == n), {})
    overrides = mine[0]["overrides"] if mine else player.get("protocol", {})
    keys = sorted(
        {
            k
            for r in mine
            for k, v in r["protocol"].items()
            if shared and k not in ("seed", "data_seed") and shared.get(k) != v
        }
    )
    return [n, value(overrides), ", ".join(keys) if mine else "(no result)"]


def _data(run, results: list[dict]) -> list[Block]:
    b = [Block("h3", "Data")]
    if run.config and "data" in run.config:
        b.append(Block("p", f"Config: {value(run.config['data'])}."))
    for names, d in _groups(results, "data"):
        b.append(Block("p", f"Used by: {_who(names)}"))
        b.append(Block("table", headers=["", "value"], align="ll", rows=_data_rows(d, results[0]["labels"])))
    return b


def _environment(results: list[dict]) -> list[Block]:
    b = [Block("h3", "Hardware and software")]
    for names, env in _groups(results, "environment"):
        b.append(Block("p", f"Used by: {_who(names)}"))
        b.append(
            Block(
                "table",
                headers=["", "value"],
                align="ll",
                rows=[[f"{part}.{k}", value(v)] for part in ("hardware", "software") for k, v in env[part].items()],
            )
        )
    return b


def _warnings(run, results: list[dict]) -> list[Block]:
    warnings = [
        [f"{n}:", w] for n in run.names for w in dict.fromkeys(w for r in run.jobs.get(n, []) for w in r["warnings"])
    ]
    warnings += [
        [f"{r['player']['name']} seed {r['seed']}:", "data checksums do not match the published SST-5 files"]
        for r in results
        if not r.get("data", {}).get("checksums_ok", True)
    ]
    warnings += [
        [f"{r['player']['name']}:", f"results file written for tournament '{r['tournament']}'"]
        for r in results
        if run.tournament.get("name") not in (None, r["tournament"])
    ]
    warnings += [
        [f"{n}:", "results of a player or seed not in this tournament's config; left out"] for n in run.ignored
    ]
    return [Block("h3", "Warnings"), Block("list", rows=warnings) if warnings else Block("p", "None.")]


def _failures(run, job_states, results: list[dict]) -> list[Block]:
    b = [Block("h3", "Failures and missing jobs", anchor="failures-and-missing-jobs")]
    bad = [(n, label, s, why) for n in run.names for label, s, why in job_states(run, n) if s != Status.COMPLETED]
    if not bad:
        return b + [Block("p", "None: every job completed.")]
    by_label = {(r["player"]["name"], r["seed"], r["data_seed"]): r for r in results}
    times = {(n, label): by_label.get((n, *_parse(label)), {}) for n, label, _, _ in bad}
    b.append(
        Block(
            "table",
            headers=["player", "job", "status", "reason", "started", "ended"],
            align="llllll",
            row_ids=[n for n, *_ in bad],
            rows=[
                [
                    n,
                    label,
                    status_badge(s),
                    why,
                    times[(n, label)].get("started_at") or "–",
                    times[(n, label)].get("finished_at") or "–",
                ]
                for n, label, s, why in bad
            ],
        )
    )
    return b


def _parse(label: str) -> tuple[int, int | None]:
    parts = label.split("-")
    return int(parts[1]), (int(parts[3]) if len(parts) > 3 else None)
