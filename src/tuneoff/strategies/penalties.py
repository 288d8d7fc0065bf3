"""Full fine-tuning with a term added to its objective: L2-SP (stay close to the pretrained weights) and R3F
(answer alike on slightly noisy inputs)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tuneoff.strategies.base import STRATEGIES, Knob, Setup
from tuneoff.strategies.subsets import Full

ANCHOR = "l2sp_anchor_"  # prefix of the non-persistent buffer holding a parameter's pretrained value


def _is_head(name: str, setup: Setup) -> bool:
    return name.startswith(tuple(f"{h}." for h in setup.roles.head))


def anchored(net):
    """(parameter, its pretrained value or None) for every parameter that takes gradients, found through the
    buffers ``L2SP.apply`` registered beside it (so that a compiled wrapper of the model finds them too)."""
    for module in net.modules():
        for name, q in module.named_parameters(recurse=False):
            if q.requires_grad:
                yield q, module._buffers.get(ANCHOR + name)


@STRATEGIES.register
class L2SP(Full):
    """L2-SP (Li, Grandvalet & Davoine 2018, "Explicit inductive bias for transfer learning with convolutional
    networks"): full fine-tuning with α/2 ||w - w0||² on the pretrained weights (w0: their values before
    training) and β/2 ||w||² on the fresh head added to the loss, in place of the protocol's weight decay.
    The pretrained weights include the pooler where the model has one. L2-SP replaces weight decay, whose pull
    toward 0 is the prior the paper argues against: the protocol's decoupled weight decay is not applied to this
    player (its own AdamW has none), so the only regularisers are α's and β's. The penalty sits in the loss, as
    in the paper (which trains with SGD); under Adam its gradient is normalised with the task's. Bringing its
    own optimizer, it runs the eager step when cuda_graphs is asked for."""

    example: ClassVar[dict] = {"alpha": 0.1, "beta": 0.01}
    # Li et al. 2018 fine-tune CNNs with SGD; for BERT-sized models L2-SP keeps plain fine-tuning's rate
    # (Devlin et al. 2019: 2e-5..5e-5).
    default_lr: ClassVar[float] = Full.default_lr
    knob: ClassVar[Knob | None] = Knob(
        "alpha",
        (0.001, 0.01, 0.1, 1.0),
        "Li et al. 2018 choose α and β by cross-validation on a log scale (α = 0.1, "
        "β = 0.01 in most of their runs); this grid spans 1e-3..1 around it",
    )
    graph_safe_hooks: ClassVar[tuple[str, ...]] = ("loss",)  # the penalty reads the weights and fixed buffers only

    name: Literal["l2sp"] = "l2sp"  # type: ignore[assignment]  # a subclass, its own name
    capturable: ClassVar[bool] = False
    alpha: float = Field(0.1, ge=0.0, le=100.0, description="α: weight of ||w - w0||²/2 on the pretrained weights")
    beta: float = Field(0.01, ge=0.0, le=100.0, description="β: weight of ||w||²/2 on the fresh head")

    def apply(self, model, setup: Setup):
        model, warnings = Full.apply(self, model, setup)
        for module_name, module in model.named_modules():
            for name, q in list(module.named_parameters(recurse=False)):
                if not _is_head(f"{module_name}.{name}" if module_name else name, setup):
                    module.register_buffer(ANCHOR + name, q.detach().clone(), persistent=False)
        return model, warnings

    def penalty(self, net):
        """α/2 Σ ||w - w0||² over the anchored weights + β/2 Σ ||w||² over the head's."""
        body = head = 0.0
        for q, anchor in anchored(net):
            if anchor is None:
                head = head + q.float().square().sum()
            else:
                body = body + (q.float() - anchor.float()).square().sum()
        return self.alpha / 2 * body + self.beta / 2 * head

    def loss(self, net, batch: dict, index, setup: Setup):
        return net(**batch).loss + self.penalty(net)

    def optimizer(self, model, lr: float, weight_decay: float):
        import torch

        params = [q for q in model.parameters() if q.requires_grad]
        fused = all(q.device.type in ("cpu", "cuda") for q in params)  # as the loop's AdamW
        return torch.optim.AdamW(params, lr=lr, weight_decay=0.0, fused=fused, foreach=None if fused else True)


def symmetric_kl(a, b):
    """KL(p_a || p_b) + KL(p_b || p_a) between the softmaxes of two logit batches, averaged over the rows (the
    sum of both directions, as in Aghajanyan et al.'s code)."""
    import torch.nn.functional as F

    la, lb = a.log_softmax(-1), b.log_softmax(-1)
    return F.kl_div(lb, la, log_target=True, reduction="batchmean") + F.kl_div(
        la, lb, log_target=True, reduction="batchmean"
    )


@STRATEGIES.register
class R3F(Full):
    """R3F (Aghajanyan et al. 2021, "Better fine-tuning by reducing representational collapse"): full
    fine-tuning of cross-entropy on the clean input plus λ times the symmetric KL divergence between the
    predictions on the clean input and on the same input with noise z ~ U(-σ, σ) or N(0, σ²) added to its token
    embeddings (before the position embeddings and the embeddings' layer norm). As the authors' code, the noisy
    pass starts from detached token embeddings (the embedding matrix learns from the clean pass only) and both
    directions of the KL are summed. A step costs two forward passes (each with its own dropout draw). At
    protocol.precision bf16 most of a noise of σ = 1e-5 is rounded away in the first bf16 matrix product."""

    example: ClassVar[dict] = {"kl_weight": 1.0}
    # Aghajanyan et al. 2021 keep each model's standard fine-tuning recipe and add the term; for BERT-sized
    # models that is plain fine-tuning's rate (Devlin et al. 2019: 2e-5..5e-5).
    default_lr: ClassVar[float] = Full.default_lr
    knob: ClassVar[Knob | None] = Knob(
        "kl_weight", (0.1, 0.5, 1.0, 5.0), "Aghajanyan et al. 2021, §4: λ in {0.1, 0.5, 1, 5}, σ = 1e-5, noise U or N"
    )
    graph_safe_hooks: ClassVar[tuple[str, ...]] = ("loss",)  # two forwards of the same batch; the noise in-graph
    passes_per_step: ClassVar[int] = 2

    name: Literal["r3f"] = "r3f"  # type: ignore[assignment]  # a subclass, its own name
    kl_weight: float = Field(1.0, ge=0.0, le=100.0, description="λ: weight of the symmetric KL term")
    sigma: float = Field(1e-5, gt=0.0, le=1.0, description="σ: the noise's scale")
    noise: Literal["uniform", "normal"] = Field("uniform", description="U(-σ, σ) or N(0, σ²) per entry")

    def draw(self, embeddings):
        """The noise added to a batch's token embeddings."""
        import torch

        if self.noise == "normal":
            return torch.randn_like(embeddings) * self.sigma
        return torch.empty_like(embeddings).uniform_(-self.sigma, self.sigma)

    def loss(self, net, batch: dict, index, setup: Setup):
        import torch.nn.functional as F

        mask = batch["attention_mask"]
        clean = net(input_ids=batch["input_ids"], attention_mask=mask).logits.float()
        tokens = net.get_input_embeddings()(batch["input_ids"]).detach()
        noisy = net(inputs_embeds=tokens + self.draw(tokens), attention_mask=mask).logits.float()
        return F.cross_entropy(clean, batch["labels"]) + self.kl_weight * symmetric_kl(clean, noisy)
