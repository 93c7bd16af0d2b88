"""A mixture-of-experts MLP in plain PyTorch: router, top-k, and the touched experts' GEMMs looped over the
experts the tokens hit (one GEMM per touched expert on exactly its tokens, as transformers' eager experts and
the analytic ``moe.*`` ops count them; no grouped GEMM), the weighted combine, and the shared experts.

Shapes: t tokens, h hidden, E experts, k per token, w expert width, S*w the shared experts' width.
Routing: softmax over the router logits, the k largest, renormalised (Mixtral, Qwen3-MoE). With random weights
and inputs the routing is close to uniform, which is what the analytic default assumes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from llmroof.kernels import weights
from llmroof.specs.model import ModelSpec


class MoeBlock:
    """Router, E routed experts (gated MLPs of width w) and the shared experts of one layer."""

    def __init__(self, spec: ModelSpec, dtype: torch.dtype, device: torch.device | str) -> None:
        (e, self.top_k), h, w = spec.experts, spec.hidden_size, spec.expert_width
        self.act = F.gelu if spec.activation == "gelu" else F.silu
        self.router = weights.random((e, h), dtype, device)  # [E, h]
        self.router_bias = weights.random((e,), dtype, device) if spec.router_bias else None
        self.w_gate = weights.random((e, w, h), dtype, device)  # [E, w, h], each as nn.Linear
        self.w_up = weights.random((e, w, h), dtype, device)
        self.w_down = weights.random((e, h, w), dtype, device)  # [E, h, w]
        bias = spec.expert_bias
        self.b_gate = weights.random((e, w), dtype, device) if bias else None
        self.b_up = weights.random((e, w), dtype, device) if bias else None
        self.b_down = weights.random((e, h), dtype, device) if bias else None
        ws = spec.num_shared_experts * w
        self.shared: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        if ws:
            self.shared = (
                weights.random((ws, h), dtype, device),
                weights.random((ws, h), dtype, device),
                weights.random((h, ws), dtype, device),
            )  # gate, up [S*w, h]; down [h, S*w]

    # --- pieces, at the analytic op names ---------------------------------------------------------------
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``moe.router``: x [t, h] -> [t, E]."""
        return F.linear(x, self.router, self.router_bias)

    def top(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``moe.topk``: the k experts of each token and their renormalised weights, both [t, k]."""
        probs = torch.softmax(logits.float(), dim=-1)
        weight, index = probs.topk(self.top_k, dim=-1)
        return (weight / weight.sum(-1, keepdim=True)).to(logits.dtype), index

    @staticmethod
    def groups(index: torch.Tensor) -> list[tuple[int, torch.Tensor, torch.Tensor]]:
        """(expert, its tokens, their top-k slot) for every expert the tokens touch."""
        result = []
        for expert in torch.unique(index).tolist():
            token, slot = torch.nonzero(index == expert, as_tuple=True)
            result.append((expert, token, slot))
        return result

    def gate(self, x: torch.Tensor, e: int) -> torch.Tensor:
        return F.linear(x, self.w_gate[e], None if self.b_gate is None else self.b_gate[e])

    def up(self, x: torch.Tensor, e: int) -> torch.Tensor:
        return F.linear(x, self.w_up[e], None if self.b_up is None else self.b_up[e])

    def down(self, x: torch.Tensor, e: int) -> torch.Tensor:
        return F.linear(x, self.w_down[e], None if self.b_down is None else self.b_down[e])

    def shared_mlp(self, x: torch.Tensor) -> torch.Tensor:
        assert self.shared is not None, "a layer without shared experts"
        gate, up, down = self.shared
        return F.linear(self.act(F.linear(x, gate)) * F.linear(x, up), down)

    # --- the whole block ----------------------------------------------------------------------------------
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: [b, s, h] -> [b, s, h]."""
        flat = x.reshape(-1, x.shape[-1])
        weight, index = self.top(self.logits(flat))
        out = torch.zeros_like(flat)
        for e, token, slot in self.groups(index):
            rows = flat[token]
            hidden = self.act(self.gate(rows, e)) * self.up(rows, e)
            out.index_add_(0, token, self.down(hidden, e) * weight[token, slot, None])
        if self.shared is not None:
            out = out + self.shared_mlp(flat)
        return out.view_as(x)

    def experts_touched(self, x: torch.Tensor) -> int:
        """Distinct experts the tokens of x [b, s, h] are routed to."""
        _, index = self.top(self.logits(x.reshape(-1, x.shape[-1])))
        return int(torch.unique(index).numel())

    def op_kernels(self, x: torch.Tensor) -> dict[str, Callable[[], torch.Tensor]]:
        """One callable per analytic ``moe.*`` op, on x [b, s, h]; each loops over the touched experts."""
        flat = x.reshape(-1, x.shape[-1])
        logits = self.logits(flat)
        weight, index = self.top(logits)
        groups = self.groups(index)
        rows = {e: flat[token] for e, token, _ in groups}
        gates = {e: self.gate(rows[e], e) for e, _, _ in groups}
        ups = {e: self.up(rows[e], e) for e, _, _ in groups}
        hidden = {e: self.act(gates[e]) * ups[e] for e, _, _ in groups}
        outs = {e: self.down(hidden[e], e) for e, _, _ in groups}

        def loop(fn: Callable[[int], torch.Tensor]) -> Callable[[], torch.Tensor]:
            def run() -> torch.Tensor:
                last = flat
                for e, _, _ in groups:
                    last = fn(e)
                return last

            return run

        def combine() -> torch.Tensor:
            out = torch.zeros_like(flat)
            for e, token, slot in groups:
                out.index_add_(0, token, outs[e] * weight[token, slot, None])
            return out

        kernels: dict[str, Callable[[], torch.Tensor]] = {
            "moe.router": lambda: self.logits(flat),
            "moe.topk": lambda: self.top(logits)[0],
            "moe.gate": loop(lambda e: self.gate(rows[e], e)),
            "moe.up": loop(lambda e: self.up(rows[e], e)),
            "moe.act": loop(lambda e: self.act(gates[e]) * ups[e]),
            "moe.down": loop(lambda e: self.down(hidden[e], e)),
            "moe.combine": combine,
        }
        if self.shared is not None:
            gate_w, up_w, down_w = self.shared
            s_gate, s_up = F.linear(flat, gate_w), F.linear(flat, up_w)
            s_hidden = self.act(s_gate) * s_up
            s_out = F.linear(s_hidden, down_w)
            kernels.update(
                {
                    "moe.shared.gate": lambda: F.linear(flat, gate_w),
                    "moe.shared.up": lambda: F.linear(flat, up_w),
                    "moe.shared.act": lambda: self.act(s_gate) * s_up,
                    "moe.shared.down": lambda: F.linear(s_hidden, down_w),
                    "moe.shared.add": lambda: s_out + flat,
                }
            )
        return kernels
