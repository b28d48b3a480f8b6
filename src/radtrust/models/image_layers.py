"""The layers of the image networks: TensorFlow "SAME" padding, a depthwise convolution with a fast per-sample
gradient, the blocks of EfficientNet-Lite0 (Tan & Le, ICML 2019), the input and pooling modules, and the
conversions that keep BatchNorm out of a DP-SGD-trained part (folding it into the convolution, or GroupNorm:
Wu & He, ECCV 2018)."""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from radtrust.models.grad_samplers import depthwise_grad_sample

#: The checkpoint was converted from TensorFlow into lukemelas' layout, whose convolutions pad like TF
#: "SAME" (asymmetric on strided layers); symmetric padding shifts every stride-2 layer by half a pixel.
LITE0_TF_SAME = True

# EfficientNet-B0 stages as used by Lite0: (repeats, kernel, stride, expansion, in, out). 16 blocks.
_LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_LITE0_BN_EPS = 1e-3  # the TF checkpoints' epsilon; PyTorch's default 1e-5 shifts every activation


# --------------------------------------------------------------------------------------------------
# building blocks


class SamePad2d(nn.Module):
    """TensorFlow "SAME" padding, computed from the input size (asymmetric, extra row/column at the end).

    A separate module in front of an unpadded ``nn.Conv2d`` rather than a Conv2d subclass: Opacus then
    sees a plain convolution whose recorded input is already padded, so its per-sample gradients are
    exact. Weights trained with this padding see a half-pixel shift under PyTorch's symmetric padding on
    every stride-2 layer.
    """

    def __init__(self, kernel: int, stride: int) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        ph = max((math.ceil(ih / self.stride) - 1) * self.stride + self.kernel - ih, 0)
        pw = max((math.ceil(iw / self.stride) - 1) * self.stride + self.kernel - iw, 0)
        if ph == 0 and pw == 0:
            return x
        return F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])


class DepthwiseConv2d(nn.Conv2d):
    """A depthwise convolution (one filter per channel: groups = in = out channels).

    A class of its own only so that Opacus uses
    :func:`~radtrust.models.grad_samplers.depthwise_grad_sample` for it. Opacus's rule for
    grouped convolutions forms the per-sample gradient of a dense C × C convolution and keeps its
    diagonal: C times the work and memory (1152× for EfficientNet's last blocks). On two CPU cores the
    trainable part of ``top`` (two blocks) took about 80 ms per 128 px image with it, 6 ms with this rule.
    """

    def __init__(self, channels: int, kernel: int, stride: int = 1, bias: bool = False) -> None:
        super().__init__(channels, channels, kernel, stride, padding=0, groups=channels, bias=bias)


try:
    from opacus.grad_sample import register_grad_sampler
except ImportError:  # Opacus is only needed for private training; the network itself runs without it
    pass
else:
    register_grad_sampler(DepthwiseConv2d)(depthwise_grad_sample)


def _pad(kernel: int, stride: int, tf_same: bool) -> nn.Module:
    if kernel == 1:
        return nn.Identity()
    if tf_same and stride > 1:
        return SamePad2d(kernel, stride)
    return nn.ZeroPad2d(kernel // 2)  # for stride 1 and odd kernels TF "SAME" is symmetric too


def _conv(cin: int, cout: int, kernel: int, stride: int, groups: int) -> nn.Conv2d:
    if groups == cin == cout > 1:
        return DepthwiseConv2d(cin, kernel, stride)
    return nn.Conv2d(cin, cout, kernel, stride, padding=0, groups=groups, bias=False)


class ConvNormAct(nn.Sequential):
    """pad → conv (no bias) → norm → activation, as named children so norms can be swapped in place."""

    conv: nn.Conv2d
    bn: nn.Module

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True, tf_same: bool = True, eps: float = _LITE0_BN_EPS) -> None:
        super().__init__(
            OrderedDict(
                pad=_pad(kernel, stride, tf_same),
                conv=_conv(cin, cout, kernel, stride, groups),
                bn=nn.BatchNorm2d(cout, eps=eps),
                act=nn.ReLU6() if act else nn.Identity(),
            )
        )


class MBConv(nn.Module):
    """Inverted residual block of EfficientNet-Lite (no squeeze-excitation, ReLU6)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int, tf_same: bool = True) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = ConvNormAct(cin, mid, 1, tf_same=tf_same) if expand != 1 else nn.Identity()
        self.dw = ConvNormAct(mid, mid, kernel, stride, groups=mid, tf_same=tf_same)
        self.project = ConvNormAct(mid, cout, 1, act=False, tf_same=tf_same)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.dw(self.expand(x)))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with its ImageNet classifier; 4.65 M parameters. Input: normalised RGB."""

    def __init__(self, tf_same: bool = LITE0_TF_SAME, n_classes: int = 1000) -> None:
        super().__init__()
        self.stem = ConvNormAct(3, 32, 3, 2, tf_same=tf_same)
        blocks = []
        for repeats, k, s, e, cin, cout in _LITE0_STAGES:
            for r in range(repeats):
                blocks.append(MBConv(cin if r == 0 else cout, cout, k, s if r == 0 else 1, e, tf_same))
        self.blocks = nn.Sequential(*blocks)
        self.head_conv = ConvNormAct(320, 1280, 1, tf_same=tf_same)
        self.classifier = nn.Linear(1280, n_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head_conv(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.forward_features(x).mean((2, 3)))


# --------------------------------------------------------------------------------------------------
# DP-safe normalisation


def group_count(channels: int, max_groups: int = 32) -> int:
    """The largest divisor of ``channels`` not above ``max_groups`` (Wu & He's default is 32 groups)."""
    return next(g for g in range(min(max_groups, channels), 0, -1) if channels % g == 0)


def _bn_to_gn(bn: nn.modules.batchnorm._BatchNorm, max_groups: int) -> nn.GroupNorm:
    gn = nn.GroupNorm(group_count(bn.num_features, max_groups), bn.num_features, eps=bn.eps, affine=True)
    if bn.affine:
        with torch.no_grad():
            gn.weight.copy_(bn.weight)
            gn.bias.copy_(bn.bias)
    return gn


def batchnorm_to_groupnorm(module: nn.Module, max_groups: int = 32) -> nn.Module:
    """Replace every BatchNorm in ``module`` (in place) by a GroupNorm with the BN's scale and shift.

    Only the affine weight and bias carry over. The running mean and variance cannot: GroupNorm
    normalises each image by its own statistics over channel groups, not by dataset statistics per
    channel, so the converted network computes a different function until it is trained (use
    :func:`fold_batchnorm` to keep the pretrained function exactly). timm's ``BatchNormAct2d`` (a
    BatchNorm2d that also applies its activation) becomes GroupNorm followed by the same dropout and
    activation: Opacus's ``ModuleValidator.fix`` would swap it for a bare GroupNorm and silently drop the
    activation. A plain ``nn.GroupNorm`` is used, not timm's ``GroupNormAct``, because Opacus finds its
    per-sample gradient rule by exact type and would fall back to the slower functorch path for a subclass.
    """
    for name, child in list(module.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            gn = _bn_to_gn(child, max_groups)
            act, drop = getattr(child, "act", None), getattr(child, "drop", None)
            if isinstance(act, nn.Module) or isinstance(drop, nn.Module):
                parts = [gn] + [m for m in (drop, act) if isinstance(m, nn.Module) and not isinstance(m, nn.Identity)]
                setattr(module, name, nn.Sequential(*parts))
            else:
                setattr(module, name, gn)
        else:
            batchnorm_to_groupnorm(child, max_groups)
    return module


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold each eval-mode BatchNorm of a :class:`ConvNormAct` into its convolution (in place).

    BN with running statistics is ``y = γ (x - μ)/√(σ² + ε) + β``, an affine map per channel, so
    ``conv`` followed by it equals one convolution with rescaled weights and a bias: the pretrained
    function is kept exactly, and the trainable part has no normalisation layer at all.
    """
    for child in module.modules():
        if isinstance(child, ConvNormAct) and isinstance(child.bn, nn.modules.batchnorm._BatchNorm):
            conv, bn = child.conv, child.bn
            assert bn.running_mean is not None and bn.running_var is not None  # eval-mode BN keeps running statistics
            scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            folded: nn.Conv2d
            if isinstance(conv, DepthwiseConv2d):
                folded = DepthwiseConv2d(conv.in_channels, conv.kernel_size[0], conv.stride[0], bias=True)
            else:
                folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups, bias=True)  # type: ignore[arg-type]  # torch types the attributes tuple[int, ...], the arguments tuple[int, int]
            with torch.no_grad():
                folded.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
                assert folded.bias is not None  # built with bias=True
                folded.bias.copy_(bn.bias - bn.running_mean * scale)
            child.conv, child.bn = folded, nn.Identity()
    return module


class Preprocess(nn.Module):
    """Grey [0, 1] image → the input the backbone was trained on (channel repeat, then normalisation)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, channels: int, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"images must be (B, 1, H, W) grey tensors, got shape {tuple(x.shape)}")
        if self.channels != 1:
            x = x.expand(-1, self.channels, -1, -1)
        return (x - self.mean) / self.std


class GlobalPool(nn.Module):
    """(B, C, H, W) → (B, C) average, or (B, 2C) average and max concatenated, optionally rescaled.

    ``avg_max`` keeps a strong local response (a small calcification cluster, a spiculated mass) that an
    average over a whole mammogram dilutes. With ``norm`` every pooled vector gets that length, as in
    ReportNet: a head's per-record gradient then has a known scale, so clipping at C removes noise rather
    than signal and one learning rate suits every dataset; a per-image transform of public form.
    """

    def __init__(self, pooling: str = "avg", norm: float | None = None) -> None:
        super().__init__()
        self.pooling, self.norm = pooling, norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.mean((2, 3))
        if self.pooling == "avg_max":
            out = torch.cat([out, x.amax((2, 3))], 1)
        if self.norm is not None:
            out = out * (self.norm / out.norm(dim=1, keepdim=True).clamp(min=1e-6))
        return out
