"""A converged linear probe, fitted in closed form before training: LP-FT's first stage (Kumar et al. 2022) and
WiSE-FT's start point (Wortsman et al. 2022).

The probe is the head's final linear layer, the one that outputs the logits, fitted by multinomial logistic
regression with L-BFGS (scikit-learn's ``LogisticRegression``, the field's standard tool for a linear probe, as
Kumar et al. use it) on the features that layer sees from the frozen model: every training sentence through
the model in eval mode (no dropout), captured at the layer's input. Its objective is scikit-learn's,
C · Σᵢ CE(W xᵢ + b, yᵢ) + ½ ‖W‖² (the bias unpenalised). On BERT the layer is the classifier over the pretrained
pooler; on DistilBERT, RoBERTa and DeBERTa-v2 the head has a fresh layer before it (``pre_classifier``, the
classification head's ``dense``, the ``pooler``), which the probe sees as part of the frozen feature map at its
random initialisation (the papers' heads are one linear layer); fine-tuning then trains it with the rest.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from tuneoff.strategies.base import Setup
from tuneoff.strategies.subsets import Full

PROBE_DEVIATION = (
    "on DistilBERT, RoBERTa and DeBERTa-v2 the head's fresh first layer sits below the probed linear "
    "layer and enters the probe's frozen features at its random initialisation (the papers' heads "
    "are one linear layer); the probe's C is an option, not tuned on held-out data"
)


def final_linear(model, roles):
    """The head's last Linear layer, which outputs the logits: BERT's and DeBERTa-v2's classifier, DistilBERT's
    classifier after pre_classifier, RoBERTa's classifier.out_proj."""
    import torch

    linears = [m for h in roles.head for m in roles.module(model, h).modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError(f"the head {list(roles.head)} has no linear layer to fit a probe into")
    return linears[-1]


def probe_features(model, layer, batches):
    """(features, labels) as float64 and int arrays: what ``layer`` receives for every sentence of the batches, the
    model in eval mode (no dropout) and without gradients. Moves the model to the batches' device."""
    import torch

    features, labels = [], []
    hook = layer.register_forward_pre_hook(lambda module, args: features.append(args[0].detach().float().cpu()))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in batches:
                model.to(batch["input_ids"].device)
                model(**{k: v for k, v in batch.items() if k != "labels"})
                labels.append(batch["labels"].detach().cpu())
    finally:
        hook.remove()
        model.train(was_training)
    return torch.cat(features).double().numpy(), torch.cat(labels).numpy()


def fit_probe(features, labels, classes: int, c: float, iterations: int):
    """(weight [classes x features], bias [classes], converged): scikit-learn's L-BFGS multinomial logistic
    regression of the labels on the features, with inverse L2 strength ``c``. Two classes: scikit-learn's one row
    (the second class's log-odds z) becomes logits (-z/2, z/2), the same probabilities. A class absent from the
    labels gets zero weights and a bias 10 below the lowest fitted one."""
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        fitted = LogisticRegression(C=c, solver="lbfgs", max_iter=iterations, tol=1e-6).fit(features, labels)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    coef, intercept = fitted.coef_, fitted.intercept_
    if len(fitted.classes_) == 2:
        coef, intercept = np.vstack([-coef / 2, coef / 2]), np.concatenate([-intercept / 2, intercept / 2])
    weight = np.zeros((classes, features.shape[1]))
    bias = np.full(classes, float(intercept.min()) - 10.0)
    weight[fitted.classes_], bias[fitted.classes_] = coef, intercept
    return weight, bias, converged


def probe_head(model, setup: Setup, c: float, iterations: int, who: str) -> list[str]:
    """Fit the head's final linear layer on the frozen features of the training set and write it into the model;
    returns the warnings worth shouting (a probe that did not converge)."""
    import torch

    if setup.train_batches is None:
        raise ValueError(f"{who} needs the training set before training for its probe (Setup.train_batches is None)")
    layer = final_linear(model, setup.roles)
    features, labels = probe_features(model, layer, setup.train_batches())
    weight, bias, converged = fit_probe(features, labels, layer.out_features, c, iterations)
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight, dtype=layer.weight.dtype))
        layer.bias.copy_(torch.as_tensor(bias, dtype=layer.bias.dtype))
    if converged:
        return []
    return [
        f"{who}: the linear probe's L-BFGS did not converge in {iterations} iterations (raise "
        "strategy.probe_iterations)"
    ]


class Probed(Full):
    """Full fine-tuning from a head fitted first as a converged linear probe (the options both LP-FT and WiSE-FT
    take). Not registered: ``lpft`` and ``wiseft`` are."""

    deviation: ClassVar[str] = PROBE_DEVIATION
    probe_c: float = Field(
        1.0,
        gt=0.0,
        le=1e6,
        description="the probe's inverse L2 strength C (scikit-learn's "
        "LogisticRegression: C times the summed cross-entropy plus half the squared weights)",
    )
    probe_iterations: int = Field(1000, ge=1, le=100000, description="L-BFGS iterations at most for the probe")

    def apply(self, model, setup: Setup):
        model, warnings = Full.apply(self, model, setup)
        return model, [*warnings, *probe_head(model, setup, self.probe_c, self.probe_iterations, self.name)]
