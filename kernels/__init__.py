"""The PyTorch kernels that ``llmroof profile`` times (installed as ``llmroof.kernels``).

Built from a :class:`~llmroof.specs.model.ModelSpec` with the model's real shapes and random weights in the
chosen dtype (nothing is downloaded):

- ``weights``: cheap random fills (a seeded pool tiled across the tensor: values do not matter for timing);
- ``layers``: RMSNorm/LayerNorm, rotary embedding, GQA attention for prefill (causal SDPA) and decode
  (one new token over a KV cache, each KV head read once), the MLP, a decoder layer and a stack of layers;
- ``ops``: one callable per analytic op name (``attn.q``, ``attn.scores``, ``mlp.down``, ...);
- ``ceilings``: the bandwidth (read, copy) and compute (matrix product) probes.

Only the measurement layer imports this package; it needs torch.
"""
