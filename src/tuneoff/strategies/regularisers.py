"""Full fine-tuning with an extra term in the loss: R-Drop, and distillation from another player."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import Field

from tuneoff.options import NAME_PATTERN
from tuneoff.strategies.base import STRATEGIES, Knob, Setup
from tuneoff.strategies.subsets import Full


def _logits(net, batch: dict):
    return net(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()


@STRATEGIES.register
class RDrop(Full):
    """R-Drop (Liang et al. 2021): two forward passes of each batch with different dropout masks; the loss is the
    cross-entropy of both passes plus ``alpha`` times the symmetric KL divergence ½ (KL(P1‖P2) + KL(P2‖P1)) between
    their predictions, as the authors' GLUE code weighs them (dropreg/R-Drop, huggingface_transformer_src,
    BertForSequenceClassification.bert_kl: each pass's cross-entropy a mean over the batch, added; the KL summed over
    the batch and the classes, with alpha 0.5). ``kl_reduction`` = "mean" takes the KL per sentence instead, as the
    paper's eq. 3 and the authors' fairseq criterion do (there the weight does not grow with the batch). A step costs
    two forwards."""

    name: Literal["rdrop"] = "rdrop"  # type: ignore[assignment]  # a subclass, its own name
    # Liang et al. 2021 fine-tune BERT/RoBERTa on GLUE at the usual full fine-tuning rates
    # (Devlin et al. 2019 (BERT, App. A.3): 2e-5..5e-5).
    default_lr: ClassVar[float] = 3e-5
    knob: ClassVar[Knob | None] = Knob(
        "alpha", (0.1, 0.5, 1.0), "Liang et al. 2021, §4.3 (GLUE): alpha among {0.1, 0.5, 1.0} per task"
    )
    graph_safe_hooks: ClassVar[tuple[str, ...]] = ("loss",)  # two forwards of the same batch
    passes_per_step: ClassVar[int] = 2  # two forwards, and the backward runs through both
    alpha: float = Field(
        0.5,
        ge=0.0,
        le=100.0,
        description="weight of the symmetric KL term (the authors' BERT GLUE "
        "code: 0.5; the paper searches 0.1, 0.5, 1.0)",
    )
    kl_reduction: Literal["sum", "mean"] = Field(
        "sum",
        description="sum: the KL summed over the batch, as the authors' BERT GLUE code; mean: per sentence, "
        "as the paper's eq. 3",
    )

    def loss(self, net, batch: dict, index, setup: Setup):
        import torch.nn.functional as F

        a, b = _logits(net, batch), _logits(net, batch)
        ce = F.cross_entropy(a, batch["labels"]) + F.cross_entropy(b, batch["labels"])
        la, lb = a.log_softmax(-1), b.log_softmax(-1)
        kl = (
            F.kl_div(la, lb, log_target=True, reduction="sum") + F.kl_div(lb, la, log_target=True, reduction="sum")
        ) / 2
        return ce + self.alpha * (kl if self.kl_reduction == "sum" else kl / a.shape[0])


@STRATEGIES.register
class Distill(Full):
    """Knowledge distillation (Hinton et al. 2015): the student matches the teacher's temperature-softened
    predictions, weighted ``alpha``, and the labels, weighted 1 - alpha. The teacher is another player of
    the tournament; the runner hands its log-probabilities on the training set (from its best-on-dev
    checkpoint) in ``setup.context``. Teachers run before their students."""

    example: ClassVar[dict] = {"teacher": "teacher"}

    name: Literal["distill"] = "distill"  # type: ignore[assignment]  # a subclass, its own name
    capturable: ClassVar[bool] = False
    # Task distillation into a pretrained student trains like full fine-tuning (Devlin et al. 2019 (BERT, App. A.3):
    # 2e-5..5e-5); a randomly initialised student usually wants more (give it its own grid:
    # tuning.players.<name>.learning_rates).
    default_lr: ClassVar[float] = 3e-5
    knob: ClassVar[Knob | None] = Knob(
        "temperature",
        (1.0, 2.0, 5.0, 10.0),
        "Hinton et al. 2015, §4 (speech): temperatures 1, 2, 5 and 10 tried, the labels' term weighted 0.5",
    )
    teacher: str = Field(pattern=NAME_PATTERN, description="the teaching player's name")
    temperature: float = Field(2.0, gt=0.0, le=100.0, description="softens both distributions")
    alpha: float = Field(0.5, ge=0.0, le=1.0, description="weight of the teacher's term; 1 - alpha on the labels")

    def teacher_name(self) -> str | None:
        return self.teacher

    def loss(self, net, batch: dict, index, setup: Setup):
        import torch
        import torch.nn.functional as F

        logits = _logits(net, batch)
        teacher = setup.context.teacher_logits[torch.as_tensor(index)].to(logits.device)
        t = self.temperature
        soft = (
            F.kl_div(
                (logits / t).log_softmax(-1), (teacher / t).log_softmax(-1), log_target=True, reduction="batchmean"
            )
            * t
            * t
        )
        return self.alpha * soft + (1 - self.alpha) * F.cross_entropy(logits, batch["labels"])


@dataclass
class TeacherContext:
    """What a distilling student is handed by the runner (it never reads the run folder itself)."""

    teacher_logits: object  # training sentences x classes, the teacher's log-probabilities (logits up to a constant)
