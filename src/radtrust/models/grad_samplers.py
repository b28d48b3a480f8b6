"""Per-sample gradient rules for Opacus where its own are slow: the depthwise convolution of
:mod:`radtrust.models.image_layers` (registered there, where the layer is defined, whenever Opacus is installed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from radtrust.models.image_layers import DepthwiseConv2d


def depthwise_grad_sample(layer: DepthwiseConv2d, activations: list[torch.Tensor], backprops: torch.Tensor) -> dict[torch.Tensor, torch.Tensor]:
    """Per-sample gradients of a :class:`DepthwiseConv2d`: channel c's filter gradient for record n is
    the sum over output positions of (input patch of channel c) × (output gradient of channel c)."""
    x = activations[0].to(backprops.dtype)
    n, c = x.shape[:2]
    grad_out = backprops.reshape(n, c, -1)
    out: dict[torch.Tensor, torch.Tensor] = {}  # keyed by the layer's parameters
    if layer.weight.requires_grad:
        cols = F.unfold(x, layer.kernel_size, dilation=layer.dilation, padding=layer.padding, stride=layer.stride)  # type: ignore[arg-type]  # numeric: DepthwiseConv2d pads in a layer before it
        cols = cols.view(n, c, layer.kernel_size[0] * layer.kernel_size[1], -1)
        out[layer.weight] = torch.einsum("nckl,ncl->nck", cols, grad_out).reshape(n, *layer.weight.shape)
    if layer.bias is not None and layer.bias.requires_grad:
        out[layer.bias] = grad_out.sum(2)
    return out
