"""PyTorch: penalties attached to layers, proximal optimizers with exact zeros, reports.

Needs torch (``pip install sparsefit[torch]``); ``import sparsefit`` does not import it.

- :func:`regularize` / :func:`unregularize` / :func:`regularize_model`: attach penalties
  to parameters, Keras style (``kernel=``, ``bias=``, ``recurrent=``, any named
  parameter, group penalties over output units, input features or channels).
- :func:`penalty`: the summed, differentiable penalty (Keras' ``model.losses``).
- :class:`Proximal`: wraps any optimizer; exact prox after each step, with the step the
  optimizer took (per coordinate for Adam).
- :func:`sparsity_report`, :func:`summary`: what is zero, what is dead, what is attached.
- :func:`sparsity_path`: accuracy against sparsity along a grid of strengths.
- :func:`structured_groups`, :func:`regularize_structured`: group-lasso groups from the
  model's channel dependency graph (residual channels, attention heads, ...), so that
  proximal training zeroes what :func:`shrink` removes.
- :func:`shrink`: physically smaller model, same outputs.

Examples
--------
>>> import torch
>>> from sparsefit import nn as sfnn
>>> from sparsefit.penalties import L1
>>> net = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
>>> net = sfnn.regularize_model(net, L1(1e-3))
>>> opt = sfnn.Proximal(torch.optim.Adam(net.parameters(), lr=1e-3))
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "sparsefit.nn needs PyTorch: pip install 'sparsefit[torch]'") from exc

from ._attach import (
    AttachedPenalty,
    attachments,
    kernel_mask,
    penalty,
    penalty_config,
    regularize,
    regularize_model,
    summary,
    unregularize,
)
from ._modules import ReducedLayerNorm, ShrunkMultiheadAttention
from .optim import Proximal, register_step_rule, step_rules
from .path import SparsityPath, sparsity_path
from .prune import apply_masks, is_pruned, keep_masks, masks, prune, unprune
from .report import SparsityReport, dead_units, sparsity_report
from .shrink import ShrinkError, ShrinkReport, shrink
from .shrink import register_handler as register_shrink_handler
from .structured import (
    CoupledPenalty,
    StructuredGroup,
    regularize_structured,
    structured_groups,
)

__all__ = [
    "AttachedPenalty",
    "Proximal",
    "SparsityPath",
    "SparsityReport",
    "attachments",
    "dead_units",
    "kernel_mask",
    "penalty",
    "penalty_config",
    "register_step_rule",
    "regularize",
    "regularize_model",
    "sparsity_path",
    "sparsity_report",
    "step_rules",
    "summary",
    "unregularize",
    "prune",
    "unprune",
    "masks",
    "apply_masks",
    "keep_masks",
    "is_pruned",
    "shrink",
    "ShrinkError",
    "ShrinkReport",
    "register_shrink_handler",
    "structured_groups",
    "regularize_structured",
    "StructuredGroup",
    "CoupledPenalty",
    "ShrunkMultiheadAttention",
    "ReducedLayerNorm",
]
