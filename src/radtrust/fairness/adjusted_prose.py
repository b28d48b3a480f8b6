"""The English sentences that describe the adjusted disparities of :mod:`radtrust.fairness.adjusted`: one per
group level, a reader's version of its odds ratio, interval and crude comparison, or of its raw rate."""

from __future__ import annotations

import re
from collections.abc import Sequence


def short_outcome(label: str) -> str:
    """'missed finding (false negative among truth-positive cells)' → 'missed finding'."""
    return re.sub(r"\s*\(.*\)\s*$", "", label).strip() or label


def _article(noun: str) -> str:
    return f"an {noun}" if noun[:1].lower() in "aeiou" else f"a {noun}"


def _join(names: Sequence[str]) -> str:
    names = [str(n).replace("_", " ") for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _fmt_or(x: float) -> str:
    return f"{x:.2f}" if 0.01 <= x < 100 else f"{x:.3g}"


def _fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def odds_ratio_sentence(
    row: dict,
    group: str,
    reference: str,
    covs: list[str],
    random_site: bool,
    site_column: str,
    outcome_label: str,
) -> str:
    """One sentence a clinician can read: the adjusted odds ratio, its interval, and the crude one."""
    adjusted = bool(covs) or random_site
    if random_site and covs:
        lead = f"After adjusting for {_join(covs)}, with {site_column} as a random effect, cases"
    elif random_site:
        lead = f"Allowing for {site_column} as a random effect, cases"
    elif covs:
        lead = f"After adjusting for {_join(covs)}, cases"
    else:
        lead = "Without adjustment (no covariates named), cases"
    interval = "95% credible interval" if random_site else "95% CI"
    p = "" if row["p_value"] is None else f", {_fmt_p(row['p_value'])}"
    text = (
        f"{lead} of patients with {group} = {row['level']} had {_fmt_or(row['odds_ratio'])} times the odds of "
        f"{_article(short_outcome(outcome_label))} of cases with {group} = {reference} "
        f"({interval} {_fmt_or(row['ci_low'])} to {_fmt_or(row['ci_high'])}{p})"
    )
    unclear = row["ci_low"] <= 1.0 <= row["ci_high"]
    if unclear:
        text += ": no clear difference after adjustment" if adjusted else ": no clear difference"
    if adjusted:
        text += f"; unadjusted: {_fmt_or(row['crude_odds_ratio'])}"
    return text + "."


def raw_rate_sentence(row: dict, group: str, reference: str, reference_rate: float, outcome_label: str) -> str:
    """The sentence of a level with too few units, or too uniform ones, for an odds ratio: its raw rate."""
    return (
        f"Cases of patients with {group} = {row['level']} ({row['n']}, of which {row['n_errors']} with "
        f"{_article(short_outcome(outcome_label))}) are too few, or too uniform, for an odds ratio; raw rate "
        f"{_pct(row['raw_rate'])} against {_pct(reference_rate)} with {group} = {reference}."
    )
