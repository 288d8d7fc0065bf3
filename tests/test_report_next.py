"""What the board and the report add after the tournament: the board as CSV, a pairwise matrix shaded by
significance, the per-step loss, a player legend, the next steps, and why every player collapsed."""

from __future__ import annotations

import csv
import io
import json

import pytest
from factories import completed, confusion
from test_report import make_run, make_seeded_run, minimal_tournament

from tuneoff.cli import main
from tuneoff.report import views
from tuneoff.report.build import build_report
from tuneoff.report.figures import looks
from tuneoff.report.figures_seeds import SIGNIFICANCE_CAP, significance
from tuneoff.store.runfolder import RunFolder
from tuneoff.verdict import stats
from tuneoff.verdict.advice import needed_accuracy
from tuneoff.verdict.board import read_run


def test_the_leaderboard_stage_writes_the_board_as_csv(tmp_path):
    folder = make_run(tmp_path / "run")
    main(["leaderboard", str(folder)])
    rows = list(csv.DictReader(io.StringIO((folder / "leaderboard.csv").read_text())))
    board = json.loads((folder / "leaderboard.json").read_text())
    assert [r["player"] for r in rows] == [r["player"] for r in board["ranked"]] + ["broken"]
    first = rows[0]
    assert float(first["test_accuracy"]) == pytest.approx(board["ranked"][0]["test_accuracy"])
    assert (first["rank"], first["may_be_best"], first["status"]) == ("1", "True", "completed")
    assert (rows[-1]["status"], rows[-1]["test_accuracy"]) == ("failed", "")
    assert "leaderboard.csv" in json.loads((folder / "manifest.json").read_text())["generated"]


def test_pairwise_shading_is_significance_not_gap():
    assert significance(1.0) == 0.0
    assert significance(1e-9) == SIGNIFICANCE_CAP
    assert significance(0.001) == pytest.approx(3.0)
    assert significance(0.04) > significance(0.5)  # a small significant gap is darker than a large doubtful one


def test_the_report_plots_the_loss_per_step_and_ends_with_next_steps(tmp_path):
    folder = make_run(tmp_path / "run")
    md = build_report(folder)["md"].read_text()
    assert "(figures/step-losses.png)" in md and (folder / "figures" / "step-losses.png").is_file()
    steps = md[md.index("## Next steps") :]
    assert "tuneoff export run --player full --to models/full" in steps
    assert "tuneoff predict run --player full 'a gripping, beautifully acted film'" in steps
    assert "tuneoff track run --to mlflow" in steps
    # one seed each: the command that adds seeds to this run
    assert "tuneoff run unit.toml --out run --data-dir /data --set 'tournament.seeds=[42, 43, 44]'" in steps
    assert "leaderboard.csv" in steps


def test_the_interactive_cost_chart_names_the_players(tmp_path):
    run = read_run(make_seeded_run(tmp_path / "run", 3, 2))
    spec = views.pareto(views.jobs(run.board["ranked"], run.completed), looks(run.names))
    assert spec["hconcat"][0]["encoding"]["color"]["legend"]["title"] == "player"


def test_needed_accuracy_is_the_least_count_the_binomial_test_accepts():
    from scipy.stats import binom

    for n, rate in ((100, 0.3), (400, 0.2865), (2210, 0.2865)):
        k = round(needed_accuracy(n, rate) * n)
        assert binom.sf(k - 1, n, rate) < stats.ALPHA <= binom.sf(k - 2, n, rate)


def test_when_every_player_collapses_the_board_says_why_and_what_to_change(tmp_path, capsys):
    minimal_tournament(tmp_path, ["a", "b"])
    for name in ("a", "b"):  # every prediction in the majority class: 30 of 100
        result = completed(name, confusion([0, 0, 30, 0, 0], to=2), 5.0, 100)
        result["data"].update(max_train=800, max_eval=100, test_sample="a fixed random 100 (seed 0)")
        RunFolder(tmp_path).job(name, "seed-42").write_result(result)
    assert main(["leaderboard", str(tmp_path)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    md = (tmp_path / "leaderboard.md").read_text()
    for text in (out, md):
        assert (
            "Why every player collapsed: each trained 150 optimizer steps (3 epochs over 800 training sentences)"
            in text
        )
        assert "on 100 test sentences a player must reach 39.0% (the majority-class rate 30.0% plus 9.0 points)" in text
        assert (
            "What to change: more steps (protocol.epochs, now 3); more training sentences (data.max_train, now "
            "800); a learning rate that moves the loss (protocol.learning_rate, now 5e-05); more test sentences "
            "(data.max_eval, now 100"
        ) in text
        assert 'a pretrained model (e.g. model = { kind = "minilm" })' in text  # their models are random
    steps = build_report(tmp_path)["md"].read_text().split("## Next steps")[1]
    assert "tuneoff export" not in steps and "No player learned anything" in steps


def test_a_board_with_a_healthy_player_gives_no_collapse_advice(tmp_path):
    folder = make_run(tmp_path / "run")
    assert not any(n.startswith("Why every player collapsed") for n in read_run(folder).board["notes"])


def test_the_advice_names_only_the_settings_that_apply():
    from tuneoff.verdict.advice import collapse_advice

    result = completed("a", confusion([0, 0, 30, 0, 0], to=2), 5.0, 100)  # whole splits, a random model
    result["player"]["model"] = {"kind": "minilm"}
    note = collapse_advice({"ranked": [{"collapsed": True}]}, [result])
    assert "data.max_eval" not in note and "data.max_train" not in note and "pretrained" not in note
    assert note.endswith("a learning rate that moves the loss (protocol.learning_rate, now 5e-05).")
    assert collapse_advice({"ranked": [{"collapsed": False}]}, [result]) is None
