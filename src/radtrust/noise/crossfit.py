"""Out-of-sample predicted probabilities by K-fold cross-fitting, split by patient.

Confident learning needs, for every case, the probability a model gives each finding when that case was
*not* in the model's training data (Northcutt et al., JAIR 2021); otherwise the model has memorised the
wrong labels it should expose. Folds are grouped by patient so that a patient's other studies do not leak
the label either.

The default model is TF-IDF word uni/bigrams with one L2 logistic regression per finding (scikit-learn):
fast on CPU (seconds for thousands of reports), and bigrams see short negations ("no effusion"). The bundled
encoder's frozen sentence vectors (``encoder``) or both concatenated (``tfidf+encoder``) can be chosen
instead. Users with their own out-of-sample probabilities can pass them straight to the audit (the model
is the user's, as in cleanlab).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from radtrust.data.schema import Cohort
from radtrust.errors import InputError
from radtrust.progress import progress_bar


class CrossFitConfig(BaseModel):
    """How the out-of-sample probabilities are made."""

    model_config = ConfigDict(extra="forbid")

    model: Literal["tfidf", "encoder", "tfidf+encoder"] = Field("tfidf", description="features of the per-finding logistic regressions")
    n_folds: int = Field(5, ge=2, le=20, description="K of the K-fold cross-fitting (folds grouped by patient)")
    C: float = Field(4.0, gt=0, description="inverse L2 strength of the logistic regressions")
    ngram_max: int = Field(2, ge=1, le=3, description="longest word n-gram of the TF-IDF features")
    min_df: int = Field(2, ge=1, description="a word n-gram must occur in this many training reports")
    encoder: str = Field("all-MiniLM-L6-v2", description="encoder for the 'encoder' features ('tiny' in tests)")
    max_length: int = Field(128, ge=8, le=512, description="tokens per report for the encoder")
    seed: int = 0


def patient_folds(patient_ids: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, held-out) index pairs; every patient's cases fall in one held-out fold."""
    from sklearn.model_selection import GroupKFold

    n_patients = len(np.unique(patient_ids))
    if n_patients < n_folds:
        raise InputError(f"cross-fitting needs at least {n_folds} patients, found {n_patients}")
    cv = GroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(patient_ids)), groups=patient_ids))


def encoder_vectors(texts: list[str], encoder: str, max_length: int, progress: bool = False, batch_size: int = 64) -> np.ndarray:
    """Frozen mean-pooled sentence vectors of the encoder, one per report (the encoder runs once)."""
    import torch

    from radtrust.models.text import build_report_net, load_tokenizer, pad_batch, tokenize  # loads torch: imported on first use

    tok = load_tokenizer(encoder)
    net = build_report_net(encoder, 1, 8, 16, 0.0, ["query", "value"], None, 0.0, 0, "mean", "head", None)
    ids = tokenize(tok, texts, max_length)
    order = np.argsort([len(x) for x in ids])  # length-sorted batches pad less
    out = np.zeros((len(texts), net.trunk.config.hidden_size), dtype=np.float32)
    with torch.no_grad(), progress_bar("encoding reports", len(texts), progress) as bar:
        for s in range(0, len(order), batch_size):
            idx = order[s : s + batch_size]
            batch, att = pad_batch([ids[i] for i in idx], tok.pad_token_id)
            out[idx] = net.features(batch, att)[:, 0].numpy()
            bar.advance(len(idx))
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)


def out_of_sample_probabilities(cohort: Cohort, targets: np.ndarray, mask: np.ndarray, config: CrossFitConfig | None = None, progress: bool = False) -> np.ndarray:
    """(n_cases, n_findings) probability that each finding is *labelled* present, from models that never saw
    the case's patient.

    ``targets`` are 0/1, ``mask`` 1 where the label counts (uncertain labels can be masked out). A finding
    whose training fold holds one class only gets that fold's positive share.
    """
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    cfg = config or CrossFitConfig()
    texts = cohort.texts()
    folds = patient_folds(cohort.patient_ids, cfg.n_folds, cfg.seed)
    dense = encoder_vectors(texts, cfg.encoder, cfg.max_length, progress) if "encoder" in cfg.model else None
    n, k = targets.shape
    probs = np.zeros((n, k), dtype=float)
    with progress_bar("cross-fitting label models", len(folds) * k, progress) as bar:
        for train, held in folds:
            parts_tr, parts_te = [], []
            if "tfidf" in cfg.model:
                vec = TfidfVectorizer(ngram_range=(1, cfg.ngram_max), min_df=cfg.min_df, sublinear_tf=True)
                parts_tr.append(vec.fit_transform([texts[i] for i in train]))
                parts_te.append(vec.transform([texts[i] for i in held]))
            if dense is not None:
                parts_tr.append(sparse.csr_matrix(dense[train]))
                parts_te.append(sparse.csr_matrix(dense[held]))
            x_tr, x_te = sparse.hstack(parts_tr).tocsr(), sparse.hstack(parts_te).tocsr()
            for j in range(k):
                keep = mask[train, j] > 0
                y = targets[train, j][keep]
                if len(y) == 0 or y.min() == y.max():
                    probs[held, j] = float(y.mean()) if len(y) else 0.0
                else:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", category=UserWarning)
                        model = LogisticRegression(C=cfg.C, max_iter=3000).fit(x_tr[np.flatnonzero(keep)], y)
                    probs[held, j] = model.predict_proba(x_te)[:, 1]
                bar.advance(1)
    return probs
