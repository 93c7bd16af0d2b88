"""``llmroof bench``: load a serving engine (OpenAI-compatible or KServe/Triton generate, streamed) at
several concurrencies or request rates, measure TTFT, TPOT, ITL and throughput as vLLM's ``bench serve``
does, and place every level's decode on the analytic roofline of the served model and hardware.
"""

from llmroof.bench.run import BenchConfig, run_bench
from llmroof.results.records.bench import SCHEMA, BenchResult, Level, RequestRecord

__all__ = ["SCHEMA", "BenchConfig", "BenchResult", "Level", "RequestRecord", "run_bench"]
