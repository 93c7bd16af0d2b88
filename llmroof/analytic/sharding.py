"""How a model is cut across GPUs: the per-rank widths under tensor parallelism (Megatron-LM layout) and
the layers of each pipeline stage."""

from __future__ import annotations

from dataclasses import dataclass

from llmroof.errors import LlmroofError
from llmroof.specs.model import ModelSpec


@dataclass(frozen=True, slots=True)
class Shard:
    """Widths that one tensor-parallel rank holds.

    q/k/v/gate/up are split by columns, o/down by rows, the KV heads across ranks (each KV head replicated
    on tp/kv ranks when kv < tp), the vocabulary across ranks (padded up to a multiple of tp).
    """

    tp: int
    heads: int
    """Query heads on this rank, H/tp."""
    kv_heads: int
    """KV heads on this rank: kv/tp, or 1 when kv < tp (replicated)."""
    head_dim: int
    hidden: int
    """The full hidden size: activations between layers are whole on every rank."""
    intermediate: int
    """MLP columns on this rank, i/tp."""
    vocab: int
    """Vocabulary rows on this rank, ceil(V/tp)."""
    expert_intermediate: int = 0
    """Mixture-of-experts: columns of each expert's MLP on this rank, w/tp (0: a dense model)."""
    shared_intermediate: int = 0
    """Mixture-of-experts: columns of the shared experts' MLP on this rank, shared * w / tp."""
    experts: int = 0
    """Mixture-of-experts: routed experts held by this rank, E/ep."""

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim


def shard_model(model: ModelSpec, tp: int, ep: int = 1) -> Shard:
    """The per-rank widths of ``model`` at tensor-parallel degree ``tp`` and expert-parallel degree ``ep``;
    errors when the shapes do not divide."""
    if tp < 1:
        raise LlmroofError(f"--tp must be at least 1, got {tp}")
    if ep < 1:
        raise LlmroofError(f"--ep must be at least 1, got {ep}")
    if ep > 1 and not model.is_moe:
        raise LlmroofError(
            f"--ep {ep}: {model.name} has no experts to split",
            "expert parallelism needs a MoE model",
        )
    if model.is_moe and model.experts[0] % ep:
        raise LlmroofError(
            f"--ep {ep} does not divide the {model.num_experts} experts of {model.name}",
            f"choose an ep that divides {model.num_experts}",
        )
    for width, what in (
        (model.expert_width if model.is_moe else 0, "expert MLP width"),
        (model.num_shared_experts * model.expert_width, "shared experts' width"),
    ):
        if width % tp:
            raise LlmroofError(
                f"--tp {tp} does not divide the {what} {width} of {model.name}",
                f"choose a tp that divides {width}",
            )
    if model.num_heads % tp:
        raise LlmroofError(
            f"--tp {tp} does not divide the {model.num_heads} attention heads of {model.name}",
            f"choose a tp that divides {model.num_heads}",
        )
    if model.num_kv_heads >= tp:
        if model.num_kv_heads % tp:
            raise LlmroofError(
                f"--tp {tp} does not divide the {model.num_kv_heads} KV heads of {model.name}",
                f"choose a tp that divides {model.num_kv_heads}, or a multiple of it",
            )
        kv_heads = model.num_kv_heads // tp
    else:
        if tp % model.num_kv_heads:
            raise LlmroofError(
                f"--tp {tp} cannot replicate the {model.num_kv_heads} KV heads of {model.name} evenly",
                f"with fewer KV heads than ranks, tp must be a multiple of {model.num_kv_heads}",
            )
        kv_heads = 1
    if (
        model.num_layers > model.moe_layers and model.intermediate_size % tp
    ):  # some layers have a dense MLP
        raise LlmroofError(
            f"--tp {tp} does not divide the MLP width {model.intermediate_size} of {model.name}",
            f"choose a tp that divides {model.intermediate_size}",
        )
    return Shard(
        tp=tp,
        heads=model.num_heads // tp,
        kv_heads=kv_heads,
        head_dim=model.head_dim,
        hidden=model.hidden_size,
        intermediate=model.intermediate_size // tp,
        vocab=-(-model.vocab_size // tp),
        expert_intermediate=model.expert_width // tp if model.is_moe else 0,
        shared_intermediate=model.num_shared_experts * model.expert_width // tp,
        experts=(model.num_experts or 0) // ep,
    )


def stage_layers(
    num_layers: int, pp: int, explicit: tuple[int, ...] | None = None
) -> tuple[int, ...]:
    """Layers held by each pipeline stage.

    An even split when ``pp`` divides the layers; otherwise the first ``L mod pp`` stages hold one more.
    ``explicit`` gives the split by hand (it must add up to the model's layers).
    """
    if pp < 1:
        raise LlmroofError(f"--pp must be at least 1, got {pp}")
    if pp > num_layers:
        raise LlmroofError(f"--pp {pp} is more stages than the model's {num_layers} layers")
    if explicit is not None:
        if len(explicit) != pp or sum(explicit) != num_layers or min(explicit) < 1:
            raise LlmroofError(
                f"--pp-layers {','.join(map(str, explicit))} must give {pp} stages of at least one layer "
                f"adding up to {num_layers}"
            )
        return tuple(explicit)
    base, extra = divmod(num_layers, pp)
    return tuple(base + (1 if stage < extra else 0) for stage in range(pp))
