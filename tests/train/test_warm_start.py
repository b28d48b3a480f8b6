"""Warm start from a checkpoint fitted on synthetic reports only: the student begins where pretraining
ended, pays no privacy for it, says so in privacy.json, and carries the warm start in its run folder."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from radtrust.errors import ConfigError
from radtrust.labeling.rules import RuleLabeler
from radtrust.models.text import load_tokenizer, pad_batch, tokenize
from radtrust.synth.chest import ChestSynthConfig, synth_chest
from radtrust.synth.pretrain import pretrain
from radtrust.train.estimator import ReportClassifier
from radtrust.train.warm_start import BUNDLED, WARM_START_FILES, read_warm_start, resolve_warm_start


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, test_threads):
    from radtrust.train.config import TrainConfig

    cfg = TrainConfig(encoder="tiny", epochs=2, batch_size=32, learning_rate=5e-3, encoder_learning_rate=5e-3, max_length=32, num_threads=test_threads)
    root = tmp_path_factory.mktemp("pretrain")
    return cfg, {m: pretrain(root / m, cfg.model_copy(update={"method": m}), n=160, seed=1, vocab="chexpert14") for m in ("lora", "full")}


def _logits(net, texts):
    tok = load_tokenizer("tiny")
    ids, att = pad_batch(tokenize(tok, texts, 32), tok.pad_token_id)
    with torch.inference_mode():
        return net.eval()(ids, att)


@pytest.mark.parametrize("source", ["lora", "full"])
@pytest.mark.parametrize("method", ["lora", "bitfit", "full", "head"])
def test_a_warm_started_student_begins_where_pretraining_ended(pretrained, source, method):
    """Before its first step the student computes what the pretrained model computes (LoRA starts at zero,
    the adapted encoder is the base plus the stored delta, the head rows are copied), for any method."""
    cfg, folders = pretrained
    teacher = ReportClassifier.load(folders[source])
    student = ReportClassifier(cfg.model_copy(update={"method": method, "warm_start": str(folders[source])}))
    student.findings = list(teacher.findings)
    net = student._build(len(student.findings))
    texts = synth_chest(ChestSynthConfig(n=12, seed=4))[0].texts()
    torch.testing.assert_close(_logits(net, texts), _logits(teacher.net, texts), atol=1e-5, rtol=1e-5)
    cold = ReportClassifier(cfg.model_copy(update={"method": method}))
    cold.findings = list(teacher.findings)
    assert not torch.allclose(_logits(cold._build(len(cold.findings)), texts), _logits(teacher.net, texts), atol=1e-3)


def test_a_private_warm_started_run_spends_what_a_cold_one_does_and_carries_its_warm_start(pretrained, tmp_path):
    cfg, folders = pretrained
    cohort, _ = synth_chest(ChestSynthConfig(n=150, seed=9))
    labels = RuleLabeler("chexpert14").label(cohort)
    private = cfg.model_copy(update={"epsilon": 4.0})
    cold = ReportClassifier(private).fit(cohort, labels)
    warm_dir = tmp_path / "warm_source"
    shutil.copytree(folders["lora"], warm_dir)
    warm = ReportClassifier(private.model_copy(update={"warm_start": str(warm_dir)})).fit(cohort, labels)
    assert warm.result.privacy.epsilon == cold.result.privacy.epsilon and warm.result.privacy.noise_multiplier == cold.result.privacy.noise_multiplier
    warm.save(tmp_path / "run")
    record = json.loads((tmp_path / "run" / "privacy.json").read_text())
    assert record["warm_start"]["patient_data"] == "none" and record["warm_start"]["n_reports"] == 160
    assert "synthetic reports only" in record["note"] and "path" not in record["warm_start"]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["warm_start"] == record["warm_start"]
    shutil.rmtree(warm_dir)  # the run folder alone must predict, and be audited: it holds its warm start
    again = ReportClassifier.load(tmp_path / "run")
    np.testing.assert_allclose(again.predict_proba(cohort), warm.predict_proba(cohort), atol=1e-6)
    from radtrust.evaluate.privacy_audit import PrivacyAuditConfig, audit_privacy

    audit = audit_privacy(tmp_path / "run", cohort, labels, PrivacyAuditConfig(shadows=2, n_boot=100))
    assert "lira/training_records" in audit["attacks"]
    shutil.rmtree(tmp_path / "run" / "warm_start")
    with pytest.raises(Exception, match="warm_start/ is missing"):
        ReportClassifier.load(tmp_path / "run")


def test_only_a_pretrain_folder_fitted_on_no_patient_data_for_this_encoder_is_a_warm_start(pretrained, tmp_path):
    _, folders = pretrained
    with pytest.raises(ConfigError, match="no such pretrain folder"):
        read_warm_start(tmp_path / "nope", "tiny")
    run_like = tmp_path / "run_like"
    shutil.copytree(folders["lora"], run_like)
    (run_like / "encoder_delta.safetensors").unlink()
    with pytest.raises(ConfigError, match="not a pretrain folder"):
        read_warm_start(run_like, "tiny")
    patient = tmp_path / "patient"
    shutil.copytree(folders["lora"], patient)
    info = json.loads((patient / "pretrain.json").read_text())
    (patient / "pretrain.json").write_text(json.dumps({**info, "patient_data": "hospital A"}))
    with pytest.raises(ConfigError, match="no patient data"):
        read_warm_start(patient, "tiny")
    with pytest.raises(ConfigError, match="this run uses 'all-MiniLM-L6-v2'"):
        read_warm_start(folders["lora"], "all-MiniLM-L6-v2")
    broken = tmp_path / "broken"
    shutil.copytree(folders["lora"], broken)
    (broken / "encoder_delta.safetensors").write_bytes(b"\0" * 20)
    with pytest.raises(ConfigError, match="damaged pretrain folder"):
        read_warm_start(broken, "tiny")


def test_the_command_in_pretrain_json_rebuilds_the_warm_start_bit_for_bit(pretrained, tmp_path):
    """pretrain.json's command line (every non-default option, the thread count pinned), run as a user runs
    it, writes the same bytes: what ``make warm-start-check`` does for the bundled warm start."""
    _, folders = pretrained
    info = json.loads((folders["lora"] / "pretrain.json").read_text())
    assert info["patient_data"] == "none" and info["generator_config"]["n"] == 160
    command = shlex.split(info["rebuild"])
    assert command[:2] == ["radtrust", "pretrain"] and command[-1] == "OUT"
    assert {"--encoder", "--num-threads", "--n-reports", "--corpus-seed", "--epochs"} <= set(command)
    r = subprocess.run([sys.executable, "-m", "radtrust.cli", *command[1:-1], str(tmp_path / "again"), "-q"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    for f in (*WARM_START_FILES, "adapter.safetensors"):
        assert (tmp_path / "again" / f).read_bytes() == (folders["lora"] / f).read_bytes(), f


def test_auto_is_the_bundled_warm_start_for_its_encoder_and_nothing_for_another():
    assert resolve_warm_start("auto", "all-MiniLM-L6-v2") == BUNDLED
    assert resolve_warm_start("auto", "tiny") is None
    assert resolve_warm_start("none", "all-MiniLM-L6-v2") is None and resolve_warm_start(None, "all-MiniLM-L6-v2") is None
    warm = read_warm_start(BUNDLED, "all-MiniLM-L6-v2")  # it is a pretrain folder like any other
    assert warm.info["patient_data"] == "none" and warm.info["rebuild"].startswith("radtrust pretrain ")
    assert set(warm.findings) >= {"Atelectasis", "Effusion", "Pneumothorax"}


def test_a_head_of_another_layout_starts_fresh_but_the_encoder_is_still_warm(pretrained):
    """A run that pools differently from its warm start keeps the adapted encoder and a random head."""
    cfg, folders = pretrained
    warm = read_warm_start(folders["full"], "tiny")
    student = ReportClassifier(cfg.model_copy(update={"method": "full", "pooling": "attention", "warm_start": str(folders["full"])}))
    student.findings = list(warm.findings)
    net = student._build(len(student.findings))
    assert warm.init_head(net.head, student.findings) == []
    key = "layer.1.attention.self.query.weight"
    torch.testing.assert_close(net.top.encoder.state_dict()[key], warm.delta[f"encoder.{key}"])


def test_an_installation_without_its_bundled_warm_start_says_so_before_any_charge(monkeypatch, tmp_path):
    import radtrust.train.warm_start as ws

    monkeypatch.setattr(ws, "BUNDLED", tmp_path / "gone")
    with pytest.raises(ConfigError, match="bundled warm start is missing.*--warm-start none"):
        ws.resolve_warm_start("auto", "all-MiniLM-L6-v2")
