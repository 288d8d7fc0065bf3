"""Parameter-efficient strategies through PEFT's own config classes; nothing of PEFT is re-implemented.

Every one trains the whole classification head (``modules_to_save`` = the role table's
head): on DistilBERT ``pre_classifier`` is freshly initialised and must not stay frozen,
and ``apply`` asserts it. The fresh head learns at its own rate, ``head_lr`` (a second rate:
a prompt's or an adapter's rate is no rate for a fresh linear layer), the adapters at the
protocol's. Targets come from the role table, so the same options work on
DistilBERT, BERT, RoBERTa and DeBERTa-v2. Methods PEFT can merge are saved merged
(``model/`` loads with plain transformers) next to the adapter; prompt methods are saved
as the base model plus the adapter.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from tuneoff.models.roles import Roles, roles_for
from tuneoff.options import StrTuple
from tuneoff.strategies.base import (
    STRATEGIES,
    Knob,
    Rate,
    SecondRate,
    Setup,
    Strategy,
    head_is_trained,
    peft_norms_quiet,
)
from tuneoff.strategies.promise import LINEAR_ROLES, Added, Trains

HEAD_RATE = SecondRate(
    "head_lr",
    1e-3,
    "a fresh linear head's rate as for head-only probing: tuneoff's head strategy, Adam's default (Kingma & Ba 2015)",
)


def adapters(tensors: tuple[str, ...], at: tuple[str, ...], decay: bool | None = None) -> Trains:
    """What a PEFT method trains: PEFT's ``tensors`` at the ``at`` sites, and its copy of the head at head_lr."""
    return Trains(base="none", head_rate=HEAD_RATE.field, added=(Added(tensors, at, decay),))


def is_peft_head(name: str) -> bool:
    """A parameter of PEFT's trained copy of the head (``modules_to_save``)."""
    return ".modules_to_save." in name


class PeftStrategy(Strategy):
    """Shared by every PEFT method: build the config, wrap the model, check the head, give the head its own rate,
    save."""

    # Why the adapter is not merged into the weights (None: it is): the checkpoint is then the base plus the
    # adapter, which plain transformers cannot load (``tuneoff export`` names this reason when it refuses).
    not_merged: ClassVar[str | None] = None
    second_rate: ClassVar[SecondRate | None] = HEAD_RATE
    head_lr: float = Field(
        HEAD_RATE.centre,
        gt=0.0,
        le=1.0,
        description="learning rate of the freshly initialised "
        "head (the adapters or prompt learn at the protocol's rate)",
    )

    def parameters(self, model, setup: Setup):
        head = Rate(lr=self.head_lr)
        return [(n, q, head if is_peft_head(n) else 1.0) for n, q in model.named_parameters() if q.requires_grad]

    def peft_config(self, roles: Roles, setup: Setup, model):  # pragma: no cover - interface
        raise NotImplementedError

    def targets(self, roles: Roles) -> list[str]:
        return [*roles.attention, *roles.ffn]

    def apply(self, model, setup: Setup):
        from peft import get_peft_model

        with peft_norms_quiet():
            peft_model = get_peft_model(model, self.peft_config(setup.roles, setup, model))
        frozen = head_is_trained(peft_model, setup.roles)
        if frozen:
            raise RuntimeError(f"{self.name}: head parameters left frozen by PEFT: {frozen[:4]}")
        return peft_model, []

    def check(self, model, protocol=None) -> list[str]:
        problems = super().check(model, protocol)
        if problems:
            return problems
        names = [n for n, _ in model.named_modules()]
        missing = [t for t in self.targets(roles_for(model)) if not any(n == t or n.endswith("." + t) for n in names)]
        if not missing:
            return []
        weighted = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules() if list(m.parameters(recurse=False))})
        return [
            f"strategy.target_modules {missing} match no module of this model; its modules with weights: {weighted}"
        ]

    def save(self, model, tokenizer, checkpoint) -> dict:
        model.save_pretrained(checkpoint.adapter, safe_serialization=True)
        if self.not_merged is None:  # reloads without PEFT
            merged = model.merge_and_unload()
            merged.save_pretrained(checkpoint.model, safe_serialization=True)
            tokenizer.save_pretrained(checkpoint.model)
            return checkpoint.record(checkpoint.model, checkpoint.MERGED, adapter=True)
        # The untouched base; the adapter carries what was trained (and the trained head).
        base = model.get_base_model()
        base.save_pretrained(checkpoint.base, state_dict=untouched(base.state_dict()), safe_serialization=True)
        tokenizer.save_pretrained(checkpoint.base)
        return checkpoint.record(checkpoint.base, checkpoint.PEFT, adapter=True)


ADAPTER_KEYS = (".modules_to_save.", "lora_", "ia3_l", "vera_", "ln_tuning_layers", "prompt_encoder")


def untouched(state: dict) -> dict:
    """The base model's own weights out of a PEFT-wrapped state dict (adapters left out, wrappers undone)."""
    return {
        k.replace(".base_layer.", ".").replace(".original_module.", "."): v
        for k, v in state.items()
        if not any(marker in k for marker in ADAPTER_KEYS)
    }


@STRATEGIES.register
class Lora(PeftStrategy):
    """LoRA (Hu et al. 2021) via PEFT, with rsLoRA, DoRA and PiSSA/OLoRA initialisation as options."""

    name: Literal["lora"] = "lora"
    trains: ClassVar[Trains] = adapters(("lora_A", "lora_B"), LINEAR_ROLES)
    # Hu et al. 2021, RoBERTa-base on GLUE: 4e-4..5e-4 (5e-4 on SST-2), AdamW, 6 % warm-up, linear decay.
    default_lr: ClassVar[float] = 5e-4
    knob: ClassVar[Knob | None] = Knob("r", (1, 2, 4, 8, 64), "Hu et al. 2021, §7.2, Table 6: r in {1, 2, 4, 8, 64}")
    r: int = Field(8, ge=1, le=1024, description="adapter rank")
    alpha: float = Field(16.0, gt=0, description="scaling numerator: updates scale by alpha / r")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout on the adapter input")
    target_modules: StrTuple | None = Field(None, description="module names; default: attention and feed-forward")
    use_rslora: bool = Field(False, description="scale by alpha / sqrt(r) (Kalajdzievski 2023)")
    use_dora: bool = Field(False, description="weight-decomposed LoRA (Liu et al. 2024)")
    init_lora_weights: bool | Literal["gaussian", "pissa", "olora"] = Field(
        True, description="true (PEFT's default), gaussian, pissa or olora"
    )

    def targets(self, roles: Roles) -> list[str]:
        return list(self.target_modules) if self.target_modules else super().targets(roles)

    def check(self, model, protocol=None) -> list[str]:
        if self.target_modules == ():  # PEFT would train its defaults while the result recorded []
            return [
                "strategy.target_modules = [] names no module; leave it out for the attention and feed-forward "
                "modules, or name the modules to adapt"
            ]
        return super().check(model, protocol)

    def peft_config(self, roles, setup, model):
        from peft import LoraConfig, TaskType

        # PEFT annotates lora_alpha as int but scales by lora_alpha / r: a float alpha works
        return LoraConfig(
            task_type=TaskType.SEQ_CLS,
            r=self.r,
            lora_alpha=self.alpha,  # type: ignore[arg-type]
            lora_dropout=self.dropout,
            target_modules=self.targets(roles),
            modules_to_save=list(roles.head),
            use_rslora=self.use_rslora,
            use_dora=self.use_dora,
            init_lora_weights=self.init_lora_weights,
        )


@STRATEGIES.register
class LoraPlus(Lora):
    """LoRA+ (Hayou et al. 2024): B matrices learn ``ratio`` times faster, via PEFT's create_loraplus_optimizer."""

    name: Literal["loraplus"] = "loraplus"  # type: ignore[assignment]  # a subclass, its own name
    capturable: ClassVar[bool] = False
    # Hayou et al. 2024: LoRA's base rate for A, B at ratio x it; so LoRA's 5e-4 (Hu et al. 2021).
    default_lr: ClassVar[float] = 5e-4
    knob: ClassVar[Knob | None] = Knob(
        "ratio", (4.0, 16.0, 64.0), "Hayou et al. 2024, §5: lambda = 2^4 = 16 recommended; two powers of 2 either side"
    )
    ratio: float = Field(16.0, ge=1.0, le=1024.0, description="learning rate of B over A")

    def optimizer(self, model, lr: float, weight_decay: float):
        import torch
        from peft.optimizers import create_loraplus_optimizer

        # PEFT sets each group's weight decay from loraplus_weight_decay (default 0), overriding weight_decay:
        # without it LoRA+ would train without the protocol's decay, and LoRA against LoRA+ would mix two changes.
        optimizer = create_loraplus_optimizer(
            model, torch.optim.AdamW, lr=lr, loraplus_lr_ratio=self.ratio, loraplus_weight_decay=weight_decay
        )
        return with_head_rate(optimizer, model, self.head_lr, weight_decay)


def with_head_rate(optimizer, model, head_lr: float, weight_decay: float):
    """The optimizer with the head's parameters moved out of its groups into their own, at ``head_lr`` (decay on
    the head's weight matrices, none on its biases: the loop's rule). Before any step, so no state moves."""
    head = [(n, q) for n, q in model.named_parameters() if q.requires_grad and is_peft_head(n)]
    moved = {id(q) for _, q in head}
    for group in optimizer.param_groups:
        group["params"] = [q for q in group["params"] if id(q) not in moved]
    optimizer.param_groups[:] = [g for g in optimizer.param_groups if g["params"]]
    for decays in (True, False):
        params = [q for _, q in head if (q.ndim >= 2) == decays]
        if params:
            optimizer.add_param_group(
                {"params": params, "lr": head_lr, "weight_decay": weight_decay if decays else 0.0}
            )
    return optimizer


@STRATEGIES.register
class AdaLora(PeftStrategy):
    """AdaLoRA (Zhang et al. 2023): ranks re-allocated during training; PEFT's update_and_allocate each step."""

    name: Literal["adalora"] = "adalora"
    trains: ClassVar[Trains] = adapters(("lora_A", "lora_B", "lora_E"), LINEAR_ROLES)
    capturable: ClassVar[bool] = False
    # Zhang et al. 2023, DeBERTaV3-base on GLUE: 5e-4..1.2e-3; their SST-2 script uses 8e-4.
    default_lr: ClassVar[float] = 8e-4
    knob: ClassVar[Knob | None] = Knob(
        "target_r",
        (2, 4, 8),
        "Zhang et al. 2023, Table 1: budgets of LoRA's r = 2, 4 and 8 (init_r stays 1.5x the largest)",
    )
    init_r: int = Field(12, ge=1, le=1024, description="starting rank")
    target_r: int = Field(8, ge=1, le=1024, description="average rank after pruning")
    alpha: float = Field(16.0, gt=0)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)

    def peft_config(self, roles, setup, model):
        from peft import AdaLoraConfig, TaskType

        total = max(setup.total_steps, 3)
        return AdaLoraConfig(
            task_type=TaskType.SEQ_CLS,
            init_r=self.init_r,
            target_r=self.target_r,
            lora_alpha=self.alpha,  # type: ignore[arg-type]  # a float alpha, as in LoRA's
            lora_dropout=self.dropout,
            target_modules=self.targets(roles),
            modules_to_save=list(roles.head),
            total_step=total,
            tinit=total // 10,
            tfinal=total // 5,
            deltaT=max(1, total // 20),
        )

    def check(self, model, protocol=None) -> list[str]:
        if self.target_r > self.init_r:
            return [
                f"strategy.target_r = {self.target_r} exceeds strategy.init_r = {self.init_r}: AdaLoRA prunes "
                "ranks down from init_r, so target_r must be at most init_r"
            ]
        return super().check(model, protocol)

    def after_step(self, model, setup: Setup, step: int) -> None:
        model.base_model.update_and_allocate(step)


@STRATEGIES.register
class IA3(PeftStrategy):
    """(IA)^3 (Liu et al. 2022): learned scaling of keys, values and the feed-forward output (the input of the
    feed-forward's second linear layer), exactly these modules and no others. The scaling vectors start at 1, their
    identity, so they take no weight decay (decay would pull them towards 0, scaling the activations away)."""

    name: Literal["ia3"] = "ia3"
    trains: ClassVar[Trains] = adapters(("ia3_l",), ("key", "value", "ffn_out"), decay=False)
    # Liu et al. 2022 (T-Few): 3e-3 for the (IA)^3 vectors (Adafactor, T0).
    default_lr: ClassVar[float] = 3e-3
    not_merged: ClassVar[str | None] = (
        "PEFT's merge fails on RoBERTa's nested head (peft 0.21), so (IA)^3 is never merged"
    )

    def targets(self, roles):
        return [roles.key, roles.value, roles.ffn_out]

    def parameters(self, model, setup: Setup):
        undecayed = Rate(decay=False)
        return [(n, q, undecayed if ".ia3_l." in n else rate) for n, q, rate in super().parameters(model, setup)]

    def excluded(self, roles) -> list[str]:
        """The layers' other linear modules. On BERT-like models the attention's output (attention.output.dense)
        also ends in the feed-forward's output.dense; PEFT matches names by suffix (its own IA3 defaults for
        BERT, ["key", "value", "output.dense"], adapt it too), so it is excluded by name."""
        targets = self.targets(roles)
        return [m for m in (roles.query, roles.attention_out, roles.ffn_in) if m not in targets]

    def peft_config(self, roles, setup, model):
        from peft import IA3Config, TaskType

        return IA3Config(
            task_type=TaskType.SEQ_CLS,
            target_modules=self.targets(roles),
            exclude_modules=self.excluded(roles),
            feedforward_modules=[roles.ffn_out],
            modules_to_save=list(roles.head),
        )


@STRATEGIES.register
class Vera(PeftStrategy):
    """VeRA (Kopiczko et al. 2024): shared frozen random matrices, trained scaling vectors."""

    example: ClassVar[dict] = {"r": 16}

    name: Literal["vera"] = "vera"
    trains: ClassVar[Trains] = adapters(("vera_lambda_b", "vera_lambda_d"), ("query", "value"))
    # Kopiczko et al. 2024, RoBERTa-base on GLUE: 4e-3..1e-2 for the scaling vectors (4e-3 on SST-2).
    default_lr: ClassVar[float] = 1e-2
    not_merged: ClassVar[str | None] = (
        "PEFT's merge fails on RoBERTa's nested head (peft 0.21), so VeRA is never merged"
    )
    r: int = Field(256, ge=1, le=4096, description="rank of the shared random projections")

    def targets(self, roles):
        return [roles.query, roles.value]

    def peft_config(self, roles, setup, model):
        from peft import TaskType, VeraConfig

        return VeraConfig(
            task_type=TaskType.SEQ_CLS, r=self.r, target_modules=self.targets(roles), modules_to_save=list(roles.head)
        )


@STRATEGIES.register
class LnTuning(PeftStrategy):
    """LN tuning (Qi et al. 2022): only the layer norms (and the head) train, via PEFT's LNTuningConfig: those
    of every layer and the embeddings, and DeBERTa-v2's LayerNorm over its relative-position embeddings."""

    name: Literal["lntuning"] = "lntuning"
    trains: ClassVar[Trains] = adapters(("ln_tuning_layers",), ("norms",))
    # Qi et al. 2022 tune layer norms at rates of about 1e-3..5e-3 (not checked against the paper here).
    default_lr: ClassVar[float] = 2e-3
    not_merged: ClassVar[str | None] = "PEFT's merge did not carry the tuned layer norms over (peft 0.21, measured)"

    def targets(self, roles):
        return list(roles.norms)  # every model of the type has these (check); peft_config adds the optional ones

    def peft_config(self, roles, setup, model):
        from peft import LNTuningConfig, TaskType

        return LNTuningConfig(
            task_type=TaskType.SEQ_CLS, target_modules=roles.norms_of(model), modules_to_save=list(roles.head)
        )


@STRATEGIES.register
class Prompt(PeftStrategy):
    """Prompt tuning (Lester et al. 2021): learned virtual-token embeddings before the input."""

    example: ClassVar[dict] = {"virtual_tokens": 4}

    name: Literal["prompt"] = "prompt"
    trains: ClassVar[Trains] = adapters(("embedding",), ("input",))
    # Lester et al. 2021: 0.3 (Adafactor, T5). Centred one grid step below it so that the grid (0.011..0.9)
    # holds 0.3 and stays within the protocol's limit of 1; PEFT's AdamW example on RoBERTa uses 1e-3.
    default_lr: ClassVar[float] = 0.1
    knob: ClassVar[Knob | None] = Knob(
        "virtual_tokens",
        (1, 5, 20, 100, 150),
        "Lester et al. 2021, §3.2, Fig. 3(a): prompt lengths 1, 5, 20, 100 and 150",
    )
    not_merged: ClassVar[str | None] = "its trained virtual tokens are extra inputs, not weights a plain model holds"
    virtual_tokens: int = Field(20, ge=1, le=256, description="learned tokens prepended to every input")

    def targets(self, roles):
        return []

    def check(self, model, protocol=None) -> list[str]:
        problems = super().check(model, protocol)
        positions = getattr(model.config, "max_position_embeddings", None)
        if (
            protocol is not None
            and positions
            and protocol.max_seq_len <= positions < protocol.max_seq_len + self.virtual_tokens
        ):
            problems.append(
                f"strategy.virtual_tokens = {self.virtual_tokens} + protocol.max_seq_len = "
                f"{protocol.max_seq_len} exceed the model's {positions} positions (the virtual tokens "
                f"come before every input); use at most {positions - protocol.max_seq_len} virtual tokens "
                "or a shorter max_seq_len"
            )
        return problems

    def peft_config(self, roles, setup, model):
        from peft import PromptTuningConfig, TaskType

        return PromptTuningConfig(
            task_type=TaskType.SEQ_CLS,
            num_virtual_tokens=self.virtual_tokens,
            modules_to_save=list(roles.head),
            **roles.dims(model.config),
        )


@STRATEGIES.register
class PTuning(Prompt):
    """P-tuning (Liu et al. 2021): virtual tokens produced by a small trained encoder (PEFT's PromptEncoder)."""

    example: ClassVar[dict] = {"virtual_tokens": 4, "encoder_hidden": 16}

    name: Literal["ptuning"] = "ptuning"  # type: ignore[assignment]  # a subclass, its own name
    trains: ClassVar[Trains] = adapters(("embedding", "mlp_head"), ("input",))
    # Liu et al. 2021 ("GPT understands, too") and PEFT's P-tuning guide (RoBERTa, AdamW): 1e-3..1e-2.
    default_lr: ClassVar[float] = 3e-3
    knob: ClassVar[Knob | None] = None  # P-tuning fixes its prompt length per task: no knob crossed
    encoder_hidden: int = Field(128, ge=1, le=8192, description="width of the prompt encoder")

    def peft_config(self, roles, setup, model):
        from peft import PromptEncoderConfig, TaskType

        return PromptEncoderConfig(
            task_type=TaskType.SEQ_CLS,
            num_virtual_tokens=self.virtual_tokens,
            encoder_hidden_size=self.encoder_hidden,
            modules_to_save=list(roles.head),
            **roles.dims(model.config),
        )
