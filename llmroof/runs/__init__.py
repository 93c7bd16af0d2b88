"""Whole measurements as a command runs them: start the ranks or the sampler (and the command it watches),
collect what the measurement layer hands back, and return the typed record. The CLI parses its options, calls
one function here and renders the record; the Python API calls the same functions.

Layer: above ``measure`` and ``results`` (it builds their records), below ``cli``; it prints nothing and
writes no results file (the caller decides where a record goes).
"""
