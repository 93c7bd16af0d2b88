"""llmroof: how close is your LLM inference to the memory wall?

The package is layered; imports point one way, down this chain:

    specs (models, hardware, dtypes) -> analytic (per-op FLOPs and bytes, roofline, parallelism)
    -> measurement (kernels, timer, sampler) -> results -> report / compare / plan -> cli

Nothing below ``cli`` prints; nothing in ``specs`` or ``analytic`` imports torch.
"""

__version__ = "0.1.0"
