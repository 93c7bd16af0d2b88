"""``llmroof trace``: the kernels of a real engine's profiler trace (PyTorch/Kineto Chrome-trace JSON, or an
Nsight Systems SQLite export) placed on the roofline of the model that produced them.

Layers: :mod:`.chrome` and :mod:`.nsys` read (streaming) into :mod:`.events`; :mod:`.rules` classifies kernel
names from a data table; :mod:`.units` groups kernels by their launching CPU op; :mod:`.steps` splits engine
steps and tells prefill from decode; :mod:`.attribute` names each unit by its model op; :mod:`.analyze` sets
them against the analytic bounds (:mod:`llmroof.analytic`) on :mod:`.roofs` and returns the record.
"""

from llmroof.trace.analyze import TraceOptions, read_trace, run_trace

__all__ = ["TraceOptions", "read_trace", "run_trace"]
