"""``ImageClassifier``: mammography view classifiers through the same loop, privacy engine and ledger as
report classifiers.

``ImageClassifier(ImageTrainConfig(...)).fit(cohort, labels)`` takes an image cohort (one row per view,
``image_path``; see :mod:`radtrust.data.images`) and a label table (e.g. ``abnormal``, ``malignant``,
one-hot density), splits by woman, trains with DP-SGD unless ε = inf (per woman by default: her views and
screening rounds are one person's data), and picks decision thresholds on the validation women. Scores
are per view; :mod:`radtrust.models.aggregate` turns them into breast and woman scores.

Everything but the model and its inputs comes from the base it shares with the report classifier,
:class:`~radtrust.train.estimator.Classifier`: the split, label policies, the label audit, fairness
mitigation, worst-group selection, thresholds, the run folder and the ledger charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from safetensors.torch import save_file

from radtrust.data.images import load_image
from radtrust.data.io import atomic_path
from radtrust.data.schema import Cohort
from radtrust.errors import InputError
from radtrust.models.aggregate import aggregate_scores, aggregate_truth
from radtrust.models.augment import AugmentConfig, augment
from radtrust.models.image import build_image_net, describe, load_trainable_state, trainable_state
from radtrust.progress import progress_bar
from radtrust.train.config import ImageTrainConfig, LoopConfig
from radtrust.train.estimator import Classifier, choose_thresholds, read_weights

if TYPE_CHECKING:
    from radtrust.models.augment import AugmentConfig

IMAGE_RUN_FILES = ("config.yaml", "labels.json", "image_model.safetensors", "thresholds.json", "privacy.json", "history.json", "run.json")


def load_images(cohort: Cohort, size: int, cache_dir: str | Path | None = None, progress: bool = False) -> np.ndarray:
    """Every image of ``cohort`` as one float32 array (n, size, size) in [0, 1], read and resized once."""
    paths = cohort.image_paths
    out = np.empty((len(paths), size, size), dtype=np.float32)
    with progress_bar("reading images", len(paths), progress) as bar:
        for i, p in enumerate(paths):
            out[i] = load_image(p, size, cache_dir)
            bar.advance()
    return out


@dataclass
class ImageTrainData:
    """View images with their targets and loss mask: what the training loop asks of its data (see
    :class:`radtrust.train.loop.TrainData`)."""

    images: np.ndarray  # (n, H, W) float32 in [0, 1]
    targets: np.ndarray
    loss_mask: np.ndarray
    augment: AugmentConfig | None = None  # when training images are augmented
    features: torch.Tensor | None = None  # the frozen part's output per image, when cached
    groups: np.ndarray | None = None
    n_groups: int = 0
    units: np.ndarray | None = None
    record_name: str = "image"

    def __len__(self) -> int:
        return len(self.images)

    def lengths(self) -> np.ndarray:
        return np.zeros(len(self), dtype=np.int64)

    def prepare(self, model, config: LoopConfig, progress: bool = False) -> None:
        # A frozen part that ends in pooling is cached whatever the settings (the DP linear head recipe);
        # otherwise only when nothing is augmented, since an augmented image has new features each time.
        if self.features is None and (model.pools_in_trunk or (config.cache_features and self.augment is None)):
            self.cache_features(model, progress=progress)

    def physical_batch_size(self, model, config: LoopConfig) -> int:
        return len(self) if model.pools_in_trunk else config.physical_batch_size

    def release(self) -> None:
        self.features = None

    def cache_features(self, model, batch_size: int = 32, progress: bool = False) -> None:
        parts = []
        with torch.inference_mode(), progress_bar("encoding images (frozen layers)", len(self), progress) as bar:
            for s in range(0, len(self), batch_size):
                x = torch.from_numpy(self.images[s : s + batch_size]).unsqueeze(1)
                parts.append(model.features(x).clone())
                bar.advance(len(x))
        self.features = torch.cat(parts) if parts else None

    def batch(self, idx: np.ndarray, model, training: bool = True) -> tuple[tuple[torch.Tensor, ...], torch.Tensor, torch.Tensor]:
        if self.features is not None:
            x = self.features[torch.from_numpy(np.asarray(idx, dtype=np.int64))]
        else:
            images = torch.from_numpy(self.images[idx]).unsqueeze(1)
            if training and self.augment is not None:
                # Seeded from the global torch generator, which checkpoints save and restore: a resumed
                # run augments exactly as an uninterrupted one.
                gen = torch.Generator().manual_seed(int(torch.randint(0, 2**62, (1,))))
                images = augment(images, gen, self.augment)
            x = model.features(images)
        return (x,), torch.from_numpy(self.targets[idx]).float(), torch.from_numpy(self.loss_mask[idx]).float()


class ImageClassifier(Classifier):
    """Multi-label mammography view classifier (pretrained backbone or small CNN + head), private unless
    ε = inf; the findings are the label table's columns (e.g. abnormal, malignant, density one-hot)."""

    config_class = ImageTrainConfig
    config: ImageTrainConfig  # the image hooks read ImageTrainConfig's model fields
    run_files = IMAGE_RUN_FILES
    # Image truth leaves "malignant" empty for a normal breast: not applicable, so not in the loss.
    missing_labels = "ignore"

    def __init__(self, config: ImageTrainConfig | None = None) -> None:
        super().__init__(config or ImageTrainConfig())
        self._images_cache: tuple[int, np.ndarray] | None = None
        self.breast_thresholds: dict[str, float] = {}  # chosen on the validation women's breasts

    def prepare(self, cohort: Cohort, labels, validation_labels=None) -> tuple:
        """As for reports, plus: every image file must exist, so that a missing file fails before the
        ledger is charged or a checkpoint is written (reading the pixels comes later, in ``fit``)."""
        if cohort.modality != "image":
            raise InputError(f"{cohort.source}: an image model needs an image cohort (an 'image_path' column)")
        for i, path in enumerate(cohort.image_paths):
            if not Path(path).is_file():
                raise InputError(f"{path}: image file not found (row {i + 1} of {cohort.source})")
        return super().prepare(cohort, labels, validation_labels)

    def _build(self, n_outputs: int) -> torch.nn.Module:

        c = self.config
        return build_image_net(c.backbone, n_outputs, method=c.method, top_blocks=c.top_blocks, dropout=c.dropout, pooling=c.pooling, seed=c.seed, trainable_norm=c.trainable_norm)

    def _encode(self, cohort: Cohort, progress: bool = False) -> np.ndarray:
        if cohort.modality != "image":
            raise InputError(f"{cohort.source}: an image model needs an image cohort (an 'image_path' column)")
        # fit() reads the images once for training and again for its validation scores; keep the last read.
        key = id(cohort)
        if self._images_cache is not None and self._images_cache[0] == key:
            return self._images_cache[1]
        images = load_images(cohort, self.config.image_size, self.config.image_cache, progress)
        self._images_cache = (key, images)
        return images

    @staticmethod
    def _take(inputs: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return inputs[np.asarray(idx, dtype=np.int64)]

    def _train_data(self, inputs: np.ndarray, targets: np.ndarray, mask: np.ndarray) -> ImageTrainData:  # TrainData's interface
        aug = None
        if self.config.augment:
            aug = AugmentConfig(enabled=True)
        return ImageTrainData(inputs, targets, mask, augment=aug)

    def _predict_inputs(self, inputs: np.ndarray, progress: bool = False, batch_size: int = 32) -> np.ndarray:
        if self.net is None:
            raise RuntimeError("the classifier is not fitted")
        self.net.eval()
        out = np.zeros((len(inputs), len(self.findings)), dtype=np.float32)
        with torch.inference_mode(), progress_bar("predicting", len(inputs), progress) as bar:
            for s in range(0, len(inputs), batch_size):
                x = torch.from_numpy(inputs[s : s + batch_size]).unsqueeze(1)
                out[s : s + len(x)] = torch.sigmoid(self.net(x)).numpy()
                bar.advance(len(x))
        return out

    def _check_inputs(self, cohort: Cohort, progress: bool = False) -> None:
        """Every image decodes (a DICOM without pixel data, a truncated PNG): read now, kept for ``fit``."""
        self._encode(cohort, progress)

    def _fit(self, cohort: Cohort, labels, progress: bool, checkpoint, validation_labels, fingerprint: str | None, on_first_step) -> ImageClassifier:
        """As :meth:`Classifier._fit`, then also choose per-breast thresholds on the validation women:
        a breast's score (the mean or max of its views) is distributed differently from a view's, so its
        decisions get their own F1-optimal thresholds, fitted like the view ones."""
        super()._fit(cohort, labels, progress, checkpoint, validation_labels, fingerprint, on_first_step)
        self.breast_thresholds = {}
        if "laterality" not in cohort.frame.columns:
            return self

        val_idx, val_t, val_m, probs = self._validation  # the validation scores the view thresholds were chosen on
        val = cohort.subset(val_idx)
        truth = np.where(val_m > 0, val_t, np.nan)
        breast = aggregate_scores(val, probs, self.findings, "breast", self.config.breast_aggregation)
        btruth = aggregate_truth(val, truth, self.findings, "breast")
        bp = breast[[f"prob_{f}" for f in self.findings]].to_numpy()
        bt = btruth[self.findings].to_numpy(dtype=float)
        self.breast_thresholds = choose_thresholds(bp, np.nan_to_num(bt), (~np.isnan(bt)).astype(float), self.findings, self.config)
        self._images_cache = None  # the training pixels are not kept with the fitted model
        return self

    def _extra_thresholds(self) -> dict:
        return (
            {"breast_thresholds": self.breast_thresholds, "breast_chosen_on": f"validation women's breasts ({self.config.breast_aggregation} of views)"}
            if getattr(self, "breast_thresholds", None)
            else {}
        )

    def _load_extra_thresholds(self, stored: dict) -> None:
        self.breast_thresholds = stored.get("breast_thresholds", {})

    def predict_proba(self, cohort: Cohort, progress: bool = False) -> np.ndarray:
        self._images_cache = None  # a new cohort: never reuse the training images
        return super().predict_proba(cohort, progress)

    def _model_meta(self) -> dict:

        return {
            "modality": "image",
            "model": describe(self.net),
            "image_size": self.config.image_size,
            "intended_use": "research: mammography view classification (e.g. normal vs abnormal, benign vs malignant, breast "
            "density) and its breast- and woman-level aggregation; not for clinical decisions or screening.",
            "inputs": f"one mammography view per row (DICOM or PNG), grey, padded to a square and resized to {self.config.image_size} px",
            "outputs": "per view and finding: probability and 0/1 decision at the stored threshold",
        }

    def _save_weights(self, run: Path) -> None:

        state = {k: v.detach().contiguous() for k, v in trainable_state(self.net).items()}
        with atomic_path(run / "image_model.safetensors") as tmp:
            save_file(state, str(tmp), metadata={"format": "pt"})  # one key: byte-stable files (see ReportClassifier._save_weights)

    def _load_weights(self, run: Path) -> None:

        path = run / "image_model.safetensors"
        try:
            ok = load_trainable_state(self.net, read_weights(path))
        except (RuntimeError, KeyError):
            ok = False
        if not ok:
            raise InputError(f"{path}: image model weights do not fit the configured backbone (damaged, or from another run)")


def is_image_run(run_dir: str | Path) -> bool:
    return (Path(run_dir) / "image_model.safetensors").exists()
