"""Measurement: the device adapter, the one timing function, statistics, NVTX ranges, and the profiler
that times the kernels of ``kernels/`` and sets them beside the analytic model.

torch, CUDA and NVTX are reached through small adapters (``device.py``, ``nvtx.py``), imported lazily, so
tests can inject fakes with the real APIs' names and shapes.
"""
