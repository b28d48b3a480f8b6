"""Plots for reports, rendered headless (Agg) to PNG bytes so an HTML report is one self-contained file."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from radtrust.data.io import atomic_path


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def per_label_f1_plot(models: dict[str, dict], title: str = "F1 per finding") -> bytes:
    """Grouped horizontal bars: one group per finding, one bar per model, from metrics dicts."""
    names = list(models)
    findings = [f for f in models[names[0]]["per_label"] if f in models[names[0]]["averaged_over"]]
    y = np.arange(len(findings))
    h = 0.8 / max(1, len(names))
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(findings) + 1.5))
    for i, name in enumerate(names):
        vals = [models[name]["per_label"][f]["f1"] for f in findings]
        ax.barh(y + i * h - 0.4 + h / 2, vals, height=h, label=name)
    ax.set_yticks(y, findings)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("F1 against the reference labels")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def privacy_utility_plot(rows, path=None, metric: str = "weighted_f1") -> bytes:
    """Utility against privacy: ``metric`` (with its 95% interval as error bars, from ``<metric>_ci_low`` /
    ``_ci_high``) against target ε on a log axis, one line per method; ε = inf sits at its own tick to the
    right, joined by a dotted segment because the axis is broken there. ``rows``: dicts or a DataFrame as
    written by :func:`radtrust.evaluate.sweep.run_sweep`. Writes ``path`` atomically when given; returns the PNG.
    """
    import math

    import pandas as pd

    frame = pd.DataFrame(rows)
    if frame.empty:
        raise ValueError("privacy_utility_plot: no rows")
    eps = frame["epsilon_target"].astype(float)
    finite = sorted(eps[np.isfinite(eps)].unique())
    # ∞ two octaves right of the largest finite ε (or at 1 when every run is non-private)
    x_inf = finite[-1] * 4 if finite else 1.0
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (method, g) in enumerate(frame.groupby("method", sort=False)):
        g = g.assign(_x=[x_inf if math.isinf(e) else e for e in g["epsilon_target"].astype(float)]).sort_values("_x")
        y = g[metric].astype(float).to_numpy()
        lo = g.get(f"{metric}_ci_low", pd.Series(np.nan, index=g.index)).astype(float).to_numpy()
        hi = g.get(f"{metric}_ci_high", pd.Series(np.nan, index=g.index)).astype(float).to_numpy()
        yerr = np.vstack([np.nan_to_num(y - lo), np.nan_to_num(hi - y)]).clip(min=0)
        color = f"C{i}"
        is_inf = np.isinf(g["epsilon_target"].astype(float).to_numpy())
        ax.errorbar(g["_x"], y, yerr=yerr, fmt="none", ecolor=color, elinewidth=1, capsize=3, alpha=0.8)
        if (~is_inf).any():
            ax.plot(g["_x"][~is_inf], y[~is_inf], "o-", color=color, label=method)
        if is_inf.any():
            ax.plot(g["_x"][is_inf], y[is_inf], "s", color=color, label=None if (~is_inf).any() else method)
            if (~is_inf).any():
                last = np.flatnonzero(~is_inf)[-1]
                ax.plot([g["_x"].iloc[last], x_inf], [y[last], y[is_inf][0]], ":", color=color)
    ax.set_xscale("log")
    ticks = [*finite] + ([x_inf] if eps.map(math.isinf).any() else [])
    labels = [f"{e:g}" for e in finite] + (["∞ (non-private)"] if len(ticks) > len(finite) else [])
    ax.set_xticks(ticks, labels)
    ax.minorticks_off()
    ax.set_xlabel("target ε (log scale)")
    ax.set_ylabel(metric.replace("_", " ").replace("f1", "F1") + " (95% CI)")
    deltas = sorted({float(d) for d in frame.get("delta", pd.Series(dtype=float)).dropna()})
    accountants = sorted({str(a).upper() for a in frame.get("accountant", pd.Series(dtype=object)).dropna()})
    delta_txt = f"δ = {deltas[0]:.2g}" if len(deltas) == 1 else "δ varies by run" if deltas else "no private runs"
    acc_txt = f", {'/'.join(accountants)} accountant" if accountants else ""
    ax.set_title(f"Privacy–utility trade-off ({delta_txt}{acc_txt})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(title="method", fontsize=8)
    png = _png(fig)
    if path is not None:
        with atomic_path(path) as tmp:
            tmp.write_bytes(png)
    return png


def as_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def forest_plot(rows: list[dict], metric: str, finding: str, metric_label: str | None = None, overall: dict | None = None) -> bytes:
    """Forest plot of one metric per group with 95% intervals, groups listed under their attribute.

    ``rows`` are by-group audit rows (``attribute``, ``group``, ``finding``, ``n``, ``<metric>``,
    ``<metric>_low``/``_high``, ``<metric>_status``); groups not judged are listed with the reason instead
    of a point. ``overall`` (the all-patients row) draws a dashed reference line.
    """
    sel = [r for r in rows if r.get("finding", finding) == finding]
    labels, vals, lows, highs, notes = [], [], [], [], []
    last_attr = None
    for r in sel:
        if r["attribute"] != last_attr:
            labels.append(f"{r['attribute']}")
            vals.append(np.nan)
            lows.append(np.nan)
            highs.append(np.nan)
            notes.append("header")
            last_attr = r["attribute"]
        labels.append(f"   {r['group']} (n={r['n']})")
        st = r.get(f"{metric}_status", r.get("status", "ok"))
        v = r.get(metric)
        ok = st == "ok" and v is not None and np.isfinite(v)
        vals.append(v if ok and v is not None else np.nan)
        lo, hi = r.get(f"{metric}_low"), r.get(f"{metric}_high")
        lows.append(lo if ok and lo is not None else np.nan)
        highs.append(hi if ok and hi is not None else np.nan)
        notes.append("" if ok else st)
    y = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(7.5, 0.28 * len(labels) + 1.4))
    v, lo, hi = np.array(vals, float), np.array(lows, float), np.array(highs, float)
    has = np.isfinite(v)
    err = np.vstack([np.where(np.isfinite(lo), v - lo, 0), np.where(np.isfinite(hi), hi - v, 0)])
    ax.errorbar(v[has], y[has], xerr=err[:, has], fmt="s", color="#1f4e79", ecolor="#555", capsize=3, markersize=5)
    for yi, note in zip(y, notes):
        if note and note != "header":
            ax.text(0.01, float(yi), note, va="center", fontsize=7, color="#a33", transform=ax.get_yaxis_transform())
    if overall is not None and overall.get(metric) is not None and np.isfinite(overall[metric]):
        ax.axvline(overall[metric], ls="--", color="#888", lw=1, label="all patients")
        ax.legend(loc="lower right", fontsize=7)
    ax.set_yticks(y, labels, fontsize=8)
    for t, note in zip(ax.get_yticklabels(), notes):
        if note == "header":
            t.set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"{metric_label or metric} (95% patient-clustered bootstrap interval)")
    ax.set_title(f"{metric_label or metric}: {finding}")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
