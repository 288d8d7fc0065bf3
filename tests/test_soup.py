"""Model soups (Wortsman et al. 2022), pinned against the paper's equations: the uniform soup is the mean of the
ingredients' weights; the greedy soup (Recipe 1) tries the ingredients best-on-dev first and keeps one only if
the soup's dev accuracy does not drop. A soup's final job trains each ingredient as the run at its rate alone
would be, and keeps the soup the strategy chose."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from conftest import TINY_CONFIG

from tuneoff.data import load_sst5
from tuneoff.plan.jobs import plan
from tuneoff.plan.loading import load_config
from tuneoff.run.lifecycle import play
from tuneoff.run.soup import cook
from tuneoff.run.task import Task, prepare
from tuneoff.store.record import Final
from tuneoff.store.runfolder import RunFolder
from tuneoff.strategies import STRATEGIES, Soup
from tuneoff.strategies.soup import greedy_soup, uniform_soup
from tuneoff.training.batching import encode
from tuneoff.training.loop import train

SOUP = (
    TINY_CONFIG.replace('overridable = ["learning_rate"]', "overridable = []")
    .replace("protocol = { learning_rate = 5e-3 }", "")
    .replace("fastest_bonus = 10.0", "fastest_bonus = 10.0\nseeds = [7, 8, 9]")
)
SOUP += (
    '\n[[players]]\nname = "soup"\nmodel = { kind = "random", size = "tiny" }\nstrategy = { name = "soup" }\n'
    "\n[tuning]\nepochs = 1\n"
)
SHA = {"train": "a", "dev": "b", "test": "c"}


def _state(**weights) -> dict:
    return {k: torch.tensor(v, dtype=torch.float32) for k, v in weights.items()}


def test_the_uniform_soup_is_the_mean_of_the_ingredients():
    states = [
        {**_state(w=[[1.0, 2.0], [3.0, 4.0]], b=[0.5]), "ids": torch.tensor([0, 1])},
        {**_state(w=[[3.0, 0.0], [1.0, 8.0]], b=[1.5]), "ids": torch.tensor([0, 1])},
        {**_state(w=[[2.0, 1.0], [5.0, 0.0]], b=[-2.0]), "ids": torch.tensor([0, 1])},
    ]
    soup = uniform_soup(states)
    # theta = (1/k) sum_i theta_i, entry by entry, written out
    assert soup["w"].tolist() == [[(1 + 3 + 2) / 3, (2 + 0 + 1) / 3], [(3 + 1 + 5) / 3, (4 + 8 + 0) / 3]]
    assert soup["b"].tolist() == pytest.approx([(0.5 + 1.5 - 2.0) / 3])
    assert soup["ids"].tolist() == [0, 1] and soup["ids"].dtype == torch.int64  # integer buffers are not averaged
    assert states[0]["w"].tolist() == [[1.0, 2.0], [3.0, 4.0]]  # the ingredients are left as they were


def test_the_greedy_soup_keeps_an_ingredient_only_if_dev_does_not_drop():
    """Ingredients A, B, C, D (one weight each) with their own dev accuracies 0.80, 0.70, 0.75, 0.60; the dev
    accuracy of a soup is looked up from its weight. Recipe 1 by hand: start from A (the best, 0.80); C next
    (0.75): the soup (A + C) / 2 = 0 scores 0.78, a drop, so C stays out; B: (A + B) / 2 = 2 scores 0.80, no
    drop, B joins; D: (A + B + D) / 3 = 3 scores 0.83, D joins."""
    states = [_state(w=[1.0]), _state(w=[3.0]), _state(w=[-1.0]), _state(w=[5.0])]
    accuracies = [0.80, 0.70, 0.75, 0.60]
    dev = {1.0: 0.80, 0.0: 0.78, 2.0: 0.80, 3.0: 0.83}
    scored = []

    def score(state):
        scored.append(state["w"].item())
        return dev[state["w"].item()]

    soup, kept, accuracy, tries = greedy_soup(states, accuracies, score)
    assert kept == [0, 1, 3] and soup["w"].item() == 3.0 and accuracy == 0.83
    assert tries == [0.78, 0.80, 0.83] and scored == [1.0, 0.0, 2.0, 3.0]  # best first, then by dev accuracy


def test_the_soup_strategy_scores_both_soups_and_keeps_its_modes():
    states = [_state(w=[1.0]), _state(w=[3.0]), _state(w=[-1.0])]

    def score(state):
        return {1.0: 0.8, 2.0: 0.9}[round(state["w"].item(), 6)]  # the soups of A, of A + B, of all three

    for mode, weight in (("greedy", 2.0), ("uniform", 1.0)):
        soup, report = Soup(mode=mode).combine(states, [0.8, 0.7, 0.6], score)
        assert soup["w"].item() == pytest.approx(weight)
        assert report["uniform_dev_accuracy"] == 0.8 and report["greedy_dev_accuracy"] == 0.9
        assert report["greedy_ingredients"] == [0, 1] and report["mode"] == mode
        assert report["dev_accuracy"] == (0.9 if mode == "greedy" else 0.8)


def test_soup_is_registered_and_trains_its_sweep_in_its_final_jobs():
    cls = STRATEGIES["soup"]
    assert cls is Soup and cls.in_job_sweep and cls.knob is None and cls.second_rate is None
    assert cls.model_validate(cls.example).mode == "uniform" and cls().mode == "greedy"


@pytest.fixture
def soup_task(tmp_path, tree_dir):
    (tmp_path / "t.toml").write_text(SOUP)
    config = load_config(tmp_path / "t.toml")
    job = next(j for j in plan(config, SHA) if j.name == "soup" and j.seed == 7)
    assert len(job.ingredients) == 4  # (2 x 9 trials of 1 epoch + 3 finals of 2) // (3 x 2)
    job = replace(job, ingredients=job.ingredients[1:3])  # two are enough here
    dataset = load_sst5(tree_dir, verify=False)
    run = RunFolder(tmp_path / "run")
    return Task(job, (dataset, []), run.job("soup", job.label), run)


def _sets(task, prepared):
    return [encode(prepared.tokenizer, s.texts, s.labels, prepared.protocol.max_seq_len) for s in prepared.splits[:2]]


def test_each_ingredient_is_the_run_at_its_rate_and_the_model_keeps_the_soup(soup_task, monkeypatch):
    seen = {}

    def combine(self, states, accuracies, score):  # what the strategy is handed; keeps the uniform soup
        seen.update(states=states, accuracies=accuracies, dev=[score(s) for s in states])
        return uniform_soup(states), {"mode": "uniform"}

    monkeypatch.setattr(Soup, "combine", combine)
    job, labels = soup_task.job, soup_task.data[0].labels
    prepared = prepare(soup_task, Final.fresh(job, labels), print)
    train_set, dev_set = _sets(soup_task, prepared)
    trained = cook(prepared.model, job, train_set, dev_set, prepared.protocol, prepared.device, setup=prepared.setup)
    states = seen["states"]
    mean = uniform_soup(states)
    assert all(torch.equal(v, mean[k]) for k, v in prepared.model.state_dict().items())  # the kept soup
    assert not torch.equal(states[0]["classifier.weight"], states[1]["classifier.weight"])
    assert seen["accuracies"] == seen["dev"]  # what training recorded is what scoring the weights gives
    assert [i["learning_rate"] for i in trained.report["ingredients"]] == list(job.ingredients)
    assert trained.train_seconds == pytest.approx(sum(i["train_seconds"] for i in trained.report["ingredients"]))
    for rate, state in zip(job.ingredients, states):  # each ingredient: the run a final job at its rate would be
        alone = replace(job, ingredients=(), protocol=job.protocol.model_copy(update={"learning_rate": rate}))
        other = prepare(replace(soup_task, job=alone), Final.fresh(alone, labels), print)
        train(
            other.model,
            train_set,
            dev_set,
            other.protocol,
            other.device,
            strategy=job.player.strategy,
            setup=other.setup,
        )
        assert all(torch.equal(v, state[k]) for k, v in other.model.state_dict().items())


def test_a_soup_final_job_records_its_ingredients_and_keeps_the_soup(soup_task):
    from tuneoff.console import make_console

    result = play(soup_task, make_console(), live=False)
    assert result["status"] == "completed" and result["player"]["strategy"] == {"name": "soup", "mode": "greedy"}
    report = result["strategy_report"]
    assert report["mode"] == "greedy" and report["dev_accuracy"] == report["greedy_dev_accuracy"]
    assert [i["learning_rate"] for i in report["ingredients"]] == list(soup_task.job.ingredients)
    assert result["timing"]["train_seconds"] == pytest.approx(sum(i["train_seconds"] for i in report["ingredients"]))
    assert result["job"]["tuning"]["ingredients"] == [6e-6, 1.75e-5, 5.13e-5, 1.5e-4]
    assert soup_task.folder.checkpoint_missing(result) is None
