"""What is being modelled: data types, model architectures and hardware devices.

Frozen, validated records and their catalogs. Pure Python: no torch, no I/O beyond reading catalog files.
"""

from llmroof.specs.dtypes import DTYPES, DType, Precision, get_dtype
from llmroof.specs.hardware import HardwareSpec, get_hardware, load_hardware_catalog
from llmroof.specs.model import MODEL_PRESETS, ModelSpec, get_model, load_hf_config

__all__ = [
    "DTYPES",
    "MODEL_PRESETS",
    "DType",
    "HardwareSpec",
    "ModelSpec",
    "Precision",
    "get_dtype",
    "get_hardware",
    "get_model",
    "load_hardware_catalog",
    "load_hf_config",
]
