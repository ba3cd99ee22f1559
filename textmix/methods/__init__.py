"""The registry of mixing methods: one module per method (or per pair of siblings), registered on import.

    from textmix.methods import get_method, method_names, register, MixMethod

Built-in methods, in this order: embedding, hidden, pooled (`activations`: forward hooks on text
activations), span, saliency_span (`tokens`: token ids), mixup, cutmix (`pixels`), patch_mixup,
patch_cutmix (`patches`: ViT patch tokens). See docs/adding-a-method.md to add one.
"""

import importlib

from .base import (
    FAMILIES,
    Applied,
    BatchContext,
    MixContext,
    MixMethod,
    get_method,
    method_names,
    methods_help,
    methods_table,
    register,
    registered,
    unregister,
)

BUILT_IN = ("embedding", "hidden", "pooled", "span", "pixels", "patches")
"""The modules of the built-in methods, imported (and so registered) in this order."""

for _module in BUILT_IN:
    importlib.import_module(f".{_module}", __name__)

__all__ = [
    "FAMILIES",
    "Applied",
    "BatchContext",
    "MixContext",
    "MixMethod",
    "get_method",
    "method_names",
    "methods_help",
    "methods_table",
    "register",
    "registered",
    "unregister",
]
