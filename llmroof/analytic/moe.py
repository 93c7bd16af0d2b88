"""Mixture-of-experts layers: the router, the routed experts a pass touches, and the shared experts.

A MoE layer routes each of T tokens to k of E experts. Every expert stays resident, but a pass reads only the
weights of the experts its tokens touch: E * (1 - (1 - k/E)^T) of them on average under uniform routing (each
expert misses a token with probability 1 - k/E, independently across tokens). One token touches k; a large
prefill touches all E. With skewed routing (expert i takes a share p_i of the T*k assignments, sum p_i = 1) a token
picks expert i with probability q_i = min(1, k*p_i) (exact: a token assigns to an expert at most once, so its
expected assignments to i, k*p_i, are that probability), and the expected distinct count is
sum_i (1 - (1 - q_i)^T); the one approximation is that tokens route independently. Uniform p_i = 1/E gives back
E * (1 - (1 - k/E)^T).

Expert parallelism (ep ranks) gives each rank E/ep whole experts (each split over the tp ranks of its tensor group by
columns, as the dense MLP); attention runs data-parallel, so each rank's tokens come from b/ep sequences, and an
all-to-all sends each token to the ranks of its k experts and back (:mod:`llmroof.analytic.comm`). Routed
assignments are spread evenly over the ranks (T*k/ep per rank), and so are touched experts.

Per-op conventions are those of :mod:`llmroof.analytic.ops`: FLOPs 2 per multiply-add, every op reads its
inputs from and writes its outputs to device memory; the experts' GEMMs run over the tokens routed to each
expert (a grouped GEMM, or one GEMM per touched expert: the same FLOPs and weight bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmroof.analytic.opcost import ELEMENTWISE_FLOPS, OpCost

MAX_ZIPF = 100.0
"""Steeper Zipf exponents put every token on the first expert already (2^-100 of it elsewhere)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Routing:
    """How tokens spread over the routed experts (default: uniformly)."""

    zipf_s: float = 0.0
    """Zipf exponent s of the expert load: expert i (1-based, busiest first) takes a share proportional to
    1 / i^s (0: uniform)."""
    expert_load: tuple[float, ...] | None = None
    """A measured load histogram, one non-negative count or share per expert (normalised to shares here);
    wins over ``zipf_s``."""

    def __post_init__(self) -> None:
        if not 0 <= self.zipf_s <= MAX_ZIPF:
            raise ValueError(
                f"the Zipf exponent must be from 0 to {MAX_ZIPF:g}, got {self.zipf_s!r}"
            )
        if self.expert_load is not None:
            finite = all(0 <= v < float("inf") for v in self.expert_load)
            if not self.expert_load or not finite or sum(self.expert_load) <= 0:
                raise ValueError(
                    "an expert-load histogram needs finite non-negative counts with a positive sum"
                )

    @property
    def uniform(self) -> bool:
        return self.expert_load is None and self.zipf_s == 0

    def shares(self, experts: int) -> tuple[float, ...]:
        """p_i: the share of the routed assignments each expert takes (sums to 1)."""
        if self.expert_load is not None:
            if len(self.expert_load) != experts:
                raise ValueError(
                    f"the expert-load histogram lists {len(self.expert_load)} experts; "
                    f"the model has {experts}"
                )
            weights = self.expert_load
        else:
            weights = tuple(1.0 / (i + 1) ** self.zipf_s for i in range(experts))
        total = sum(weights)
        return tuple(w / total for w in weights)

    def describe(self) -> str:
        if self.expert_load is not None:
            return "measured expert-load histogram"
        return "uniform" if self.uniform else f"Zipf s={self.zipf_s:g}"


UNIFORM = Routing()


def expected_experts(experts: int, top_k: int, tokens: Any, routing: Routing = UNIFORM) -> Any:
    """Expected distinct experts that ``tokens`` tokens touch in one MoE layer (tokens may be a numpy array).

    Uniform: E * (1 - (1 - k/E)^T). Skewed: sum_i (1 - (1 - min(1, k*p_i))^T).
    """
    if routing.uniform:
        return experts * (1 - (1 - top_k / experts) ** tokens)
    total: Any = 0.0
    for share in routing.shares(experts):
        q = min(1.0, top_k * share)  # shares are data, not shapes: builtin min is fine here
        total = total + (1 - (1 - q) ** tokens)
    return total


def moe_ops(
    model: Any,
    shard: Any,
    precision: Any,
    phase: str,
    tokens: Any,
    count: int,
    *,
    routing: Routing = UNIFORM,
    all_experts: bool = False,
    fused: bool = False,
    residual: bool = True,
) -> list[OpCost]:
    """The MoE block of one layer on one rank: router, top-k, the routed experts, the combine and the shared
    experts. ``tokens``: this rank's tokens (t); the shard holds E/ep experts; ``all_experts``: count every local
    expert's weights as read (resident memory) instead of the expected touched ones.

    ``fused``: the minimum-traffic kernels of :func:`~llmroof.analytic.ops.fused_layer_ops`, the same FLOPs and
    weights: the router GEMM with softmax and top-k in its epilogue; one grouped gate/up GEMM over the touched
    experts with SiLU * mul in its epilogue; the down GEMM, whose epilogue scales each row by its routing weight
    and sums each token's k rows (and, without shared experts, adds the residual when ``residual``); the shared
    experts as a gate/up and a down GEMM, the down's epilogue adding the routed output (and the residual)."""
    t, h, e, k = tokens, shard.hidden, model.num_experts, model.experts_per_token
    w = shard.expert_intermediate  # w / tp
    a_b = precision.activation.bytes_per_element
    hi_b = precision.unquantized.bytes_per_element
    ex = precision.experts
    local = shard.experts  # E / ep
    ep = e // local
    pairs = t * k  # (token, expert) assignments: t*k leave this rank, and on average as many arrive
    touched = local if all_experts else expected_experts(e, k, t * ep, routing) / ep
    bias = model.expert_bias

    def expert_linear(name: str, k_in: int, n_out: int, bias_elems: int) -> OpCost:
        return OpCost(
            phase,
            name,
            2.0 * pairs * k_in * n_out + pairs * bias_elems,
            touched * (ex.nbytes(k_in * n_out) + bias_elems * hi_b),
            pairs * k_in * a_b,
            pairs * n_out * a_b,
            0.0,
            0.0,
            count,
        )

    router_bias = e if model.router_bias else 0
    if fused:
        return _fused_moe_ops(model, shard, precision, phase, t, count, touched, residual)
    ops = [
        # logits[t, E] = x[t, h] @ W_router[h, E]: replicated on every rank, kept in 16 bits.
        OpCost(
            phase,
            "moe.router",
            2.0 * t * h * e + t * router_bias,
            (h * e + router_bias) * hi_b,
            t * h * a_b,
            t * e * a_b,
            0.0,
            0.0,
            count,
        ),
        # softmax (or sigmoid) over E, then the k largest: writes k weights and k int32 indices per token.
        OpCost(
            phase,
            "moe.topk",
            (ELEMENTWISE_FLOPS["softmax"] * t * e) * 1.0,
            0.0,
            t * e * a_b,
            t * k * (a_b + 4),
            0.0,
            0.0,
            count,
        ),
        expert_linear("moe.gate", h, w, w if bias else 0),
        expert_linear("moe.up", h, w, w if bias else 0),
        OpCost(
            phase,
            "moe.act",
            ((ELEMENTWISE_FLOPS[model.activation] + ELEMENTWISE_FLOPS["mul"]) * pairs * w) * 1.0,
            0.0,
            2 * pairs * w * a_b,
            pairs * w * a_b,
            0.0,
            0.0,
            count,
        ),
        # Row-parallel down projection; its bias (gpt-oss) is whole on every rank, like the dense MLP's.
        OpCost(
            phase,
            "moe.down",
            2.0 * pairs * w * h + pairs * (h if bias else 0),
            touched * (ex.nbytes(w * h) + (h if bias else 0) * hi_b),
            pairs * w * a_b,
            pairs * h * a_b,
            0.0,
            0.0,
            count,
        ),
        # y[t, h] = sum over the k experts of weight * expert output.
        OpCost(
            phase,
            "moe.combine",
            2.0 * pairs * h,
            0.0,
            pairs * h * a_b + t * k * a_b,
            t * h * a_b,
            0.0,
            0.0,
            count,
        ),
    ]
    if model.num_shared_experts:
        ws = shard.shared_intermediate
        shared_bias = model.mlp_bias

        def shared_linear(name: str, k_in: int, n_out: int, out_bias: int = 0) -> OpCost:
            bias_elems = (n_out if shared_bias and not out_bias else 0) + out_bias
            return OpCost(
                phase,
                name,
                2.0 * t * k_in * n_out + t * bias_elems,
                ex.nbytes(k_in * n_out) + bias_elems * hi_b,
                t * k_in * a_b,
                t * n_out * a_b,
                0.0,
                0.0,
                count,
            )

        ops += [
            shared_linear("moe.shared.gate", h, ws),
            shared_linear("moe.shared.up", h, ws),
            OpCost(
                phase,
                "moe.shared.act",
                ((ELEMENTWISE_FLOPS[model.activation] + ELEMENTWISE_FLOPS["mul"]) * t * ws) * 1.0,
                0.0,
                2 * t * ws * a_b,
                t * ws * a_b,
                0.0,
                0.0,
                count,
            ),
            shared_linear("moe.shared.down", ws, h, h if shared_bias else 0),
            OpCost(
                phase,
                "moe.shared.add",
                (t * h) * 1.0,
                0.0,
                2 * t * h * a_b,
                t * h * a_b,
                0.0,
                0.0,
                count,
            ),
        ]
    return ops


def _fused_moe_ops(
    model: Any,
    shard: Any,
    precision: Any,
    phase: str,
    t: Any,
    count: int,
    touched: Any,
    residual: bool,
) -> list[OpCost]:
    """See :func:`moe_ops` (``fused``): the eager ops' FLOPs and weights in five (or three) kernels."""
    h, e, k = shard.hidden, model.num_experts, model.experts_per_token
    w = shard.expert_intermediate
    a_b = precision.activation.bytes_per_element
    hi_b = precision.unquantized.bytes_per_element
    ex = precision.experts
    pairs = t * k
    x_bytes = t * h * a_b
    add = ELEMENTWISE_FLOPS["add"]
    act = ELEMENTWISE_FLOPS[model.activation] + ELEMENTWISE_FLOPS["mul"]
    bias = model.expert_bias
    router_bias = e if model.router_bias else 0
    shared = model.num_shared_experts > 0
    routed_residual = residual and not shared  # the last kernel of the block adds the residual
    ops = [
        OpCost(
            phase,
            "moe.router",
            2.0 * t * h * e + t * router_bias + ELEMENTWISE_FLOPS["softmax"] * t * e,
            (h * e + router_bias) * hi_b,
            t * h * a_b,
            t * k * (a_b + 4),
            0.0,
            0.0,
            count,
        ),
        OpCost(
            phase,
            "moe.gate_up",
            2.0 * pairs * h * (2 * w) + pairs * (2 * w if bias else 0) + act * pairs * w,
            touched * (2 * (ex.nbytes(h * w) + (w if bias else 0) * hi_b)),
            pairs * h * a_b,
            pairs * w * a_b,
            0.0,
            0.0,
            count,
        ),
        OpCost(
            phase,
            "moe.down",
            2.0 * pairs * w * h
            + pairs * (h if bias else 0)
            + 2.0 * pairs * h
            + (add * t * h if routed_residual else 0),
            touched * (ex.nbytes(w * h) + (h if bias else 0) * hi_b),
            pairs * w * a_b + t * k * a_b + (x_bytes if routed_residual else 0.0),
            x_bytes,
            0.0,
            0.0,
            count,
        ),
    ]
    if shared:
        ws = shard.shared_intermediate
        shared_bias = model.mlp_bias
        ops += [
            OpCost(
                phase,
                "moe.shared.gate_up",
                2.0 * t * h * (2 * ws) + t * (2 * ws if shared_bias else 0) + act * t * ws,
                2 * ex.nbytes(h * ws) + (2 * ws if shared_bias else 0) * hi_b,
                x_bytes,
                t * ws * a_b,
                0.0,
                0.0,
                count,
            ),
            # y = shared(x) + routed(x) (+ x): reads the routed output (and the residual stream).
            OpCost(
                phase,
                "moe.shared.down",
                2.0 * t * ws * h
                + t * (h if shared_bias else 0)
                + add * t * h
                + (add * t * h if residual else 0),
                ex.nbytes(ws * h) + (h if shared_bias else 0) * hi_b,
                t * ws * a_b + x_bytes + (x_bytes if residual else 0.0),
                x_bytes,
                0.0,
                0.0,
                count,
            ),
        ]
    return ops
