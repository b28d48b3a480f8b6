"""Plots for reports, rendered headless (Agg) to PNG bytes so an HTML report is one self-contained file."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


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


def as_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
