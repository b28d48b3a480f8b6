"""Combine several labelers' tables into one, with per-label confidence and pairwise agreement.

``dawid_skene`` estimates, per finding, each source's confusion matrix and the class prior by EM and
labels each case with the most probable class (Dawid & Skene, 1979); ``weighted_vote`` is a (weighted)
majority vote. Agreement is Cohen's kappa (Cohen, 1960) between every pair of sources.

Conventions, all in one place:

* **Classes.** Each finding of each case takes one of four categories: positive (1), uncertain (-1),
  negative (0) and not mentioned (NaN in a label table). All four are latent classes of the model: a
  labeler reads the *text*, and "the report does not mention it" is a real answer, not a missing one.
* **Missing annotations.** A case that a source has no row for (it labelled a different set of reports,
  or a teacher LLM gave no valid answer for it) is unobserved for that source, and the model simply
  leaves that source out for that case. Tables are aligned by ``case_id``: the result covers the union of
  all cases, in order of first appearance (first table's order, then new cases of the second, ...).
* **Ties** (equal votes, or equal posteriors) go to positive, then uncertain, then negative, then not
  mentioned — the CheXpert aggregation order (Irvin et al., 2019).
* **Agreement** is computed on the cases both sources labelled: ``kappa`` over the four categories, and
  ``kappa_positive`` over positive vs everything else (the view a classifier trained on 1-vs-rest sees).
  Kappa is undefined (NaN) when both sources use a single category only.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from radtrust.data.io import write_table
from radtrust.data.readers import read_labels
from radtrust.data.schema import LabelTable
from radtrust.errors import ConfigError, InputError
from radtrust.labeling.teacher import sidecar_path

__all__ = ["CLASS_VALUES", "METHODS", "agreement_table", "combine_files", "combine_labels", "dawid_skene"]

METHODS = ("dawid_skene", "weighted_vote")
#: Class index -> label value; the order is also the tie-break order. NaN is "not mentioned".
CLASS_VALUES: tuple[float, ...] = (1.0, -1.0, 0.0, float("nan"))
_POS, _NM = 0, 3  # indices of "positive" and "not mentioned"
_UNOBSERVED = -1
_CATEGORY_NAMES = ("positive", "uncertain", "negative", "not_mentioned")


def _encode(values: np.ndarray) -> np.ndarray:
    """Label values (1, -1, 0, NaN) -> class indices (0, 1, 2, 3)."""
    out = np.full(values.shape, _NM, dtype=np.int64)
    out[values == 1] = 0
    out[values == -1] = 1
    out[values == 0] = 2
    return out


def _decode(idx: np.ndarray) -> np.ndarray:
    return np.asarray(CLASS_VALUES)[idx]


def _one_hot(codes: np.ndarray, k: int) -> np.ndarray:
    """(n, S) codes with -1 for unobserved -> (n, S, k) one-hot with all-zero rows where unobserved."""
    out = np.zeros((*codes.shape, k))
    obs = codes >= 0
    n_idx, s_idx = np.nonzero(obs)
    out[n_idx, s_idx, codes[obs]] = 1.0
    return out


def _vote_posterior(codes: np.ndarray, k: int, weights: np.ndarray) -> np.ndarray:
    votes = (_one_hot(codes, k) * weights[None, :, None]).sum(axis=1)
    total = votes.sum(axis=1, keepdims=True)
    return np.divide(votes, total, out=np.full_like(votes, 1.0 / k), where=total > 0)


def dawid_skene(
    codes: np.ndarray,
    n_classes: int = 4,
    *,
    max_iter: int = 200,
    tol: float = 1e-6,
    smoothing: float = 0.01,
    diagonal_prior: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Dawid–Skene EM for one item set: ``codes`` is (n_items, n_sources), class index or -1 (unobserved).

    Written by hand on purpose: the maintained crowdsourcing packages either want every annotator on
    every item, are binary only, or pull in a heavy framework; this is 40 lines of numpy.

    Initialised from the (soft) majority vote; stops when the mean log-likelihood changes by less than
    ``tol``. ``smoothing`` is a small Dirichlet pseudo-count on every confusion-matrix cell and on the
    prior, so that a class a source never used keeps a non-zero probability; ``diagonal_prior`` adds that
    many pseudo-counts to each diagonal cell ("a source is more often right than not" until the data say
    otherwise). Without it, classes that few cases show are interchangeable to EM (a symmetric fixed
    point, e.g. a source's single "uncertain" read as 50/50 positive); with hundreds of cases per class
    the data outweigh it, and a consistently wrong source is still learnt as such.

    Returns ``(posterior (n, K), confusion (S, K, K) = P(source says l | truth k), prior (K,), n_iter)``.
    """
    n, s = codes.shape
    k = n_classes
    # The likelihood depends on an item only through its pattern of answers, and there are at most
    # (K+1)^S patterns: run EM on the distinct patterns weighted by their counts (exact, and fast).
    patterns, inverse, weight = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    w = weight.astype(float)[:, None]
    flat = _one_hot(patterns, k).reshape(len(patterns), s * k)  # products below = einsums over (S, K, K)
    post = _vote_posterior(patterns, k, np.ones(s))
    prev_ll = -np.inf
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - ``it`` is read after the loop (iterations run)
        # M-step: prior and per-source confusion matrices from the current soft truth.
        wp = post * w
        prior = (wp.sum(axis=0) + smoothing) / (n + k * smoothing)
        counts = (wp.T @ flat).reshape(k, s, k).transpose(1, 0, 2)  # [source, truth, said]
        conf = counts + smoothing + diagonal_prior * np.eye(k)[None]
        conf /= conf.sum(axis=2, keepdims=True)
        # E-step: P(truth k | item) ∝ prior_k * Π_s conf[s, k, label given by s]; a source that did not
        # label the item contributes nothing (its one-hot row is zero).
        log_joint = np.log(prior)[None, :] + flat @ np.log(conf).transpose(0, 2, 1).reshape(s * k, k)
        mx = log_joint.max(axis=1, keepdims=True)
        norm = mx + np.log(np.exp(log_joint - mx).sum(axis=1, keepdims=True))
        post = np.exp(log_joint - norm)
        ll = float((norm * w).sum() / n)
        if abs(ll - prev_ll) < tol:
            break
        prev_ll = ll
    return post[inverse], conf, prior, it


def _pick(post: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Most probable class (ties to the lowest index) and its probability."""
    # Round before argmax so that floating-point noise does not break the documented tie order.
    idx = np.argmax(np.round(post, 12), axis=1)
    return idx, post[np.arange(len(post)), idx]


def _source_names(tables: Sequence[LabelTable]) -> list[str]:
    names: list[str] = []
    for t in tables:
        base = str(t.source)
        name, i = base, 2
        while name in names:
            name, i = f"{base}#{i}", i + 1
        names.append(name)
    return names


def _common_findings(tables: Sequence[LabelTable], names: list[str], findings: Sequence[str] | None) -> list[str]:
    if findings is not None:
        findings = list(findings)
        if not findings:
            raise InputError("findings is empty: name at least one finding to combine")
        for t, name in zip(tables, names):
            lacking = [f for f in findings if f not in t.findings]
            if lacking:
                raise InputError(f"{name} ({t.origin}) has no column(s) {', '.join(lacking)}")
        return findings
    first = list(tables[0].findings)
    for t, name in zip(tables[1:], names[1:]):
        if set(t.findings) != set(first):
            only_first = [f for f in first if f not in t.findings]
            only_this = [f for f in t.findings if f not in first]
            detail = "; ".join(
                x
                for x in (
                    f"only {names[0]} has {', '.join(only_first[:6])}" if only_first else "",
                    f"only {name} has {', '.join(only_this[:6])}" if only_this else "",
                )
                if x
            )
            shared = [f for f in first if f in t.findings]
            hint = "they share no finding" if not shared else f"{len(shared)} shared; pass findings= to combine those"
            raise InputError(f"label tables have different findings ({detail}): {hint}; label with the same `vocab`")
    return first


def _stack(tables: Sequence[LabelTable], findings: list[str]) -> tuple[list[str], np.ndarray]:
    """Union of case ids (first-appearance order) and codes (n_cases, n_sources, n_findings), -1 unobserved."""
    ids: dict[str, int] = {}
    for t in tables:
        for c in t.case_ids:
            ids.setdefault(c, len(ids))
    codes = np.full((len(ids), len(tables), len(findings)), _UNOBSERVED, dtype=np.int64)
    for s, t in enumerate(tables):
        rows = np.fromiter((ids[c] for c in t.case_ids), dtype=np.int64, count=len(t))
        codes[rows, s, :] = _encode(t.frame[findings].astype("float64").to_numpy())
    return list(ids), codes


def _kappa(a: np.ndarray, b: np.ndarray) -> float:
    from sklearn.metrics import cohen_kappa_score

    if len(a) == 0:
        return float("nan")
    with warnings.catch_warnings():
        # A single category on both sides makes kappa 0/0; sklearn warns and returns NaN, as we document.
        warnings.simplefilter("ignore")
        k = cohen_kappa_score(a, b)
    return float(k)


def agreement_table(tables: Sequence[LabelTable], findings: Sequence[str] | None = None) -> pd.DataFrame:
    """Cohen's kappa per finding for every pair of sources, on the cases both labelled.

    Columns: ``finding`` (and one ``(all)`` row per pair pooling every finding), ``source_a``,
    ``source_b``, ``n`` (cases both labelled), ``agreement`` (observed share of equal categories),
    ``kappa`` (four categories: positive / uncertain / negative / not mentioned), ``kappa_positive``
    (positive vs the rest).
    """
    tables = list(tables)
    names = _source_names(tables)
    fnd = _common_findings(tables, names, findings)
    _, codes = _stack(tables, fnd)
    return _agreement(codes, names, fnd)


def _agreement(codes: np.ndarray, names: list[str], findings: list[str]) -> pd.DataFrame:
    rows = []
    n_src = codes.shape[1]
    for a in range(n_src):
        for b in range(a + 1, n_src):
            both = (codes[:, a, 0] != _UNOBSERVED) & (codes[:, b, 0] != _UNOBSERVED)
            ca, cb = codes[both, a, :], codes[both, b, :]
            for j, f in enumerate([*findings, "(all)"]):
                x, y = (ca[:, j], cb[:, j]) if j < len(findings) else (ca.ravel(), cb.ravel())
                rows.append(
                    {
                        "finding": f,
                        "source_a": names[a],
                        "source_b": names[b],
                        "n": int(len(x)),
                        "agreement": float((x == y).mean()) if len(x) else float("nan"),
                        "kappa": _kappa(x, y),
                        "kappa_positive": _kappa(x == _POS, y == _POS),
                    }
                )
    return pd.DataFrame(rows, columns=["finding", "source_a", "source_b", "n", "agreement", "kappa", "kappa_positive"])


def combine_labels(
    tables: Sequence[LabelTable],
    method: str = "dawid_skene",
    *,
    findings: Sequence[str] | None = None,
    weights: Sequence[float] | Mapping[str, float] | None = None,
    max_iter: int = 200,
    tol: float = 1e-6,
    smoothing: float = 0.01,
    diagonal_prior: float = 1.0,
) -> tuple[LabelTable, pd.DataFrame, pd.DataFrame]:
    """Combine label tables of the same findings into one.

    Parameters
    ----------
    tables:
        Two or more label tables (e.g. rules, a teacher LLM, a second teacher). Their finding sets must be
        equal unless ``findings`` names the ones to combine.
    method:
        ``"dawid_skene"`` (EM over per-source confusion matrices) or ``"weighted_vote"``.
    weights:
        For ``weighted_vote``: one weight per table (in order) or a mapping by source name; default equal
        weights (plain majority vote).
    max_iter, tol, smoothing, diagonal_prior:
        For ``dawid_skene``, see :func:`dawid_skene`.

    Returns
    -------
    ``(labels, confidence, agreement)``: the combined :class:`LabelTable` (source
    ``combined-<method>:<a>+<b>...``); a frame with ``case_id``, one column per finding holding the
    probability of the chosen class (DS posterior, or the weighted vote share) and ``n_sources`` (how many
    tables labelled the case); and :func:`agreement_table`'s frame.
    """
    tables = list(tables)
    if method not in METHODS:
        raise ConfigError(f"unknown combine method '{method}': choose one of {', '.join(METHODS)}")
    if len(tables) < 2:
        raise InputError(f"combining needs at least two label tables, got {len(tables)}")
    names = _source_names(tables)
    fnd = _common_findings(tables, names, findings)
    ids, codes = _stack(tables, fnd)
    observed = codes[:, :, 0] != _UNOBSERVED
    n_sources = observed.sum(axis=1)
    if not (n_sources >= 2).any():
        raise InputError(f"the {len(tables)} label tables share no case id ({', '.join(names)}): they label different reports; combine tables made from the same input")
    w = _weights(weights, names)
    if method == "weighted_vote" and not (w > 0).any():
        raise ConfigError("weighted_vote needs at least one positive weight")
    values = np.full((len(ids), len(fnd)), np.nan)
    conf = np.zeros((len(ids), len(fnd)))
    k = len(CLASS_VALUES)
    for j in range(len(fnd)):
        c = codes[:, :, j]
        if method == "dawid_skene":
            post = dawid_skene(c, k, max_iter=max_iter, tol=tol, smoothing=smoothing, diagonal_prior=diagonal_prior)[0]
        else:
            post = _vote_posterior(c, k, w)
        idx, p = _pick(post)
        values[:, j] = _decode(idx)
        conf[:, j] = p
    source = f"combined-{method}:" + "+".join(names)
    table = LabelTable.from_matrix(ids, fnd, values, source)
    confidence = pd.DataFrame(conf, columns=fnd)
    confidence.insert(0, "case_id", ids)
    confidence["n_sources"] = n_sources
    return table, confidence, _agreement(codes, names, fnd)


def _weights(weights: Sequence[float] | Mapping[str, float] | None, names: list[str]) -> np.ndarray:
    if weights is None:
        return np.ones(len(names))
    if isinstance(weights, Mapping):
        unknown = [k for k in weights if k not in names]
        if unknown:
            raise ConfigError(f"weights name unknown source(s) {', '.join(map(str, unknown))}; sources: {', '.join(names)}")
        w = np.array([float(weights.get(n, 1.0)) for n in names])
    else:
        w = np.asarray(list(weights), dtype=float)
        if w.shape != (len(names),):
            raise ConfigError(f"weights must have one value per table ({len(names)}), got {w.size}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ConfigError("weights must be finite and >= 0")
    return w


def combine_files(
    paths: Sequence[str | Path],
    out: str | Path,
    method: str = "dawid_skene",
    *,
    findings: Sequence[str] | None = None,
) -> tuple[LabelTable, pd.DataFrame, pd.DataFrame]:
    """Read label files, combine them and write ``out`` plus ``<out stem>.confidence.csv`` and
    ``<out stem>.agreement.csv`` beside it (each atomically).

    A teacher label file's sidecar (``<stem>.teacher.json``, from
    :func:`radtrust.labeling.teacher.teacher_label_file`) lists the cases the teacher gave no valid answer
    for; those rows are dropped before combining, so that "no answer" is not read as "not mentioned".
    """

    if method not in METHODS:  # before reading anything
        raise ConfigError(f"unknown combine method '{method}': choose one of {', '.join(METHODS)}")
    tables = []
    for p in paths:
        t = read_labels(p)
        failed = _failed_ids(sidecar_path(p))
        if failed:
            keep = ~t.frame["case_id"].isin(failed)
            if not keep.any():
                raise InputError(f"{p}: the teacher gave no valid answer for any case (see {sidecar_path(p).name})")
            t = LabelTable(t.frame.loc[keep].reset_index(drop=True), list(t.findings), t.source, t.origin)
        tables.append(t)
    table, confidence, agreement = combine_labels(tables, method, findings=findings)
    out = Path(out)
    write_table(table.frame, out)
    write_table(confidence, out.with_name(f"{out.stem}.confidence.csv"))
    write_table(agreement, out.with_name(f"{out.stem}.agreement.csv"))
    return table, confidence, agreement


def _failed_ids(sidecar: Path) -> list[str]:
    if not sidecar.exists():
        return []
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        return [str(c) for c in meta.get("stats", {}).get("failed_case_ids", [])]
    except (ValueError, AttributeError) as e:
        raise InputError(f"{sidecar}: not a readable teacher sidecar ({type(e).__name__})") from None
