"""A training step: eager, or captured once per batch shape and replayed (``protocol.cuda_graphs``).

The loop calls ``step(batch, index)`` and gets the batch's loss as a device tensor, runs its
per-step hooks, then ``step.end()``; it never knows which path ran. A step is the forward pass
(the strategy's loss), the backward pass, gradient clipping, the strategy's ``before_update``
(which may change the clipped gradients: Child-Tuning's masks) and the optimizer update; the
loop then advances the schedule. A strategy may own how the gradients are computed
(``Strategy.backward``: SAM runs two passes); such a strategy runs the eager step.

The captured path keeps one graph per batch shape (rows x width: with static shapes only a
few recur). A new shape gets static input buffers and is captured after warm-up runs whose
effect on the weights, the optimizer state and the random stream is undone, so capturing
does not change what is trained. Each step copies the batch into its shape's buffers and
replays the graph: no Python per kernel and no host synchronisation. The learning rate is a
device tensor the schedule fills in place, so it needs no recapture.

Scoring (dev each epoch, the probe, test once) gets the same treatment with ``CapturedForward``.
Capturing needs CUDA and a strategy whose hooks run inside the step only. Otherwise the
eager path runs and ``eager_reason`` says why; the result records it. The backend is
injectable, so the shape handling is tested on CPU with ``Emulated`` (replay = run again).
"""

from __future__ import annotations

from typing import Any

import torch

from tuneoff.plan.config import Protocol


def autocast_dtype(p: Protocol) -> torch.dtype | None:
    """The autocast dtype of the protocol's precision; None means plain fp32."""
    return torch.bfloat16 if p.precision == "bf16" else None


def autocast(device_type: str, dtype: torch.dtype | None, cache: bool = True):
    """The forward pass's precision: autocast to ``dtype``, or plain fp32 when it is None. Inside a
    captured graph ``cache`` must be off (autocast's cached weight casts are made outside the graph)."""
    return torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None, cache_enabled=cache)


class EagerStep:
    """The plain step; what every strategy and device can run."""

    path = "eager"

    def __init__(self, net, model, optimizer, p: Protocol, hooks: tuple, reason: str | None = None):
        self.net, self.model, self.optimizer, self.p = net, model, optimizer, p
        self.strategy, self.setup = hooks
        self.eager_reason = reason
        self.amp = autocast_dtype(p)
        self.owned = updated_parameters(optimizer)
        # a device scalar: the last step's gradient norm before clipping (None: no clipping)
        self.grad_norm: torch.Tensor | None = None

    def run(self, batch: dict, index) -> torch.Tensor:
        device_type = batch["input_ids"].device.type

        def forward_backward() -> torch.Tensor:
            with autocast(device_type, self.amp, cache=self.path == "eager"):
                loss = self.strategy.loss(self.net, batch, index, self.setup)
            loss.backward()
            return loss

        loss = self.strategy.backward(forward_backward, self.owned)  # one pass, unless the strategy owns it (SAM)
        if self.p.max_grad_norm > 0:
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.p.max_grad_norm, foreach=True)
            if self.grad_norm is None:
                self.grad_norm = torch.zeros((), device=norm.device)
            self.grad_norm.copy_(norm)  # kept on the device: read only when the loop records (no sync per step)
        self.strategy.before_update(self.owned, self.setup)  # after clipping (Child-Tuning's masks)
        self.optimizer.step()
        return loss.detach()

    def __call__(self, batch: dict, index) -> torch.Tensor:
        return self.run(batch, index)

    def end(self) -> None:
        """After the loop's per-step hooks (AdaLoRA reads the gradients): clear them."""
        self.optimizer.zero_grad(set_to_none=True)

    @property
    def record(self) -> dict:
        return {
            "path": self.path,
            "eager_reason": self.eager_reason,
            "graphs": 0,
            "passes_per_step": self.strategy.passes_per_step,
        }


class CudaGraphs:
    """Capture with CUDA graphs; every shape's graph shares one memory pool."""

    warmup_runs = 3  # PyTorch asks for a few eager runs on a side stream before capture

    def __init__(self, device: torch.device):
        self.device = device
        self.pool: Any = None  # the memory pool's handle, once a graph is captured

    def warm_up(self, fn) -> None:
        stream = torch.cuda.Stream(self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            for _ in range(self.warmup_runs):
                fn()
        torch.cuda.current_stream(self.device).wait_stream(stream)

    def capture(self, fn):
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            fn()
        self.pool = graph.pool()
        return graph.replay


class Emulated:
    """The captured path's bookkeeping without a graph, for CPU tests: replay runs the step again,
    starting from cleared gradients as a graph's replay does (its backward overwrites them)."""

    def __init__(self, optimizer=None, warmup_runs: int = 1):
        self.optimizer, self.warmup_runs = optimizer, warmup_runs

    def warm_up(self, fn) -> None:
        for _ in range(self.warmup_runs):
            fn()

    def capture(self, fn):
        def replay():
            if self.optimizer is not None:
                self.optimizer.zero_grad(set_to_none=True)
            fn()

        return replay


class CapturedStep(EagerStep):
    """One captured graph per batch shape, replayed with the batch copied into static buffers."""

    path = "captured"

    def __init__(self, net, model, optimizer, p: Protocol, hooks: tuple, backend):
        super().__init__(net, model, optimizer, p, hooks)
        self.backend = backend
        self.graphs: dict[tuple, tuple] = {}
        self.loss: torch.Tensor | None = None  # the static buffer every graph writes its loss into

    def __call__(self, batch: dict, index) -> torch.Tensor:
        shape = tuple(batch["input_ids"].shape)
        if shape not in self.graphs:
            self.graphs[shape] = self._capture(batch, index)
        static, replay = self.graphs[shape]
        for key, value in batch.items():
            static[key].copy_(value, non_blocking=True)
        replay()
        if self.loss is None:  # allocated by the first capture
            raise RuntimeError("a captured step replayed before any capture")
        return self.loss.clone()

    def end(self) -> None:
        """Nothing: each replay overwrites the gradients its graph owns."""

    def _capture(self, batch: dict, index):
        static = {key: value.clone() for key, value in batch.items()}
        if self.loss is None:
            self.loss = torch.zeros((), device=batch["input_ids"].device)
        loss = self.loss
        if self.grad_norm is None and self.p.max_grad_norm > 0:  # a static buffer the graphs write, allocated outside
            self.grad_norm = torch.zeros((), device=batch["input_ids"].device)

        def body():
            loss.copy_(self.run(static, index))

        saved = snapshot(self.optimizer)
        devices = [loss.device] if loss.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            self.backend.warm_up(body)
        restore(self.optimizer, saved)
        self.optimizer.zero_grad(set_to_none=True)  # backward in the graph allocates its own gradients
        return static, self.backend.capture(body)

    @property
    def record(self) -> dict:
        return {
            "path": self.path,
            "eager_reason": None,
            "graphs": len(self.graphs),
            "passes_per_step": self.strategy.passes_per_step,
        }


class CapturedForward:
    """Scoring's forward pass, captured once per batch shape and replayed (``score(forward=...)``).

    The graphs read the weights where they live, so training between scorings needs no recapture."""

    def __init__(self, model, backend, amp: torch.dtype | None = None):
        self.model, self.backend, self.amp = model, backend, amp
        self.graphs: dict[tuple, tuple] = {}

    def __call__(self, batch: dict) -> torch.Tensor:
        shape = tuple(batch["input_ids"].shape)
        if shape not in self.graphs:
            static = {k: batch[k].clone() for k in ("input_ids", "attention_mask")}
            out = {}

            def body():
                with autocast(static["input_ids"].device.type, self.amp, cache=False):
                    out["logits"] = self.model(**static).logits

            self.backend.warm_up(body)
            self.graphs[shape] = (static, out, self.backend.capture(body))
        static, out, replay = self.graphs[shape]
        for key, value in static.items():
            value.copy_(batch[key], non_blocking=True)
        replay()
        return out["logits"]


def updated_parameters(optimizer) -> list:
    """The parameters the optimizer updates: all that a warm-up step can change."""
    return [q for g in optimizer.param_groups for q in g["params"]]


def snapshot(optimizer) -> tuple:
    weights = [q.detach().clone() for q in updated_parameters(optimizer)]
    state = {
        id(q): {k: v.clone() if torch.is_tensor(v) else v for k, v in s.items()} for q, s in optimizer.state.items()
    }
    return weights, state


def restore(optimizer, saved: tuple) -> None:
    """Undo warm-up updates in place (a graph holds these tensors' addresses): weights back, and
    optimizer state back to what it was, or to zeros where warm-up created it (a fresh AdamW state)."""
    weights, state = saved
    with torch.no_grad():
        for q, w in zip(updated_parameters(optimizer), weights):
            q.copy_(w)
        for q, s in optimizer.state.items():
            before = state.get(id(q), {})
            for k, v in s.items():
                if torch.is_tensor(v):
                    v.copy_(before[k]) if k in before else v.zero_()
                elif k in before:
                    s[k] = before[k]


def eager_reason(p: Protocol, device: torch.device, strategy) -> str | None:
    """Why a step cannot be captured here; None when it can."""
    if not p.cuda_graphs:
        return None
    if device.type != "cuda":
        return f"protocol.cuda_graphs needs CUDA; this player ran on {device.type}"
    blocker = strategy.capture_blocker()
    return f"strategy {strategy.name} {blocker}" if blocker else None
