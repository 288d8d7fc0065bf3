"""Model soups (Wortsman et al. 2022): the weights of several models fine-tuned from the same start with
different hyper-parameters, averaged into one model of the same size.

The soup's ingredients are its own sweep: full fine-tuning at several learning rates, each from the same
pretrained weights and the same fresh head (the job's seed). Which rates, and why the soup's compute
equals a tuned player's, is ``plan.grid``'s docstring; the final job trains them one after the other
(``run.soup``) and hands their best-on-dev weights to ``Soup.combine``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, Literal

from pydantic import Field

from tuneoff.strategies.base import STRATEGIES
from tuneoff.strategies.subsets import Full


def _averaged(state: dict) -> list[str]:
    """The entries a soup averages: every floating-point tensor (integer buffers such as position ids are kept)."""
    return [k for k, v in state.items() if v.is_floating_point()]


def uniform_soup(states: list[dict]) -> dict:
    """The uniform soup: every floating-point weight the mean of the ingredients' (Wortsman et al. 2022, §2:
    theta = (1/k) sum_i theta_i); other entries as the first ingredient has them."""
    import torch

    out = dict(states[0])
    for key in _averaged(states[0]):
        out[key] = torch.stack([s[key].float() for s in states]).mean(0).to(states[0][key].dtype)
    return out


def greedy_soup(states: list[dict], accuracies: list[float], score: Callable[[dict], float]):
    """The greedy soup (Wortsman et al. 2022, §2, Recipe 1): the ingredients sorted by their own dev accuracy,
    best first; the soup starts as the best one, and each next ingredient joins if the uniform soup of the
    soup's ingredients and it scores on dev at least as well as the soup without it (no drop: ties join).

    ``score(state)`` is the dev accuracy of a model holding ``state``. Returns (the soup's state, the indices
    of its ingredients in the order they joined, its dev accuracy, the dev accuracy of each try in order)."""
    order = sorted(range(len(states)), key=lambda i: (-accuracies[i], i))
    kept, best = [order[0]], score(states[order[0]])
    tries = []
    for i in order[1:]:
        accuracy = score(uniform_soup([states[j] for j in (*kept, i)]))
        tries.append(accuracy)
        if accuracy >= best:
            kept.append(i)
            best = accuracy
    return uniform_soup([states[j] for j in kept]), kept, best, tries


@STRATEGIES.register
class Soup(Full):
    """Model soups (Wortsman et al. 2022, "Model soups"): the final job fine-tunes every weight (as ``full``) at
    each of its sweep's learning rates, from the same pretrained weights and fresh head, keeps each run's best
    epoch, and averages them: all of them (``mode = "uniform"``), or greedily, best on dev first, each kept only if
    the soup's dev accuracy does not drop (``"greedy"``, the paper's recommended recipe). Both soups are scored on
    dev and recorded (strategy_report); the mode's is tested and saved. It runs no tuning trials: its sweep is its
    ingredients, trained in each final job (see ``plan.grid`` for their number and the equal budget). Deviation:
    the paper's ingredients also vary weight decay, augmentation and epochs; here they vary the learning rate
    alone, the one axis every player's sweep shares. Needs a [tuning] table."""

    example: ClassVar[dict] = {"mode": "uniform"}
    name: Literal["soup"] = "soup"  # type: ignore[assignment]  # a subclass, its own name
    # The ingredients are full fine-tuning runs, so their rates are spread around full's (Devlin et al. 2019, App.
    # A.3: 2e-5..5e-5), the range Wortsman et al. also sweep when they soup fine-tuned BERT text classifiers.
    default_lr: ClassVar[float] = Full.default_lr
    in_job_sweep: ClassVar[bool] = True
    mode: Literal["greedy", "uniform"] = Field(
        "greedy",
        description="greedy: add an ingredient, best on dev first, "
        "only if the soup's dev accuracy does not drop; uniform: average all",
    )

    def combine(self, states: list[dict], accuracies: list[float], score: Callable[[dict], float]):
        """(the soup to keep, what the result records): both soups scored on dev, the mode's kept."""
        uniform = uniform_soup(states)
        uniform_accuracy = score(uniform)
        greedy, kept, greedy_accuracy, tries = greedy_soup(states, accuracies, score)
        report = {
            "mode": self.mode,
            "uniform_dev_accuracy": uniform_accuracy,
            "greedy_dev_accuracy": greedy_accuracy,
            "greedy_ingredients": kept,
            "greedy_tries": tries,
            "dev_accuracy": greedy_accuracy if self.mode == "greedy" else uniform_accuracy,
        }
        return (greedy if self.mode == "greedy" else uniform), report
