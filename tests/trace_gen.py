"""Writes GPU-format profiler traces for the tests, from the documented formats and real kernel names, and
records what it wrote (each kernel's op, category and time) so that attribution can be checked exactly.

Kineto's Chrome-trace JSON (``traceEvents``: ``cpu_op`` with ``External id`` and ``Input Dims``,
``cuda_runtime`` launches with ``correlation``, ``kernel`` events on streams, ``ac2g`` flows,
``user_annotation``/``gpu_user_annotation`` steps, ``deviceProperties``), in the current spellings or the
older ones; and the same kernels as an Nsight Systems SQLite export (:func:`write_nsys`).
"""

from __future__ import annotations

import gzip
import json
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmroof.specs.model import ModelSpec

GEMM = "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1_execute_segment_k_off_kernel__5x_cublas"
GEMV = "nvjet_tst_192x8_64x8_2x1_v_bz_TNN"
SPLITK = "void cublasLt::splitKreduce_kernel<32, 16, int, __nv_bfloat16, __nv_bfloat16, float, __nv_bfloat16, true, false, false>(cublasLt::cublasSplitKParams<float>, __nv_bfloat16 const*, __nv_bfloat16 const*, __nv_bfloat16*, float const*, float const*, __nv_bfloat16 const*, __nv_bfloat16 const*, __nv_bfloat16*, void*, long, float*, int*)"
K = {
    "embed": (
        "aten::embedding",
        "void at::native::(anonymous namespace)::indexSelectLargeIndex<c10::BFloat16, long, unsigned int, 2, 2, -2, true>(at::cuda::detail::TensorInfo<c10::BFloat16, unsigned int>, at::cuda::detail::TensorInfo<c10::BFloat16 const, unsigned int>, at::cuda::detail::TensorInfo<long const, unsigned int>, int, int, unsigned int, unsigned int, long)",
        "copy",
    ),
    "norm": (
        "_C::fused_add_rms_norm",
        "void vllm::fused_add_rms_norm_kernel<c10::BFloat16, 8>(c10::BFloat16*, c10::BFloat16*, c10::BFloat16 const*, float, int, int)",
        "norm",
    ),
    "rope": (
        "_C::rotary_embedding",
        "void vllm::rotary_embedding_kernel<c10::BFloat16, true>(long const*, c10::BFloat16*, c10::BFloat16*, c10::BFloat16 const*, int, long, long, int, int, int)",
        "rope",
    ),
    "cache": (
        "_C_cache_ops::reshape_and_cache_flash",
        "void vllm::reshape_and_cache_flash_kernel<__nv_bfloat16, __nv_bfloat16, (vllm::Fp8KVCacheDataType)0>(__nv_bfloat16 const*, __nv_bfloat16 const*, __nv_bfloat16*, __nv_bfloat16*, long const*, long, long, long, long, int, int, int, float const*, float const*)",
        "kv_cache_write",
    ),
    "prefill": (
        "vllm::unified_attention_with_output",
        "void flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 64, 4, false, false, cutlass::bfloat16_t, Flash_kernel_traits<128, 128, 64, 4, cutlass::bfloat16_t> >, false, true, false, false, false, true, false, false>(flash::Flash_fwd_params)",
        "attention_prefill",
    ),
    "decode": (
        "vllm::unified_attention_with_output",
        "void flash::flash_fwd_splitkv_kernel<Flash_fwd_kernel_traits<128, 64, 128, 4, false, false, cutlass::bfloat16_t, Flash_kernel_traits<128, 64, 128, 4, cutlass::bfloat16_t> >, false, true, false, false, true, true, false, false>(flash::Flash_fwd_params)",
        "attention_decode",
    ),
    "combine": (
        "vllm::unified_attention_with_output",
        "void flash::flash_fwd_splitkv_combine_kernel<Flash_fwd_kernel_traits<128, 64, 128, 4, false, false, cutlass::bfloat16_t, Flash_kernel_traits<128, 64, 128, 4, cutlass::bfloat16_t> >, 4, 3, true>(flash::Flash_fwd_params)",
        "attention_decode",
    ),
    "act": (
        "_C::silu_and_mul",
        "void vllm::act_and_mul_kernel<c10::BFloat16, &(c10::BFloat16 vllm::silu_kernel<c10::BFloat16>(c10::BFloat16 const&)), true>(c10::BFloat16*, c10::BFloat16 const*, int)",
        "activation",
    ),
    "allreduce": (
        "vllm::all_reduce",
        "void vllm::cross_device_reduce_1stage<__nv_bfloat16, 2>(vllm::RankData*, vllm::RankSignals, vllm::Signal*, __nv_bfloat16*, int, int)",
        "communication",
    ),
    "topk": (
        "_moe_C::topk_softmax",
        "void vllm::moe::topkGatingSoftmax<8, 8, 4, 16, 32, int, float>(float const*, bool const*, float*, int, int*, int*, int, int, int)",
        "moe_routing",
    ),
    "align": (
        "_moe_C::moe_align_block_size",
        "void vllm::moe::moe_align_block_size_kernel<int>(int const*, int*, int*, int*, int, int, int, int, unsigned long, int*)",
        "moe_routing",
    ),
    "moe_gemm": ("vllm::fused_moe", "fused_moe_kernel", "moe_gemm"),
    "moe_sum": (
        "_moe_C::moe_sum",
        "void vllm::moe::moe_sum_kernel<c10::BFloat16, 2>(c10::BFloat16*, c10::BFloat16 const*, int)",
        "moe_routing",
    ),
    "argmax": (
        "aten::argmax",
        "void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float, at::native::ArgMaxOps<float>, unsigned int, long, 4> >(at::native::ReduceOp<float, at::native::ArgMaxOps<float>, unsigned int, long, 4>)",
        "sampling",
    ),
}


@dataclass(frozen=True)
class Launch:
    """One kernel as written: its name, op (None: not a model op), category, duration, and CPU op."""

    op: str | None
    layer: int | None
    cpu_op: str
    kernel: str
    category: str
    dur_us: float
    dims: tuple[Any, ...] = ()
    stream: int = 7
    same_op_as_previous: bool = False
    """Launched by the same CPU op as the kernel before (split-K reduce, split-KV combine)."""


@dataclass
class Written:
    """What a generator wrote."""

    path: Path
    kernels: list[tuple[str, str | None, str, float, int]] = field(default_factory=list)
    """(kernel name, op, category, duration us, step) of every kernel."""
    steps: list[dict[str, Any]] = field(default_factory=list)

    def op_times_us(self) -> dict[tuple[str, str], float]:
        """(op, phase) -> summed duration."""
        out: dict[tuple[str, str], float] = defaultdict(float)
        for _, op, _, dur, step in self.kernels:
            if op is not None:
                out[op, self.steps[step]["phase"]] += dur
        return dict(out)


def step_launches(
    model: ModelSpec,
    *,
    phase: str,
    tokens: int,
    batch: int,
    tp: int = 1,
    split_k: bool = False,
    allreduce: bool = False,
    moe: bool = False,
) -> list[Launch]:
    """The kernels of one forward step of a vLLM-like engine (fused QKV and gate/up, fused add+RMSNorm)."""
    h, heads, kv, d = (
        model.hidden_size,
        model.num_heads // tp,
        max(model.num_kv_heads // tp, 1),
        model.head_dim,
    )
    i, vocab = model.intermediate_size // tp, model.vocab_size // tp
    q, kvd = heads * d, kv * d
    gemm = GEMM if phase == "prefill" else GEMV

    def k(
        op: str | None,
        layer: int | None,
        key: str,
        dur: float,
        dims: tuple[Any, ...] = (),
        **kw: Any,
    ) -> Launch:
        cpu, kernel, category = K[key]
        return Launch(op, layer, cpu, kernel, category, dur, dims, **kw)

    def linear(op: str, layer: int | None, k_: int, n: int, dur: float) -> list[Launch]:
        out = [Launch(op, layer, "aten::linear", gemm, "gemm", dur, ((tokens, k_), (n, k_)))]
        if split_k:
            out.append(
                Launch(op, layer, "aten::linear", SPLITK, "gemm", 3.0, same_op_as_previous=True)
            )
        return out

    out = [k("embed", None, "embed", 10.0, ((model.vocab_size // tp, h), (tokens,)))]
    for layer in range(model.num_layers):
        out.append(k("attn.norm", layer, "norm", 8.0))
        out += linear("attn.qkv", layer, h, q + 2 * kvd, 150.0)
        out.append(k("attn.rope", layer, "rope", 6.0))
        out.append(k("attn.flash", layer, "cache", 5.0))
        if phase == "prefill":
            out.append(k("attn.flash", layer, "prefill", 120.0))
        else:
            out.append(k("attn.flash", layer, "decode", 60.0))
            out.append(k("attn.flash", layer, "combine", 4.0, same_op_as_previous=True))
        out += linear("attn.o", layer, q, h, 100.0)
        if allreduce:
            out.append(k("comm.attn_allreduce", layer, "allreduce", 30.0, stream=13))
        out.append(k("mlp.norm", layer, "norm", 8.0))
        if moe:
            e, w = model.num_experts, model.expert_width // tp
            out += linear("moe.router", layer, h, e, 20.0)
            out.append(k("moe.router", layer, "topk", 5.0))
            out.append(k("moe.router", layer, "align", 5.0))
            out.append(
                k(
                    "moe.gate_up",
                    layer,
                    "moe_gemm",
                    400.0,
                    (),
                )
            )
            out.append(k("moe.gate_up", layer, "act", 10.0))
            out.append(k("moe.down", layer, "moe_gemm", 300.0))
            out.append(k("moe.down", layer, "moe_sum", 5.0))
            del w
        else:
            out += linear("mlp.gate_up", layer, h, 2 * i, 300.0)
            out.append(k("mlp.act", layer, "act", 10.0))
            out += linear("mlp.down", layer, i, h, 200.0)
        if allreduce:
            out.append(k("comm.mlp_allreduce", layer, "allreduce", 30.0, stream=13))
    out.append(k("final_norm", None, "norm", 8.0))
    out.append(
        Launch("lm_head", None, "aten::linear", gemm, "gemm", 900.0, ((batch, h), (vocab, h)))
    )
    out.append(k(None, None, "argmax", 5.0))
    return out


def write_kineto(
    path: Path,
    model: ModelSpec,
    steps: list[dict[str, Any]],
    *,
    graphs: bool = False,
    old_spelling: bool = False,
    device: str = "NVIDIA H100 80GB HBM3",
    gap_us: float = 2.0,
    gz: bool = False,
    distributed: dict[str, Any] | None = None,
    **kw: Any,
) -> Written:
    """A Kineto trace of ``steps`` (each ``{"phase", "batch", "tokens", "name"}``): eager (a CPU op per
    launch, with its input shapes) or, with ``graphs``, CUDA-graph replays (one cudaGraphLaunch per step,
    no CPU ops, no External id on kernels)."""
    cat = (
        {"kernel": "Kernel", "cpu_op": "Operator", "cuda_runtime": "Runtime"}
        if old_spelling
        else {}
    )
    ext_key, dims_key = (
        ("external id", "Input dims") if old_spelling else ("External id", "Input Dims")
    )
    events: list[dict[str, Any]] = []
    written = Written(path, steps=steps)
    cpu_t, gpu_t, ext, corr = 1000.0, 1100.0, 1, 1
    for index, step in enumerate(steps):
        launches = step_launches(
            model, phase=step["phase"], tokens=step["tokens"], batch=step["batch"], **kw
        )
        step_start = cpu_t
        graph_corr = corr
        if graphs:
            events.append(
                {
                    "ph": "X",
                    "cat": cat.get("cuda_runtime", "cuda_runtime"),
                    "name": "cudaGraphLaunch",
                    "pid": 1,
                    "tid": 1,
                    "ts": cpu_t + 1,
                    "dur": 8,
                    "args": {"correlation": graph_corr},
                }
            )
            corr += 1
        gpu_t = max(gpu_t, cpu_t + 20)
        op_ext = None
        for launch in launches:
            if not graphs:
                if not launch.same_op_as_previous:
                    op_ext = ext
                    ext += 1
                    args: dict[str, Any] = {ext_key: op_ext}
                    if launch.dims:
                        args[dims_key] = [list(d) for d in launch.dims]
                    events.append(
                        {
                            "ph": "X",
                            "cat": cat.get("cpu_op", "cpu_op"),
                            "name": launch.cpu_op,
                            "pid": 1,
                            "tid": 1,
                            "ts": cpu_t,
                            "dur": 6,
                            "args": args,
                        }
                    )
                events.append(
                    {
                        "ph": "X",
                        "cat": cat.get("cuda_runtime", "cuda_runtime"),
                        "name": "cudaLaunchKernel",
                        "pid": 1,
                        "tid": 1,
                        "ts": cpu_t + 1,
                        "dur": 4,
                        "args": {ext_key: op_ext, "correlation": corr},
                    }
                )
                events.append(
                    {
                        "ph": "s",
                        "id": corr,
                        "pid": 1,
                        "tid": 1,
                        "ts": cpu_t + 1,
                        "cat": "ac2g",
                        "name": "ac2g",
                    }
                )
                cpu_t += 7
            kernel_corr = graph_corr if graphs else corr
            kargs: dict[str, Any] = {
                "correlation": kernel_corr,
                "device": 0,
                "stream": launch.stream,
                "grid": [132, 1, 1],
                "block": [128, 1, 1],
            }
            if not graphs:
                kargs[ext_key] = op_ext
            # collectives on their own stream overlap the next kernel by half their time
            start = gpu_t
            events.append(
                {
                    "ph": "X",
                    "cat": cat.get("kernel", "kernel"),
                    "name": launch.kernel,
                    "pid": 0,
                    "tid": launch.stream,
                    "ts": start,
                    "dur": launch.dur_us,
                    "args": kargs,
                }
            )
            if not graphs:
                events.append(
                    {
                        "ph": "f",
                        "id": corr,
                        "pid": 0,
                        "tid": launch.stream,
                        "ts": start,
                        "cat": "ac2g",
                        "name": "ac2g",
                        "bp": "e",
                    }
                )
                corr += 1
            gpu_t = start + (launch.dur_us / 2 if launch.stream != 7 else launch.dur_us + gap_us)
            written.kernels.append(
                (launch.kernel, launch.op, launch.category, launch.dur_us, index)
            )
        cpu_t = max(cpu_t, gpu_t) + 50
        name = step.get("name") or f"ProfilerStep#{index}"
        events.append(
            {
                "ph": "X",
                "cat": "user_annotation",
                "name": name,
                "pid": 1,
                "tid": 1,
                "ts": step_start,
                "dur": cpu_t - step_start - 10,
            }
        )
        if name.startswith("ProfilerStep#"):  # Kineto repeats the step on the device timeline
            events.append(
                {
                    "ph": "X",
                    "cat": "gpu_user_annotation",
                    "name": name,
                    "pid": 0,
                    "tid": 7,
                    "ts": step_start + 20,
                    "dur": gpu_t - step_start - 20,
                }
            )
    document: dict[str, Any] = {
        "schemaVersion": 1,
        "deviceProperties": [{"id": 0, "name": device, "totalGlobalMem": 85 << 30}],
        "traceEvents": events,
        "traceName": str(path),
    }
    if distributed:
        document["distributedInfo"] = distributed
    text = json.dumps(document)
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return written


def write_nsys(path: Path, kineto: Path, device: str = "NVIDIA H100 80GB HBM3") -> None:
    """The kernels, launches and step ranges of a Kineto trace written by :func:`write_kineto`, as an nsys
    SQLite export (ns, ``StringIds``, ``CUPTI_ACTIVITY_KIND_KERNEL/RUNTIME``, ``NVTX_EVENTS``,
    ``TARGET_INFO_GPU``)."""
    document = json.loads(kineto.read_text())
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE StringIds (id INTEGER PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE CUPTI_ACTIVITY_KIND_KERNEL (start INTEGER NOT NULL, end INTEGER NOT NULL, deviceId INTEGER,
            contextId INTEGER, streamId INTEGER, correlationId INTEGER, globalPid INTEGER, demangledName INTEGER,
            shortName INTEGER, gridX INTEGER, blockX INTEGER);
        CREATE TABLE CUPTI_ACTIVITY_KIND_RUNTIME (start INTEGER NOT NULL, end INTEGER NOT NULL, eventClass INTEGER,
            globalTid INTEGER, correlationId INTEGER, nameId INTEGER, returnValue INTEGER, callchainId INTEGER);
        CREATE TABLE NVTX_EVENTS (start INTEGER NOT NULL, end INTEGER, eventType INTEGER NOT NULL, rangeId INTEGER,
            category INTEGER, color INTEGER, text TEXT, globalTid INTEGER, endGlobalTid INTEGER, textId INTEGER,
            domainId INTEGER);
        CREATE TABLE TARGET_INFO_GPU (id INTEGER, name TEXT, busLocation TEXT, totalMemory INTEGER);
    """)
    strings: dict[str, int] = {}

    def sid(text: str) -> int:
        if text not in strings:
            strings[text] = len(strings) + 1
            db.execute("INSERT INTO StringIds VALUES (?, ?)", (strings[text], text))
        return strings[text]

    ns = lambda us: int(round(us * 1000))
    for e in document["traceEvents"]:
        cat = e.get("cat", "").lower()
        if cat == "kernel":
            db.execute(
                "INSERT INTO CUPTI_ACTIVITY_KIND_KERNEL VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    ns(e["ts"]),
                    ns(e["ts"] + e["dur"]),
                    0,
                    1,
                    e["args"]["stream"],
                    e["args"]["correlation"],
                    1,
                    sid(e["name"]),
                    sid(e["name"][:20]),
                    132,
                    128,
                ),
            )
        elif cat in ("cuda_runtime", "runtime"):
            db.execute(
                "INSERT INTO CUPTI_ACTIVITY_KIND_RUNTIME VALUES (?,?,?,?,?,?,?,?)",
                (
                    ns(e["ts"]),
                    ns(e["ts"] + e["dur"]),
                    0,
                    1,
                    e["args"]["correlation"],
                    sid(e["name"]),
                    0,
                    0,
                ),
            )
        elif cat == "user_annotation":
            db.execute(
                "INSERT INTO NVTX_EVENTS VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (ns(e["ts"]), ns(e["ts"] + e["dur"]), 59, None, 0, 0, e["name"], 1, 1, None, 0),
            )
    db.execute("INSERT INTO TARGET_INFO_GPU VALUES (0, ?, '0000:00:00.0', ?)", (device, 85 << 30))
    db.commit()
    db.close()
