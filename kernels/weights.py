"""Cheap random weights: torch's default initialisation of a 1B-parameter model takes tens of seconds on
two cores, and kernel timing does not depend on the values. A seeded pool of 2^20 normal values is tiled
across each tensor with copies (memory-bandwidth speed); tensors smaller than the pool are fully random."""

from __future__ import annotations

from typing import Any

import torch

POOL_ELEMENTS = 2**20
_pools: dict[tuple[Any, str], torch.Tensor] = {}


def _pool(dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    key = (dtype, str(device))
    if key not in _pools:
        generator = torch.Generator().manual_seed(0)
        values = torch.randn(POOL_ELEMENTS, generator=generator) * 0.02
        _pools[key] = values.to(dtype=dtype, device=device)
    return _pools[key]


def fill_(tensor: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Fill ``tensor`` in place with tiled pseudo-random values of standard deviation ~0.02 * scale."""
    flat = tensor.view(-1)
    pool = _pool(tensor.dtype, tensor.device)
    if scale != 1.0:
        pool = pool * scale
    n = flat.numel()
    for start in range(0, n, POOL_ELEMENTS):
        stop = min(n, start + POOL_ELEMENTS)
        flat[start:stop].copy_(pool[: stop - start])
    return tensor


def random(
    shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str, scale: float = 1.0
) -> torch.Tensor:
    """A new tensor of ``shape`` filled by :func:`fill_`."""
    return fill_(torch.empty(shape, dtype=dtype, device=device), scale)


def ones(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str) -> torch.Tensor:
    return torch.ones(shape, dtype=dtype, device=device)
