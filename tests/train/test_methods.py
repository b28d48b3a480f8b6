"""The four training methods, and gradient accumulation over length-sorted micro-batches."""

import math

import numpy as np
import pytest
import torch

from radtrust.data.schema import label_targets
from radtrust.models.text import build_report_net, load_tokenizer
from radtrust.train.estimator import ReportClassifier
from radtrust.train.loop import TrainData, micro_batches, train_model


def _trainable_names(net):
    return {n for n, p in net.named_parameters() if p.requires_grad}


def test_each_method_trains_the_parts_it_names():
    lora = _trainable_names(build_report_net("tiny", 3, 4, 8, 0.0, ["query", "value"], 1, 0.0, seed=0, method="lora"))
    head = _trainable_names(build_report_net("tiny", 3, 4, 8, 0.0, ["query", "value"], 1, 0.0, seed=0, method="head"))
    full = _trainable_names(build_report_net("tiny", 3, 4, 8, 0.0, ["query", "value"], 1, 0.0, seed=0, method="full"))
    bitfit = _trainable_names(build_report_net("tiny", 3, 4, 8, 0.0, ["query", "value"], 1, 0.0, seed=0, method="bitfit"))
    bitfit_top = _trainable_names(build_report_net("tiny", 3, 4, 8, 0.0, ["query", "value"], 1, 0.0, seed=0, method="bitfit", bitfit_top_layers=1))
    assert head == {"head.weight", "head.bias"}
    assert lora - head and all("lora_" in n for n in lora - head)
    assert full - head and all(n.startswith("top.encoder.layer.") for n in full - head)
    assert not any("lora_" in n or "embeddings" in n for n in full)
    # full trains every layer of the tiny (2-layer) encoder
    assert {n.split(".")[3] for n in full - head} == {"0", "1"}
    # bitfit: exactly the biases of full, every layer by default or the top one only
    assert bitfit - head == {n for n in full - head if n.endswith(".bias")} and bitfit - head
    assert {n.split(".")[3] for n in bitfit_top - head} == {"0"} and 2 * len(bitfit_top - head) == len(bitfit - head)  # the cut top holds one layer


@pytest.mark.parametrize("method", ["head", "full", "lora", "bitfit"])
def test_private_fit_save_load_for_every_method(method, toy_cohort, tiny_config, tmp_path):
    cohort, labels = toy_cohort
    cfg = tiny_config.model_copy(update={"method": method, "epsilon": 4.0})
    clf = ReportClassifier(cfg).fit(cohort, labels)
    p = clf.result.privacy
    assert p.epsilon <= 4.0 and p.epsilon > 3.9 and p.noise_multiplier > 0
    assert len(p.epsilon_per_epoch) == cfg.epochs
    clf.save(tmp_path / method)
    again = ReportClassifier.load(tmp_path / method)
    assert again.config.method == method
    np.testing.assert_allclose(again.predict_proba(cohort), clf.predict_proba(cohort), atol=1e-6)


def test_head_method_caches_one_vector_per_report(toy_cohort, tiny_config):
    cohort, labels = toy_cohort
    net = build_report_net("tiny", 3, 4, 8, 0.0, ["query", "value"], 1, 0.0, seed=0, method="head")
    tok = load_tokenizer("tiny")
    ids = tok(cohort.texts(), truncation=True, max_length=32)["input_ids"]
    t, m = label_targets(labels.aligned_to(cohort.case_ids), "ignore")
    data = TrainData(ids, t, m, tok.pad_token_id)
    data.cache_features(net)
    assert {tuple(f.shape) for f in data.features} == {(1, net.head.in_features)}


def test_micro_batches_sort_by_length_and_cover_the_batch():
    lengths = np.array([5, 50, 7, 30, 2, 9])
    idx = np.array([0, 1, 2, 3, 4, 5])
    chunks = micro_batches(idx, lengths, 4)
    assert [c.tolist() for c in chunks] == [[4, 0, 2, 5], [3, 1]]


@pytest.mark.parametrize("epsilon", [math.inf, 4.0])
def test_gradient_accumulation_equals_one_big_batch(epsilon, toy_cohort, tiny_config):
    """Splitting each Poisson batch into micro-batches changes memory and padding, nothing else: same
    weights, same noise draws, same accountant steps at the same sampling rate. (SGD: Adam would turn the
    last-bit differences of near-zero gradients into full-size steps.)"""
    cohort, labels = toy_cohort
    tok = load_tokenizer("tiny")
    ids = tok(cohort.texts(), truncation=True, max_length=32)["input_ids"]
    t, m = label_targets(labels.aligned_to(cohort.case_ids), "ignore")
    weights, reports = [], []
    torch.manual_seed(0)
    start = {n: p.detach().clone() for n, p in build_report_net("tiny", 3, 4, 8, 0.0, ["query", "value"], None, 0.0, seed=0).named_parameters() if p.requires_grad}
    for physical in (3, 1000):
        cfg = tiny_config.model_copy(update={"epsilon": epsilon, "physical_batch_size": physical, "dropout": 0.0, "epochs": 2, "optimizer": "sgd", "learning_rate": 0.05})
        torch.manual_seed(0)
        net = build_report_net("tiny", 3, 4, 8, 0.0, ["query", "value"], None, 0.0, seed=0)
        for mod in net.modules():  # the encoder's own dropout draws differ with the micro-batch shapes
            if isinstance(mod, torch.nn.Dropout):
                mod.p = 0.0
        res = train_model(net, TrainData(ids, t, m, tok.pad_token_id), cfg)
        weights.append({n: p.detach().clone() for n, p in net.named_parameters() if p.requires_grad})
        reports.append(res.privacy)
    moved = max(float((weights[1][n] - start[n]).abs().max()) for n in start)
    assert moved > 2e-2  # training moved the weights far more than the tolerance below
    for name in weights[0]:
        # float rounding of differently padded batches only; a wrong per-chunk scaling would differ by
        # the size of the updates themselves
        torch.testing.assert_close(weights[0][name], weights[1][name], atol=5e-4, rtol=1e-3)
    assert reports[0].steps == reports[1].steps and reports[0].sample_rate == reports[1].sample_rate
    assert reports[0].epsilon == reports[1].epsilon


def test_debug_check_catches_frozen_or_corrupted_adapters():
    from radtrust.train.loop import check_step

    p = torch.nn.Parameter(torch.ones(3))
    before = [p.detach().clone()]
    with pytest.raises(RuntimeError, match="no trainable weight changed"):
        check_step([p], before)
    with torch.no_grad():
        p[0] = float("nan")
    with pytest.raises(FloatingPointError):
        check_step([p], before)
    with torch.no_grad():
        p.copy_(torch.tensor([1.0, 2.0, 1.0]))
    check_step([p], before)  # changed and finite: passes


@pytest.mark.parametrize("method", ["head", "lora"])
def test_attention_pooling_trains_privately_saves_and_loads(method, toy_cohort, tiny_config, tmp_path):
    """Label-wise attention pooling: the head method caches token states (not one vector), and every
    method fits, saves and reloads to the same predictions."""
    cohort, labels = toy_cohort
    cfg = tiny_config.model_copy(update={"method": method, "pooling": "attention", "epsilon": 4.0})
    clf = ReportClassifier(cfg).fit(cohort, labels)
    assert not clf.net.pools_in_trunk and 3.9 < clf.result.privacy.epsilon <= 4.0
    assert {n for n, p in clf.net.head.named_parameters()} == {"score.weight", "score.bias", "attend.weight", "attend.bias"}
    clf.save(tmp_path / "run")
    np.testing.assert_allclose(ReportClassifier.load(tmp_path / "run").predict_proba(cohort), clf.predict_proba(cohort), atol=1e-6)


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
def test_attention_pooling_per_record_gradients_are_exact_and_ignore_padding():
    """DP-SGD clips each record's own gradient: Opacus's per-sample gradients of the attention head equal
    the gradient of each record computed alone, unpadded."""
    from opacus import GradSampleModule

    from radtrust.models.text import FindingAttention

    torch.manual_seed(0)
    head = FindingAttention(8, 3)
    torch.nn.init.normal_(head.attend.weight)  # not the neutral start: the attention must matter
    lengths = [5, 2, 4]
    tokens = torch.randn(3, 5, 8)
    mask = torch.tensor([[1] * n + [0] * (5 - n) for n in lengths])
    tokens = tokens * mask.unsqueeze(-1)
    targets = torch.tensor([[1.0, 0, 1], [0, 1, 0], [1, 1, 0]])
    gsm = GradSampleModule(head, batch_first=True, loss_reduction="sum")
    torch.nn.functional.binary_cross_entropy_with_logits(gsm(tokens, mask), targets, reduction="sum").backward()
    for i, n in enumerate(lengths):
        alone = FindingAttention(8, 3)
        alone.load_state_dict(head.state_dict())
        loss = torch.nn.functional.binary_cross_entropy_with_logits(alone(tokens[i : i + 1, :n], mask[i : i + 1, :n]), targets[i : i + 1], reduction="sum")
        loss.backward()
        for (name, p), (_, q) in zip(alone.named_parameters(), head.named_parameters()):
            torch.testing.assert_close(q.grad_sample[i], p.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_soft_uncertain_labels_are_half_in_the_loss_and_left_out_of_threshold_choice(toy_cohort, tiny_config):
    from radtrust.data.schema import LabelTable

    cohort, toy = toy_cohort
    v = toy.aligned_to(cohort.case_ids).values().copy()
    v[::4, 0] = -1  # the teacher is unsure of effusion in every fourth report
    labels = LabelTable.from_matrix(cohort.case_ids, toy.findings, v, "toy")
    t, m = label_targets(labels.aligned_to(cohort.case_ids), "soft")
    assert (v == -1).any() and np.all(t[v == -1] == 0.5) and np.all(m[v == -1] == 1)
    clf = ReportClassifier(tiny_config.model_copy(update={"uncertain_policy": "soft"}))
    *_, val_t, val_m, _ = clf.prepare(cohort, labels)
    assert np.all(val_m[(val_t > 0) & (val_t < 1)] == 0) and val_m.sum() > 0
