"""HTML reports (jinja2): a self-contained page with the data summary, metrics with intervals, the
privacy spent and plots. Reports carry aggregates only, never report text or identifiers."""

from __future__ import annotations

import time
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from radtrust._version import __version__
from radtrust.data.io import atomic_path
from radtrust.noise.files import refuse_release
from radtrust.plots import as_data_uri, per_label_f1_plot


def _env() -> Environment:
    return Environment(loader=PackageLoader("radtrust", "report/templates"), autoescape=select_autoescape(["html", "j2"]))


def fairness_context(audit: dict, forest_png: bytes | None = None, forest_caption: str = "", model: str = "", top_n: int = 15) -> dict:
    """What the fairness section shows, from a ``fairness.json``-shaped dict: the largest gaps and the
    comparisons that stay significant after correction, plus the forest plot."""
    gaps = sorted(
        [g for g in audit.get("gaps", []) if g["metric"] in ("tpr", "fpr", "auroc", "underdiagnosis_rate", "equalized_odds_difference")],
        key=lambda g: -(g["max_minus_min_low"] or 0.0),
    )
    sig = sorted([t for t in audit.get("tests", []) if t.get("significant")], key=lambda t: t["p_adjusted"])
    return {
        **audit,
        "model": model,
        "top_gaps": gaps[:top_n],
        "significant_tests": sig[: 3 * top_n],
        "forest_uri": as_data_uri(forest_png) if forest_png else None,
        "forest_caption": forest_caption,
    }


def render_fairness_report(title: str, fairness: dict, privacy: dict | None = None) -> str:
    """A stand-alone page with the fairness section (``fairness`` from :func:`fairness_context`)."""
    refuse_release([fairness, privacy], "fairness report")
    return _env().get_template("fairness_report.html.j2").render(title=title, version=__version__, created=time.strftime("%Y-%m-%d %H:%M"), fairness=fairness, privacy=privacy)


def render_metrics_report(title: str, intro: str, data_summary: dict, models: dict[str, dict], metrics_note: str, fairness: dict | None = None, mammography: dict | None = None) -> str:
    """Render the report page for one or more scored models (each a ``metrics.json``-shaped dict), with a
    fairness section when ``fairness`` (from :func:`fairness_context`) is given.

    A report is a released artifact (a model card): anything marked internal-only (the label audit, the
    annotation plan) is refused."""
    refuse_release([data_summary, models, fairness, mammography], "model report")
    env = _env()
    first = next(iter(models.values()))
    plots = [{"uri": as_data_uri(per_label_f1_plot(models)), "caption": "F1 per finding, decisions at thresholds chosen on validation data."}]
    return env.get_template("report.html.j2").render(
        title=title,
        intro=intro,
        version=__version__,
        created=time.strftime("%Y-%m-%d %H:%M"),
        data_summary=data_summary,
        models=models,
        first=first,
        findings=list(first["per_label"]),
        plots=plots,
        metrics_note=metrics_note,
        fairness=fairness,
        mammography=mammography,
    )


def write_report(path: str | Path, html: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return Path(path)
