"""Seeded, batched augmentation for mammograms (torch only, CPU or GPU).

What is varied, and what is not, follows the anatomy and the acquisition:

- **small affine** (rotation ±10°, scale 0.9-1.1, shift ±5 %): positioning differs from one visit and one
  radiographer to the next, by a few degrees and millimetres. Borders fill with zeros, the (dark)
  background of a mammogram.
- **intensity**: gamma 0.8-1.25, slight contrast and brightness jitter, mild Gaussian noise. Detectors,
  manufacturers' processing and dose differ, and a model should not key on one vendor's grey-level curve.
- **no vertical flip and no large rotation**: in an MLO view the pectoral muscle lies at the top, and the
  nipple points away from the chest wall; an upside-down breast is not a mammogram any scanner makes, and
  training on it spends privacy budget and capacity on impossible inputs.
- **horizontal flip off by default**: flipping turns a left breast into a right one. When a dataset keeps
  the native orientation (the chest wall on the left for one side, on the right for the other), a flip
  makes laterality ambiguous and breaks any left/right convention the labels or a later per-breast
  comparison rely on. Turn it on (``hflip_prob``) only when laterality has been normalised, e.g. every
  image mirrored so the chest wall is on the same side (then a flip just mimics the other breast).

Everything random is drawn from the caller's ``torch.Generator``, so a run is reproducible from its seed
and a DP-SGD step can be replayed. Under DP-SGD, augmenting a record changes nothing in the accounting:
each record is still one per-sample gradient (or the average over its augmented copies, De et al. 2022,
"Unlocking high-accuracy differentially private image classification through scale": augmentation
multiplicity).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, model_validator


class AugmentConfig(BaseModel):
    """Ranges of the random transforms; a range of zero (or min = max = 1) switches that transform off.

    ``enabled`` is False by default: the linear-head recipe caches one frozen feature vector per image,
    which an input changed every epoch would invalidate, and a run without augmentation is the reference
    that an augmented one is compared with.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    # Upper bounds keep the transforms within what acquisition produces (see the module docstring).
    rotation_deg: float = Field(10.0, ge=0.0, le=20.0, description="maximum |rotation| in degrees")
    scale_min: float = Field(0.9, gt=0.5, le=1.0)
    scale_max: float = Field(1.1, ge=1.0, lt=1.5)
    translate: float = Field(0.05, ge=0.0, le=0.2, description="maximum shift as a fraction of width/height")
    gamma_min: float = Field(0.8, gt=0.2, le=1.0)
    gamma_max: float = Field(1.25, ge=1.0, lt=5.0)
    contrast: float = Field(0.1, ge=0.0, le=0.5, description="contrast factor drawn from 1 ± contrast")
    brightness: float = Field(0.05, ge=0.0, le=0.3, description="additive shift drawn from ± brightness")
    noise_std: float = Field(0.01, ge=0.0, le=0.1, description="maximum std of additive Gaussian noise")
    hflip_prob: float = Field(0.0, ge=0.0, le=1.0, description="only with normalised laterality")

    @model_validator(mode="after")
    def _ordered(self) -> AugmentConfig:
        if self.scale_min > self.scale_max:
            raise ValueError(f"scale_min ({self.scale_min}) must not exceed scale_max ({self.scale_max})")
        if self.gamma_min > self.gamma_max:
            raise ValueError(f"gamma_min ({self.gamma_min}) must not exceed gamma_max ({self.gamma_max})")
        return self


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator, device=generator.device)


def _affine(images: torch.Tensor, generator: torch.Generator, config: AugmentConfig) -> torch.Tensor:
    b, _, h, w = images.shape
    angle = _uniform(b, -1.0, 1.0, generator) * math.radians(config.rotation_deg)
    # log-uniform, so zooming in and out by the same factor are equally likely
    scale = torch.exp(_uniform(b, math.log(config.scale_min), math.log(config.scale_max), generator))
    shift = _uniform(2 * b, -1.0, 1.0, generator).view(b, 2) * (2.0 * config.translate)  # grid units span 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # affine_grid works in normalised coordinates, where x and y both span [-1, 1]: a rotation in pixels
    # needs the aspect ratio folded in, or non-square images would shear.
    theta = torch.stack(
        [
            torch.stack([cos, -sin * (h / w), shift[:, 0]], 1),
            torch.stack([sin * (w / h), cos, shift[:, 1]], 1),
        ],
        1,
    ).to(images.device, images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _intensity(images: torch.Tensor, generator: torch.Generator, config: AugmentConfig) -> torch.Tensor:
    b = images.shape[0]
    view = (b, 1, 1, 1)
    dev, dt = images.device, images.dtype
    gamma = torch.exp(_uniform(b, math.log(config.gamma_min), math.log(config.gamma_max), generator))
    out = images.clamp(0.0, 1.0) ** gamma.view(view).to(dev, dt)
    contrast = _uniform(b, 1.0 - config.contrast, 1.0 + config.contrast, generator).view(view).to(dev, dt)
    brightness = _uniform(b, -config.brightness, config.brightness, generator).view(view).to(dev, dt)
    # Contrast about each image's mean, so it stretches the tissue's grey levels without shifting them.
    mean = out.mean((1, 2, 3), keepdim=True)
    out = (out - mean) * contrast + mean + brightness
    if config.noise_std > 0:
        sigma = _uniform(b, 0.0, config.noise_std, generator).view(view).to(dev, dt)
        noise = torch.randn(images.shape, generator=generator, device=generator.device).to(dev, dt)
        out = out + sigma * noise
    return out


@torch.no_grad()
def augment(images: torch.Tensor, generator: torch.Generator, config: AugmentConfig) -> torch.Tensor:
    """Randomly transformed copies of ``images`` (B, 1, H, W) in [0, 1]; same shape, dtype and range.

    Each image gets its own transform; all draws come from ``generator`` in a fixed order, so the same
    generator state gives the same output. With ``config.enabled`` False the input is returned as is and
    the generator is not advanced.
    """
    if not config.enabled:
        return images
    if images.ndim != 4 or images.shape[1] != 1:
        raise ValueError(f"images must be (B, 1, H, W) grey tensors, got shape {tuple(images.shape)}")
    if images.shape[0] == 0:
        return images
    out = images
    if config.hflip_prob > 0:
        flip = (torch.rand(images.shape[0], generator=generator, device=generator.device) < config.hflip_prob).to(images.device)
        out = torch.where(flip.view(-1, 1, 1, 1), out.flip(-1), out)
    out = _affine(out, generator, config)
    out = _intensity(out, generator, config)
    return out.clamp_(0.0, 1.0)
