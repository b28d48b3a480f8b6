import json
import math

import numpy as np
import pytest
import torch

from radtrust.data.schema import LabelTable, label_targets
from radtrust.errors import ConfigError, InputError
from radtrust.models.text import build_report_net, load_encoder, load_tokenizer, pad_batch
from radtrust.train.config import TrainConfig
from radtrust.train.estimator import ReportClassifier
from radtrust.train.loop import TrainData, train_model


def test_uncertain_policies():
    lt = LabelTable.from_matrix(["a", "b"], ["x", "y"], np.array([[1, -1], [np.nan, 0]]), "t")
    t, m = label_targets(lt, "positive")
    assert t.tolist() == [[1, 1], [0, 0]] and m.min() == 1
    t, m = label_targets(lt, "negative")
    assert t.tolist() == [[1, 0], [0, 0]]
    t, m = label_targets(lt, "ignore")
    assert m.tolist() == [[1, 0], [1, 1]]


def test_config_validation_and_yaml_roundtrip(tmp_path):
    with pytest.raises(ConfigError, match="epsilon"):
        TrainConfig.load(None, epsilon=0.0)
    with pytest.raises(ConfigError, match="epsilon"):
        TrainConfig.load(None, epsilon=-3.0)
    with pytest.raises(ConfigError, match="unknown_option"):
        TrainConfig.build({"unknown_option": 1})
    p = tmp_path / "c.yaml"
    p.write_text("epsilon: 2.5\nepochs: 7\n")
    cfg = TrainConfig.load(p, epochs=3)  # flags override the file
    assert cfg.epsilon == 2.5 and cfg.epochs == 3
    inf = TrainConfig(epsilon=math.inf)
    assert not inf.private and TrainConfig.build(__import__("yaml").safe_load(inf.to_yaml())).epsilon == math.inf


def test_split_network_equals_full_encoder():
    full = load_encoder("tiny", seed=3).eval()
    tok = load_tokenizer("tiny")
    ids, att = pad_batch(tok(["no effusion", "moderate cardiomegaly and small effusions"])["input_ids"], 0)
    ref = full(input_ids=ids, attention_mask=att).last_hidden_state
    net = build_report_net("tiny", 2, 4, 8, 0.0, ["query", "value"], 1, 0.0, seed=3).eval()
    with torch.no_grad():
        out = net.top(inputs_embeds=net.features(ids, att), attention_mask=att).last_hidden_state
    # LoRA B starts at zero, so an untrained adapter leaves the encoder's output unchanged.
    assert torch.allclose(out, ref, atol=1e-5)
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or n.startswith("head.") for n in trainable)


def _data(cohort, labels, tok, n=None):
    ids = tok(cohort.texts(), truncation=True, max_length=32)["input_ids"]
    t, m = label_targets(labels.aligned_to(cohort.case_ids), "ignore")
    return TrainData(ids, t, m, tok.pad_token_id)


def test_private_training_reaches_target_epsilon_and_weights_change(toy_cohort, tiny_config):
    cohort, labels = toy_cohort
    tok = load_tokenizer("tiny")
    net = build_report_net("tiny", 3, 4, 8, 0.0, ["query", "value"], None, 0.0, seed=0)
    before = {n: p.detach().clone() for n, p in net.named_parameters() if p.requires_grad}
    res = train_model(net, _data(cohort, labels, tok), tiny_config.model_copy(update={"epsilon": 3.0}))
    p = res.privacy
    assert 3.0 - 0.011 <= p.epsilon <= 3.0 and p.accountant == "prv" and p.delta < 1 / 240
    assert p.noise_multiplier > 0 and p.steps == 2 * round(240 / 32)
    assert len(p.epsilon_per_epoch) == 2 and p.epsilon_per_epoch[0] < p.epsilon_per_epoch[1]
    for n, q in net.named_parameters():
        if q.requires_grad and "lora_B" in n:
            assert not torch.equal(q, before[n]) and torch.isfinite(q).all()


def test_same_seed_same_weights_and_inf_is_not_private(toy_cohort, tiny_config):
    cohort, labels = toy_cohort
    tok = load_tokenizer("tiny")
    cfg = tiny_config.model_copy(update={"epsilon": math.inf})
    weights = []
    for _ in range(2):
        net = build_report_net("tiny", 3, 4, 8, 0.0, ["query", "value"], None, 0.0, seed=0)
        torch.manual_seed(0)
        res = train_model(net, _data(cohort, labels, tok), cfg)
        weights.append(net.head.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])
    assert res.privacy.epsilon == math.inf and res.privacy.noise_multiplier == 0 and res.privacy.delta is None


def test_empty_poisson_batch_is_a_noise_only_accounted_step(toy_cohort, tiny_config):
    from radtrust.models.text import FeatureHead
    from radtrust.privacy.engine import PrivateTraining

    net = build_report_net("tiny", 3, 4, 8, 0.0, ["query", "value"], None, 0.0, seed=0)
    head = FeatureHead(net)
    opt = torch.optim.SGD([p for p in head.parameters() if p.requires_grad], lr=1.0)
    eng = PrivateTraining(head, opt, noise_multiplier=1.0, max_grad_norm=1.0, expected_batch_size=8, sample_rate=0.1)
    w0 = net.head.weight.detach().clone()
    eng.empty_step()
    assert len(eng.accountant.history) == 1
    assert not torch.equal(w0, net.head.weight)  # pure noise moved the weights


def _backward_16_records_clipped(toy_cohort, C: float):
    """A σ = 0 DP engine with clipping bound ``C`` over the tiny report net, after one backward pass over
    the first 16 records (per-sample gradients in place, the optimiser step not yet taken)."""
    from radtrust.models.text import FeatureHead
    from radtrust.privacy.engine import PrivateTraining
    from radtrust.train.loop import masked_bce

    cohort, labels = toy_cohort
    data = _data(cohort, labels, load_tokenizer("tiny"))
    net = build_report_net("tiny", 3, 4, 8, 0.0, ["query", "value"], None, 0.0, seed=0)
    head = FeatureHead(net)
    opt = torch.optim.SGD([p for p in head.parameters() if p.requires_grad], lr=0.1)
    eng = PrivateTraining(head, opt, noise_multiplier=0.0, max_grad_norm=C, expected_batch_size=16, sample_rate=16 / 240)
    (hidden, att), y, m = data.batch(np.arange(16), net)
    masked_bce(eng.module(hidden, att), y, m).mean().backward()
    return eng


def test_clipped_per_sample_gradient_norms_never_exceed_bound(toy_cohort):
    C = 0.01  # tiny bound so that every sample is clipped
    eng = _backward_16_records_clipped(toy_cohort, C)
    eng.optimizer.pre_step()
    per_sample = torch.stack([p.grad_sample.reshape(16, -1).norm(dim=1) for p in eng.trainable], 1).norm(dim=1)
    clip = torch.clamp(C / (per_sample + 1e-6), max=1.0)
    assert torch.all(per_sample * clip <= C * (1 + 1e-4))
    # with σ = 0 the update is the clipped mean: its norm is at most C
    total = torch.cat([p.grad.reshape(-1) for p in eng.trainable]).norm()
    assert total <= C * (1 + 1e-4)


def test_noise_scales_with_sigma():
    from radtrust.privacy.engine import PrivateTraining

    stds = []
    for sigma in (1.0, 4.0):
        lin = torch.nn.Linear(200, 1, bias=False)
        torch.nn.init.zeros_(lin.weight)
        opt = torch.optim.SGD(lin.parameters(), lr=1.0)
        eng = PrivateTraining(lin, opt, noise_multiplier=sigma, max_grad_norm=2.0, expected_batch_size=10, sample_rate=0.1)
        eng.empty_step()
        stds.append(lin.weight.detach().std().item())
    # update = -(N(0, σ²C²))/B: std σ·C/B = 0.2σ
    assert stds[0] == pytest.approx(0.2, rel=0.25) and stds[1] / stds[0] == pytest.approx(4.0, rel=0.3)


def test_fit_save_load_predict_roundtrip(toy_cohort, tiny_config, tmp_path):
    cohort, labels = toy_cohort
    clf = ReportClassifier(tiny_config.model_copy(update={"epochs": 1})).fit(cohort, labels)
    run = clf.save(tmp_path / "run")
    for f in ("adapter.safetensors", "head.safetensors", "config.yaml", "privacy.json", "labels.json", "thresholds.json"):
        assert (run / f).exists()
    assert not list(run.glob("*.pkl")) and not list(run.glob("*.bin"))
    privacy = json.loads((run / "privacy.json").read_text())
    assert set(privacy) >= {"epsilon", "delta", "accountant", "noise_multiplier", "max_grad_norm", "sample_rate", "steps"}
    again = ReportClassifier.load(run)
    assert np.allclose(again.predict_proba(cohort), clf.predict_proba(cohort), atol=1e-6)
    assert again.predict(cohort).shape == (len(cohort), 3)
    assert set(again.thresholds) == {"Effusion", "Edema", "Pneumothorax"}


def test_fit_rejects_unknown_findings_and_missing_labels(toy_cohort, tiny_config):
    cohort, labels = toy_cohort
    with pytest.raises(InputError, match="not in the label file"):
        ReportClassifier(tiny_config.model_copy(update={"findings": ["Hernia"]})).fit(cohort, labels)
    short = LabelTable(labels.frame.iloc[:10].copy(), labels.findings, "t")
    with pytest.raises(InputError, match="have no labels"):
        ReportClassifier(tiny_config).fit(cohort, short)


@pytest.mark.parametrize("pooling,width", [("mean", 32), ("max", 32), ("mean_max", 64)])
def test_pooling_options_ignore_padding(pooling, width):
    tok = load_tokenizer("tiny")
    net = build_report_net("tiny", 2, 4, 8, 0.0, ["query", "value"], None, 0.0, seed=0, pooling=pooling).eval()
    assert net.head.in_features == width
    ids, att = pad_batch(tok(["no effusion", "a much longer report about a small left pleural effusion"])["input_ids"], 0)
    with torch.no_grad():
        batched = net(ids, att)[0]
        alone = net(ids[:1, : int(att[0].sum())], att[:1, : int(att[0].sum())])[0]
    assert torch.allclose(batched, alone, atol=1e-5)  # padding never changes a report's output


def test_unknown_pooling_rejected():
    with pytest.raises(ConfigError):
        build_report_net("tiny", 2, 4, 8, 0.0, ["query", "value"], None, 0.0, seed=0, pooling="cls")


def test_thresholds_tuned_only_with_enough_validation_positives():
    from radtrust.train.estimator import choose_thresholds

    rng = np.random.default_rng(0)
    y = np.zeros((200, 2), dtype=np.float32)
    y[:40, 0] = 1  # plenty of positives
    y[:2, 1] = 1  # two positives: not enough to tune on
    p = np.clip(y * 0.3 + rng.random((200, 2)) * 0.5, 0, 1)
    cfg = TrainConfig(min_validation_positives=5)
    thr = choose_thresholds(p, y, np.ones_like(y), ["common", "rare"], cfg)
    assert thr["rare"] == cfg.fixed_threshold and thr["common"] != cfg.fixed_threshold
    assert choose_thresholds(p, y, np.ones_like(y), ["common", "rare"], cfg.model_copy(update={"threshold_policy": "fixed"}))["common"] == 0.5


def test_patient_level_clipping_sums_a_patients_records_before_clipping(toy_cohort):
    """User-level DP-SGD: with ``sample_units`` each patient's summed gradient is clipped once, so the
    step equals Σ_patients clip(Σ_her records g_i) / expected batch size (σ = 0 here)."""
    C = 0.01
    eng = _backward_16_records_clipped(toy_cohort, C)
    units = torch.tensor([0, 0, 0, 1, 1, 2, 3, 3, 3, 3, 4, 5, 5, 6, 7, 7])
    per_sample = [p.grad_sample.detach().clone() for p in eng.trainable]
    summed = [torch.zeros((8, *g.shape[1:])).index_add_(0, units, g) for g in per_sample]
    norms = torch.stack([s_.reshape(8, -1).norm(dim=1) for s_ in summed], 1).norm(dim=1)
    factor = torch.clamp(C / (norms + 1e-6), max=1.0)
    expected = [torch.einsum("i,i...", factor, s_) / 16 for s_ in summed]
    eng.optimizer.sample_units = units
    eng.optimizer.pre_step()
    for p, e in zip(eng.trainable, expected):
        assert torch.allclose(p.grad, e, atol=1e-7)
    # eight patients, each bounded by C: the step's norm is at most 8·C / 16
    total = torch.cat([p.grad.reshape(-1) for p in eng.trainable]).norm()
    assert total <= 8 * C / 16 * (1 + 1e-4)
