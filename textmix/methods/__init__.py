"""The registry of mixing methods: one module per method (or per pair of siblings), registered on import.

    from textmix.methods import get_method, method_names, register, MixMethod

Built-in methods, in this order: embedding, hidden, pooled (`activations`: forward hooks on text
activations), span, saliency_span (`tokens`: token ids), mixup, cutmix (`pixels`), patch_mixup,
patch_cutmix (`patches`: ViT patch tokens). See docs/adding-a-method.md to add one.
"""

from . import embedding, hidden, patches, pixels, pooled, span  # noqa: E402,F401,I001  (registration order)
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
