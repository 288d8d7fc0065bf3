"""A soup's final job: train each ingredient from the same start, then let the strategy combine them on dev.

Every ingredient starts from the weights the job built (the pretrained body and the seed's fresh head) and
the same random state, so each is the run a final job at its rate would be; its best-on-dev weights are kept
on the CPU. The strategy's ``combine`` scores soups on dev (never the test split) and says which to keep;
the kept soup is left in the model, which the final job then tests and saves like any other.
"""

from __future__ import annotations

from typing import Any

from tuneoff.plan.jobs import Job
from tuneoff.training.loop import Trained, evaluate_epoch, train


def cook(model, job: Job, train_set, dev_set, p, device, progress=None, probe=None, setup=None) -> Trained:
    """Train ``job.ingredients`` (one run per learning rate) and leave their soup in ``model``. The returned record
    holds the best ingredient's history (what the result's epochs show), the training time, samples and timed
    windows of all of them (the soup's cost), and what the soup recorded with every ingredient (``report``)."""
    import torch

    strategy: Any = job.player.strategy  # a soup's (in_job_sweep): its class brings ``combine``
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}
    cpu_random = torch.get_rng_state()
    cuda_random = torch.cuda.get_rng_state_all() if device.type == "cuda" else None
    runs: list[Trained] = []
    states: list[dict] = []
    for rate in job.ingredients:
        model.load_state_dict(start)
        torch.set_rng_state(cpu_random)
        if cuda_random is not None:
            torch.cuda.set_rng_state_all(cuda_random)
        if progress is not None:
            progress.console.print(f"  ingredient {len(runs) + 1}/{len(job.ingredients)}: learning rate {rate:g}")
        runs.append(
            train(
                model,
                train_set,
                dev_set,
                p.model_copy(update={"learning_rate": rate}),
                device,
                progress,
                probe=probe,
                strategy=strategy,
                setup=setup,
            )
        )
        states.append({k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})
    accuracies = [r.epochs[r.best_epoch - 1]["dev_accuracy"] for r in runs]

    def dev_accuracy(state: dict) -> float:
        model.load_state_dict(state)
        return evaluate_epoch(model, dev_set, None, p, device, None)["dev_accuracy"]

    soup, report = strategy.combine(states, accuracies, dev_accuracy)
    model.load_state_dict(soup)
    best = max(range(len(runs)), key=lambda i: (accuracies[i], -i))
    report["ingredients"] = [
        {"learning_rate": rate, "best_epoch": r.best_epoch, "dev_accuracy": a, "train_seconds": r.train_seconds}
        for rate, r, a in zip(job.ingredients, runs, accuracies)
    ]
    kept = runs[best]
    return Trained(
        epochs=kept.epochs,
        steps=kept.steps,
        best_epoch=kept.best_epoch,
        train_seconds=sum(r.train_seconds for r in runs),
        train_samples=sum(r.train_samples for r in runs),
        kernel_warmup_seconds=sum(r.kernel_warmup_seconds for r in runs),
        step=kept.step,
        forward=None,
        report=report,
        windows=[w for r in runs for w in r.windows],
    )
