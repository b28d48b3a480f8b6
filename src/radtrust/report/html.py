"""HTML reports (jinja2): a self-contained page with the data summary, metrics with intervals, the
privacy spent and plots. Reports carry aggregates only, never report text or identifiers."""

from __future__ import annotations

import time
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from radtrust import __version__
from radtrust.data.io import atomic_path
from radtrust.report.plots import as_data_uri, per_label_f1_plot


def render_metrics_report(title: str, intro: str, data_summary: dict, models: dict[str, dict], metrics_note: str) -> str:
    """Render the report page for one or more scored models (each a ``metrics.json``-shaped dict)."""
    env = Environment(loader=PackageLoader("radtrust", "report/templates"), autoescape=select_autoescape(["html", "j2"]))
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
    )


def write_report(path: str | Path, html: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(html, encoding="utf-8")
    return Path(path)
