"""The report's last words: what to do with this run, as commands ready to paste (shell-quoted).

Commands name the run folder by its name, as typed in the folder that holds it. Export the best player
and label sentences with it, send the jobs to an experiment tracker, open the
board as CSV; when the players cannot be separated, the command that adds seeds; when every player
collapsed, the board's own advice (verdict.advice) and no export. No torch.
"""

from __future__ import annotations

import shlex

from tuneoff.report.render import Block
from tuneoff.verdict.board import Run

ANCHOR = "next-steps"
EXAMPLE = "a gripping, beautifully acted film"  # a sentence to label: any text will do


def _rerun(run: Run, seeds: str) -> str:
    """The command that plays this tournament again into the same folder with other settings."""
    config = run.meta.get("config_file") or "CONFIG.toml"
    data_dir = next((r.get("data", {}).get("dir") for n in run.names for r in run.completed(n)), None)
    words = ["tuneoff", "run", config, "--out", run.folder.path.name]
    if data_dir and not (run.config or {}).get("data", {}).get("dir"):
        words += ["--data-dir", data_dir]
    return shlex.join(words + ["--set", f"tournament.seeds={seeds}"])


def next_steps(run: Run) -> list[Block]:
    board, folder = run.board, run.folder.path.name  # the report says the same whatever folder holds the run
    ranked = board["ranked"]
    b = [Block("h2", "Next steps", anchor=ANCHOR)]
    healthy = [r for r in ranked if not r["collapsed"]]
    if not healthy:
        b.append(
            Block(
                "warn",
                "No player learned anything here, so there is nothing worth exporting yet: change "
                "the settings the board names and run the tournament again."
                if ranked
                else "No player has completed yet.",
            )
        )
        return b
    best = (board["may_be_best"] or [healthy[0]["player"]])[0]
    b.append(
        Block(
            "p",
            f"Export {best} (the first player that may be best) as a transformers model folder with a "
            "model card, label sentences with it, or send every job to an experiment tracker (from the "
            f"folder that holds {folder}):",
        )
    )
    b.append(
        Block(
            "code",
            rows=[
                shlex.join(["tuneoff", "export", folder, "--player", best, "--to", f"models/{best}"]),
                shlex.join(["tuneoff", "predict", folder, "--player", best, EXAMPLE]),
                shlex.join(["tuneoff", "track", folder, "--to", "mlflow"]),
            ],
        )
    )
    if len(board["may_be_best"]) > 1 or len(healthy[0]["seeds"]) < 2:
        seeds = sorted({s for r in ranked for s in r["seeds"]})
        more = seeds + [max(seeds) + i for i in range(1, 1 + (3 - len(seeds) if len(seeds) < 3 else 2))]
        why = (
            f"{len(board['may_be_best'])} players cannot be separated"
            if len(board["may_be_best"]) > 1
            else "one seed per player does not measure how much a result moves from seed to seed"
        )
        b.append(
            Block("p", f"{why.capitalize()}: more seeds give the test more to go on (the jobs already done are kept):")
        )
        b.append(Block("code", rows=[_rerun(run, "[" + ", ".join(map(str, more)) + "]")]))
    b.append(
        Block(
            "p",
            "The board as a table for a spreadsheet or pandas: leaderboard.csv, beside leaderboard.json "
            "in the run folder.",
        )
    )
    return b
