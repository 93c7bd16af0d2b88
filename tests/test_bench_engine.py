"""llmroof bench against a real engine on this CPU: ``transformers serve`` serving a tiny random-weights
Llama saved under the test's temporary folder, with a byte-level BPE tokenizer trained on the spot."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bench_servers import free_port, server
from cli_runner import run_cli

pytest.importorskip("fastapi", reason="transformers[serving] (the test extra) is not installed")
pytestmark = pytest.mark.slow

CORPUS = ["the memory wall bounds decode: every step reads all weights and the whole KV cache",
          "serving engines batch requests so that one weight read serves many sequences",
          "time to first token, time per output token, inter-token latency and goodput under SLOs"]


def save_tiny_llama(folder: Path) -> Path:
    """hidden 64, 2 layers, vocab 512; EOS suppressed in the generation config, the stand-in for
    ignore_eos, which ``transformers serve`` refuses."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=["<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    words = " ".join(CORPUS).split()
    bpe.train_from_iterator([" ".join(words[i:] + words[:i]) for i in range(len(words))] * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<s>", eos_token="</s>")
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=len(tokenizer), max_position_embeddings=512,
                         bos_token_id=0, eos_token_id=1)
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(bos_token_id=0, eos_token_id=1, suppress_tokens=[1])
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    pytest.importorskip("transformers.cli.transformers", reason="transformers has no CLI")
    # The `transformers` console script, run through this interpreter (its folder need not be on PATH).
    cli = [sys.executable, "-c", "import sys; from transformers.cli.transformers import main; sys.exit(main())"]
    folder = save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with server([*cli, "serve", str(folder), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
                port, log):
        yield f"http://127.0.0.1:{port}", folder


def test_concurrency_sweep_on_transformers_serve(engine, tmp_path, capsys):
    url, folder = engine
    code, stdout, stderr = run_cli(capsys, "bench", "--url", url, "--model", str(folder), "--concurrency", "1,4",
                                   "--requests", "16", "--input-len", "64", "--output-len", "32", "--dtype", "fp32",
                                   "--tpot-slo", "10000", "--out", str(tmp_path), "--format", "json")
    assert code == 0, stderr
    data = json.loads(stdout)
    assert data["schema"] == "llmroof.bench/1"
    assert data["prompt_method"].startswith("exact: 64 tokens")
    assert data["hardware_method"].startswith("measured")  # a local CPU server: this CPU's ceilings
    assert [level["concurrency"] for level in data["levels"]] == [1, 4]
    saved = json.loads((tmp_path / "results.json").read_text())
    for level, kept in zip(data["levels"], saved["levels"]):
        assert level["requests"] == 16 and level["errors"] == 0
        assert level["output_tokens"] == 16 * 32 and level["token_source"] == "usage"
        assert all(r["input_tokens"] == 64 and r["output_tokens"] == 32 for r in kept["records"])
        for metric in ("ttft_s", "tpot_s", "itl_s", "e2e_s"):
            assert set(level[metric]) >= {"mean", "p50", "p90", "p95", "p99"}
            values = [level[metric][k] for k in ("p50", "p90", "p95", "p99")]
            assert all(v is not None and v > 0 for v in values) and values == sorted(values)
        assert level["output_tokens_per_s"] == pytest.approx(level["output_tokens"] / level["duration_s"])
        assert level["goodput_per_s"] == pytest.approx(level["request_throughput_per_s"])  # a 10 s SLO: all good
        roof = level["roofline"]
        assert roof["bound"] in ("memory", "compute") and roof["tpot_bound_s"] > 0
        assert roof["tpot_fraction"] == pytest.approx(roof["tpot_bound_s"] / level["tpot_s"]["mean"])
        assert 0 < roof["tpot_fraction"] < 1  # no engine beats its roofline
        assert roof["context_len"] == pytest.approx(64 + 33 / 2, abs=1)
