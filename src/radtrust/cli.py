"""The ``radtrust`` command line. It parses options, calls one library function per command, and prints a
short summary; it holds no logic. User mistakes (:class:`~radtrust.errors.RadtrustError`) become one line
on stderr and exit code 2."""

from __future__ import annotations

import functools
import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from pydantic import BaseModel

from radtrust.errors import Interrupted, RadtrustError, as_flags
from radtrust.train.config import PRETRAIN_FIXED, ImageTrainConfig, TrainConfig

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="Private, fair and label-honest radiology AI.")
synth_app = typer.Typer(no_args_is_help=True, help="Write built-in synthetic cohorts with hidden ground truth.")
app.add_typer(synth_app, name="synth")
budget_app = typer.Typer(no_args_is_help=True, help="Privacy budgets per dataset (identified by content): set one, show what runs spent.")
app.add_typer(budget_app, name="budget")
audit_app = typer.Typer(no_args_is_help=True, help="Audits: fairness of a trained run by patient group; membership-inference privacy audit of a run; label noise of a label table.")
app.add_typer(audit_app, name="audit")
annotate_app = typer.Typer(no_args_is_help=True, help="Expert review: plan which cases experts check under a budget; merge their corrections.")
app.add_typer(annotate_app, name="annotate")

ColumnMap = Annotated[Optional[list[str]], typer.Option("--column-map", help="radtrust_name=your_column (repeatable), e.g. case_id=accession")]
EmptyReports = Annotated[str, typer.Option("--empty-reports", help="a report with no findings/impression text: error, drop or keep")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bars")]
#: options several commands share, declared once
GOLD_ID_HELP = "id column of the gold file (default: detected, e.g. case_id, or filename for Open-i)"
IdColumn = Annotated[Optional[str], typer.Option("--id-column", help="id column of the label file (default: detected)")]
GoldIdColumn = Annotated[Optional[str], typer.Option("--id-column", help=GOLD_ID_HELP)]
AgeCuts = Annotated[str, typer.Option(help="age band cut points (lower-inclusive)")]
Ledger = Annotated[Optional[Path], typer.Option("--ledger", help="privacy ledger file (default: $RADTRUST_LEDGER, else ./.radtrust/privacy_ledger.sqlite)")]


def config_options(config_class: type[BaseModel], flags: dict[str, tuple[str, ...]] | None = None, set_by_command: tuple[str, ...] = ()):
    """Give a command one ``--flag`` per field of ``config_class``, generated from the field itself (type,
    choices, help text and default), and hand the flags given to it as ``overrides`` (field: value) for
    ``config_class.load(config_file, **overrides)``. So a training option is declared once, in the pydantic
    config; ``tests/test_cli_options.py`` checks that every field has its flag. Typer builds options from a
    function's signature only, which is why the signature is generated here (no library does this for typer).

    ``flags`` names the flags of a field where they differ from ``--field-name`` (e.g. ``--lr``);
    ``set_by_command`` the fields the command sets itself (a sweep's ε and method), which get no flag. Lists are
    given comma-separated; booleans as ``--flag/--no-flag``; an option not given keeps the config file's value,
    else the field's default (shown in the help)."""
    flags = flags or {}

    def decorate(command):
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "overrides"]
        taken = {p.name for p in own}
        generated, converters = [], {}
        for name, field in config_class.model_fields.items():
            if name in set_by_command:
                continue
            if name in taken:
                raise TypeError(f"{command.__name__}: parameter '{name}' is also a field of {config_class.__name__}")
            cli_type, convert = _cli_type(field.annotation)
            decls = flags.get(name, (f"--{name.replace('_', '-')}",))
            if cli_type is bool:
                decls = (f"{decls[0]}/--no-{decls[0][2:]}",)
            default = field.get_default(call_default_factory=True)
            shown = ",".join(map(str, default)) if isinstance(default, list) else default
            text = (field.description or "").strip()
            choices = typing.get_args(_without_none(field.annotation)) if typing.get_origin(_without_none(field.annotation)) is Literal else ()
            if choices and not all(c in text for c in choices):
                text = f"{text} ({', '.join(map(str, choices))})" if text else ", ".join(map(str, choices))
            help_text = f"{text}; default {shown}" if text else f"default {shown}"
            option = typer.Option(*decls, help=help_text, show_default=False, rich_help_panel=f"{config_class.__name__} options")
            generated.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[Optional[cli_type], option]))
            converters[name] = convert

        @functools.wraps(command)
        def wrapper(*args, **kwargs):
            given = {name: kwargs.pop(name, None) for name in converters}
            overrides = {name: converters[name](value) for name, value in given.items() if value is not None}
            return command(*args, overrides=overrides, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=[*own, *generated])  # type: ignore[attr-defined]
        wrapper.config_class = config_class  # type: ignore[attr-defined]
        wrapper.set_by_command = set_by_command  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _without_none(annotation):
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        rest = [a for a in typing.get_args(annotation) if a is not type(None)]
        return rest[0] if len(rest) == 1 else annotation
    return annotation


def _cli_type(annotation):
    """The type typer parses for a config field, and how its text becomes the field's value."""
    inner = _without_none(annotation)
    origin = typing.get_origin(inner)
    if origin is Literal:
        return str, lambda v: v
    if origin is list:
        (item,) = typing.get_args(inner)
        return str, lambda v: [item(x.strip()) for x in v.split(",") if x.strip()]
    if inner in (bool, int, float, str):
        return inner, lambda v: v
    raise TypeError(f"no command-line form for a config field of type {annotation}")


def _echo(msg: str) -> None:
    typer.echo(msg, err=True)


@app.callback()
def _global_options(
    ctx: typer.Context,
    deid: Annotated[
        str, typer.Option("--deid", envvar="RADTRUST_DEID", help="de-identify report text as it is read, in every command: mask ([NAME], [DATE], ...), surrogate (realistic fakes) or off")
    ] = "mask",
    deid_shift_dates: Annotated[bool, typer.Option("--deid-shift-dates", help="shift each patient's dates by one secret offset (intervals kept) instead of masking them")] = False,
    deid_key_file: Annotated[
        Optional[Path],
        typer.Option("--deid-key-file", help="file holding a secret key: the same key gives the same surrogates and date shifts in every run (default: $RADTRUST_DEID_KEY, else random per command)"),
    ] = None,
    deid_engine: Annotated[str, typer.Option("--deid-engine", help="auto (adds Presidio where it and a spaCy English model are installed), radtrust or presidio")] = "auto",
) -> None:
    """Global options, given before the command: ``radtrust --deid surrogate train ...``. They make the one
    de-identifier of this command (its engine is built when report text is first read), which every
    command that reads text hands down to the library."""
    from radtrust.deid.door import CohortDeidentifier

    cfg = _deid_config(deid, deid_shift_dates, deid_key_file, deid_engine)
    ctx.ensure_object(dict)["deid"] = CohortDeidentifier(cfg) if cfg is not None else None


def _deid(ctx: typer.Context):
    """The command's de-identifier from the global ``--deid`` options (None: ``--deid off``)."""
    return (ctx.find_root().obj or {}).get("deid")


def _deid_config(mode: str, shift_dates: bool, key_file: Path | None, engine: str):
    import os

    from radtrust.deid.door import KEY_ENV, deid_setting

    key = os.environ.get(KEY_ENV) or None  # the environment is read here, at the door, and nowhere deeper
    if key_file is not None:
        try:
            key = key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            raise RadtrustError(f"{key_file}: cannot read the de-identification key ({type(e).__name__})") from None
        if not key:
            raise RadtrustError(f"{key_file}: the de-identification key file is empty")
    return deid_setting(mode, key, "--deid", shift_dates=shift_dates, engine=engine)


@app.command("deid")
def deid_cmd(
    ctx: typer.Context,
    input: Annotated[Path, typer.Argument(help="reports: CSV, Parquet, JSONL or an Open-i archive")],
    out: Annotated[Path, typer.Option(help="de-identified copy to write (.csv, .parquet or .jsonl); counts go to <stem>.deid.json")],
    columns: Annotated[Optional[str], typer.Option(help="comma-separated free-text columns (default: findings, impression, indication, comparison, text)")] = None,
    column_map: ColumnMap = None,
) -> None:
    """Write a de-identified copy of a report file: names, dates (or per-patient date shifts), ages over 89,
    phone/fax, e-mail, URLs, record/accession/ID numbers, addresses and institutions, as typed masks or
    surrogates (global --deid options), keeping radiology vocabulary."""
    from radtrust.deid.door import describe
    from radtrust.deid.files import deid_file
    from radtrust.train.config import parse_str_list

    deid = _deid(ctx)
    if deid is None:
        raise RadtrustError("radtrust deid with --deid off would copy the text unchanged: choose mask or surrogate")
    summary = deid_file(input, out, deid.config, parse_str_list(columns), column_map)
    _echo(f"{describe(summary)} → {out}")


@synth_app.command("chest")
def synth_chest_cmd(
    out: Annotated[Path, typer.Option(help="cohort file (.parquet or .csv); truth goes to <stem>.truth.csv beside it")],
    n: Annotated[int, typer.Option(help="number of reports")] = 1000,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    n_sites: Annotated[int, typer.Option(help="number of sites")] = 4,
    label_noise: Annotated[float, typer.Option(help="per-report probability that the report disagrees with the truth")] = 0.0,
    bias_finding: Annotated[Optional[str], typer.Option(help="finding under-reported in one group at one site")] = None,
    bias_group: Annotated[Optional[str], typer.Option(help="group of the bias as column=value, e.g. sex=F")] = None,
    bias_site: Annotated[Optional[str], typer.Option(help="site of the bias, e.g. site_B")] = None,
    bias_rate: Annotated[float, typer.Option(help="share of the group's true positives left out or negated")] = 0.5,
) -> None:
    """Synthetic chest X-ray reports with hidden CheXpert-14 truth."""
    from radtrust.errors import ConfigError
    from radtrust.synth.chest import ChestSynthConfig, write_synth_chest

    group = None
    if bias_group is not None:
        if "=" not in bias_group:
            raise ConfigError(f"--bias-group must look like column=value, got '{bias_group}'")
        group = tuple(x.strip() for x in bias_group.split("=", 1))
    cfg = ChestSynthConfig(n=n, seed=seed, n_sites=n_sites, label_noise=label_noise, bias_finding=bias_finding, bias_group=group, bias_site=bias_site, bias_rate=bias_rate)
    cohort_path, truth_path = write_synth_chest(cfg, out)
    _echo(f"wrote {n} reports to {cohort_path} and the hidden truth to {truth_path}")


@synth_app.command("mammo-reports")
def synth_mammo_cmd(
    out: Annotated[Path, typer.Option(help="cohort file (.parquet or .csv); truth goes to <stem>.truth.csv beside it")],
    n: Annotated[int, typer.Option(help="number of reports")] = 1000,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    n_sites: Annotated[int, typer.Option(help="number of sites")] = 4,
    label_noise: Annotated[float, typer.Option(help="per-report probability that the report disagrees with the truth")] = 0.0,
) -> None:
    """Synthetic mammography reports with hidden BI-RADS, density, laterality and per-breast findings."""
    from radtrust.synth.mammo_reports import MammoReportSynthConfig, write_synth_mammo_reports

    cohort_path, truth_path = write_synth_mammo_reports(MammoReportSynthConfig(n=n, seed=seed, n_sites=n_sites, label_noise=label_noise), out)
    _echo(f"wrote {n} mammography reports to {cohort_path} and the hidden truth to {truth_path}")


@synth_app.command("mammo")
def synth_mammo_images_cmd(
    out: Annotated[Path, typer.Option(help="folder to write: images/, images.csv, images_truth.csv, reports.csv, reports_truth.csv, marks.csv, meta.json")],
    n_women: Annotated[int, typer.Option(help="number of women")] = 200,
    size: Annotated[int, typer.Option(help="image side in pixels")] = 128,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    n_sites: Annotated[int, typer.Option(help="number of sites (each with its scanner makes)")] = 3,
    max_episodes: Annotated[int, typer.Option(help="screening rounds per woman, at most")] = 3,
    dicom_share: Annotated[float, typer.Option(help="share of images written as DICOM instead of PNG")] = 0.25,
    report_label_noise: Annotated[float, typer.Option(help="per-report probability that the report disagrees with the truth")] = 0.0,
) -> None:
    """Synthetic screening mammograms (four views per exam, sites and scanner makes, density-dependent
    texture, masses and calcifications) with hidden truth and a matching report per exam."""
    from radtrust.synth.mammo_images import MammoImageSynthConfig, write_synth_mammo_images

    cfg = MammoImageSynthConfig(n_women=n_women, size=size, seed=seed, n_sites=n_sites, max_episodes=max_episodes, dicom_share=dicom_share, report_label_noise=report_label_noise)
    res = write_synth_mammo_images(cfg, out)
    m = res.meta["counts"]
    _echo(f"wrote {m['images']} images of {m['studies']} exams of {m['women']} women, their reports and the hidden truth → {out}")


@app.command("label")
def label_cmd(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="reports (.csv, .parquet, .jsonl, Open-i .tgz/folder); with --combine: label tables")],
    out: Annotated[Path, typer.Option(help="label table to write (.csv or .parquet)")],
    vocab: Annotated[str, typer.Option(help="chexpert14, chestxray14 or mammo")] = "chexpert14",
    teacher: Annotated[Optional[str], typer.Option(help="label with a teacher LLM instead of rules: 'openai' (any OpenAI-compatible endpoint)")] = None,
    base_url: Annotated[Optional[str], typer.Option(help="teacher endpoint, e.g. http://127.0.0.1:11434/v1")] = None,
    model: Annotated[Optional[str], typer.Option(help="teacher model name")] = None,
    allow_remote: Annotated[bool, typer.Option("--allow-remote", help="let report text leave this machine (non-loopback --base-url)")] = False,
    max_concurrency: Annotated[int, typer.Option(help="teacher requests in flight at once")] = 4,
    combine: Annotated[bool, typer.Option("--combine", help="combine several label tables (the inputs) into one, with confidence and agreement")] = False,
    method: Annotated[str, typer.Option(help="with --combine: dawid_skene or weighted_vote")] = "dawid_skene",
    workers: Annotated[Optional[int], typer.Option(help="rule labeler worker processes for large table files (default: all cores)")] = None,
    column_map: ColumnMap = None,
    empty_reports: EmptyReports = "error",
    quiet: Quiet = False,
) -> None:
    """Label reports: rule-based (negation and uncertainty aware), a teacher LLM, or a combination of label tables."""
    from radtrust.labeling.api import label_any

    summary = label_any(
        inputs, out, vocab=vocab, teacher=teacher, base_url=base_url, model=model, allow_remote=allow_remote,
        max_concurrency=max_concurrency, combine=combine, method=method, workers=workers,
        column_map=column_map, empty_reports=empty_reports, progress=not quiet, deid=_deid(ctx),
    )  # fmt: skip
    _echo(summary)


@app.command("train")
@config_options(TrainConfig, flags={"learning_rate": ("--lr", "--learning-rate")})
def train_cmd(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="reports (cohort file or Open-i archive)")],
    labels: Annotated[Path, typer.Option(help="label table for those reports")],
    out: Annotated[Path, typer.Option(help="run folder to create")],
    config: Annotated[Optional[Path], typer.Option(help="YAML file with any training option; flags override it")] = None,
    validation_labels: Annotated[Optional[Path], typer.Option(help="reviewed labels for some cases: their patients become the validation split")] = None,
    id_column: IdColumn = None,
    column_map: ColumnMap = None,
    empty_reports: EmptyReports = "error",
    overwrite: Annotated[bool, typer.Option(help="replace an existing run folder")] = False,
    resume: Annotated[bool, typer.Option(help="continue an interrupted run from <out>.checkpoint (same data and options; not charged twice)")] = False,
    ledger: Ledger = None,
    quiet: Quiet = False,
    *,
    overrides: dict,
) -> None:
    """Fine-tune the report classifier privately: DP-LoRA, DP linear head or DP full fine-tuning
    (or without privacy at --epsilon inf). Every training option is a flag (generated from TrainConfig)."""
    from radtrust.train.api import train_from_files

    cfg = TrainConfig.load(config, **overrides)
    clf = train_from_files(
        data,
        labels,
        cfg,
        out,
        column_map,
        id_column,
        empty_reports,
        overwrite,
        progress=not quiet,
        ledger=ledger or True,
        resume=resume,
        validation_labels=validation_labels,
        deid=_deid(ctx),
    )
    assert clf.result is not None  # fitted
    p = clf.result.privacy
    claim = "not private (ε = inf)" if p.delta is None or p.accountant is None else f"(ε = {p.epsilon:.3f}, δ = {p.delta:.2g}), {p.accountant.upper()} accountant, σ = {p.noise_multiplier:.3f}"
    _echo(f"trained on {p.n_train_records} records in {clf.result.wall_seconds:.0f} s: {claim} → {out}")


@app.command("train-images")
@config_options(ImageTrainConfig, flags={"learning_rate": ("--lr", "--learning-rate")})
def train_images_cmd(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="images: a mini-MIAS folder, a DICOM folder, an OMI-DB-style manifest or an images.csv")],
    out: Annotated[Path, typer.Option(help="run folder to create")],
    labels: Annotated[Optional[Path], typer.Option(help="label table per image (default: the truth a mini-MIAS folder carries)")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML file with any training option; flags override it")] = None,
    id_column: IdColumn = None,
    overwrite: Annotated[bool, typer.Option(help="replace an existing run folder")] = False,
    resume: Annotated[bool, typer.Option(help="continue an interrupted run from <out>.checkpoint")] = False,
    ledger: Ledger = None,
    quiet: Quiet = False,
    *,
    overrides: dict,
) -> None:
    """Train a mammography view classifier (normal vs abnormal, benign vs malignant, density) with DP-SGD
    through the same loop, engine and ledger as reports (or without privacy at --epsilon inf). Every training
    option is a flag (generated from ImageTrainConfig)."""
    from radtrust.train.api import train_from_files

    cfg = ImageTrainConfig.load(config, **overrides)
    clf = train_from_files(data, labels, cfg, out, None, id_column, "error", overwrite, progress=not quiet, ledger=ledger or True, resume=resume, deid=_deid(ctx))
    assert clf.result is not None  # fitted
    p = clf.result.privacy
    claim = (
        "not private (ε = inf)"
        if p.delta is None or p.accountant is None
        else f"(ε = {p.epsilon:.3f}, δ = {p.delta:.2g}) per {p.unit.split(' ')[0]}, {p.accountant.upper()} accountant, σ = {p.noise_multiplier:.3f}"
    )
    _echo(f"trained on {p.n_train_records} images in {clf.result.wall_seconds:.0f} s: {claim} → {out}")


@app.command("pretrain")
@config_options(TrainConfig, flags={"learning_rate": ("--lr", "--learning-rate")}, set_by_command=PRETRAIN_FIXED)
def pretrain_cmd(
    out: Annotated[Path, typer.Option(help="pretrain folder to create (use it as --warm-start)")],
    n_reports: Annotated[int, typer.Option(help="synthetic reports to generate and train on")] = 20_000,
    corpus_seed: Annotated[int, typer.Option(help="seed of the synthetic corpus")] = 0,
    vocab: Annotated[str, typer.Option(help="the teacher's vocabulary (rule labeler): chexpert14 or chestxray14; match the labels your students learn")] = "chestxray14",
    targets: Annotated[str, typer.Option(help="teacher: the rule labeler's labels of the synthetic reports; truth: the generator's hidden CheXpert-14 truth")] = "teacher",
    overwrite: Annotated[bool, typer.Option(help="replace an existing folder")] = False,
    quiet: Quiet = False,
    *,
    overrides: dict,
) -> None:
    """Fit a warm start for report students on synthetic reports only (no patient data, no privacy cost, no
    ledger charge); private runs then start from it with --warm-start. Training options as for train."""
    from radtrust.errors import ConfigError
    from radtrust.synth.pretrain import pretrain

    if targets not in ("teacher", "truth"):
        raise ConfigError(f"--targets must be teacher or truth, got '{targets}'")
    cfg = TrainConfig.load(None, **overrides)
    path = pretrain(out, cfg, n=n_reports, seed=corpus_seed, vocab=vocab, targets=targets, overwrite=overwrite, progress=not quiet)  # type: ignore[arg-type]
    _echo(f"pretrained a {cfg.method} student on {n_reports} synthetic reports (no patient data) → {path}")


@audit_app.command("fairness")
def audit_fairness_cmd(
    ctx: typer.Context,
    run: Annotated[Path, typer.Option(help="run folder from radtrust train")],
    data: Annotated[Path, typer.Option(help="reports or images with demographics/site columns")],
    out: Annotated[Path, typer.Option(help="fairness.json to write")],
    labels: Annotated[Optional[Path], typer.Option(help="gold-standard label table (images: default the truth a mini-MIAS folder carries)")] = None,
    groups: Annotated[str, typer.Option(help="comma-separated group columns; a*b for an intersection; age_band is derived from age")] = "sex,age_band,race,site",
    age_cuts: AgeCuts = "40,60,80",
    min_cell: Annotated[int, typer.Option(help="groups with fewer cases are shown as too small to judge")] = 30,
    min_events: Annotated[int, typer.Option(help="rates with fewer cases in the denominator are not judged")] = 10,
    n_bootstrap: Annotated[int, typer.Option(help="patient-clustered bootstrap resamples (>= 1000 recommended)")] = 1000,
    correction: Annotated[str, typer.Option(help="multiple-comparison correction: holm or fdr_bh")] = "holm",
    adjust_for: Annotated[str, typer.Option(help="covariates for the confounder-adjusted odds ratios ('' = skip)")] = "age,site,finding_prevalence",
    adjust_method: Annotated[str, typer.Option(help="cluster_robust (by patient) or site_random_effect")] = "cluster_robust",
    plot: Annotated[Optional[Path], typer.Option(help="forest plot PNG to write")] = None,
    plot_metric: Annotated[str, typer.Option(help="metric in the forest plot: tpr, fpr, ppv, f1, auroc, ece or underdiagnosis_rate")] = "tpr",
    plot_finding: Annotated[Optional[str], typer.Option(help="finding in the forest plot (default: the widest TPR gap)")] = None,
    report: Annotated[Optional[Path], typer.Option(help="HTML page with the fairness section")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    id_column: GoldIdColumn = None,
    column_map: ColumnMap = None,
    empty_reports: EmptyReports = "error",
    quiet: Quiet = False,
) -> None:
    """Per group and finding: TPR, FPR, PPV, F1, AUROC, ECE and underdiagnosis rate with patient-clustered
    95% intervals, gaps, corrected tests and confounder-adjusted odds ratios."""
    from radtrust.data.groups import parse_age_cuts, parse_group_spec
    from radtrust.fairness.audit import AuditConfig
    from radtrust.report.fairness import audit_files

    if correction not in ("holm", "fdr_bh"):
        raise RadtrustError(f"--correction must be holm or fdr_bh, not '{correction}'")
    if adjust_method not in ("cluster_robust", "site_random_effect"):
        raise RadtrustError(f"--adjust-method must be cluster_robust or site_random_effect, not '{adjust_method}'")
    if n_bootstrap < 1:
        raise RadtrustError("--n-bootstrap must be at least 1")
    cfg = AuditConfig(parse_group_spec(groups), parse_age_cuts(age_cuts), min_cell, min_events, n_bootstrap, seed, correction)  # type: ignore[arg-type]
    covs = parse_group_spec(adjust_for) or None
    a = audit_files(run, data, labels, out, cfg, id_column, column_map, empty_reports, covs, adjust_method, plot, plot_metric, plot_finding, report, progress=not quiet, deid=_deid(ctx))
    n_sig = int(a.tests["significant"].sum()) if len(a.tests) else 0
    _echo(
        f"audited {a.meta['n_cases']} cases of {a.meta['n_patients']} patients over {len(cfg.attributes)} group attributes: {len(a.tests)} comparisons, {n_sig} significant after {correction} → {out}"
    )


@audit_app.command("privacy")
def audit_privacy_cmd(
    ctx: typer.Context,
    run: Annotated[Path, typer.Option(help="run folder from radtrust train (train it with --canaries for the tightest audit)")],
    data: Annotated[Path, typer.Option(help="the data the run was trained on")],
    out: Annotated[Path, typer.Option(help="privacy audit JSON to write")],
    labels: Annotated[Optional[Path], typer.Option(help="the label table the run was trained on (images: default the truth the data carries)")] = None,
    shadows: Annotated[int, typer.Option(help="shadow models for the LiRA attack (even; 0 = loss attack only)")] = 4,
    alpha: Annotated[float, typer.Option(help="1 - confidence of the empirical ε lower bound")] = 0.05,
    n_bootstrap: Annotated[int, typer.Option(help="patient-clustered bootstrap resamples for the AUC intervals")] = 1000,
    seed: Annotated[int, typer.Option()] = 0,
    id_column: IdColumn = None,
    column_map: ColumnMap = None,
    empty_reports: EmptyReports = "error",
    ledger: Ledger = None,
    quiet: Quiet = False,
) -> None:
    """Membership-inference audit of a trained run: loss-threshold and LiRA shadow-model attacks on its
    training records and canaries; attack AUC, TPR at FPR 1% and 0.1% with intervals, and the empirical ε
    lower bound beside the claimed ε."""
    from radtrust.errors import build_config
    from radtrust.evaluate.privacy_audit import PrivacyAuditConfig, audit_privacy_files

    cfg = build_config(PrivacyAuditConfig, "options", shadows=shadows, alpha=alpha, n_boot=n_bootstrap, seed=seed)
    a = audit_privacy_files(run, data, labels, out, cfg, id_column, column_map, empty_reports, ledger or True, progress=not quiet, deid=_deid(ctx))
    e = a["empirical_epsilon"]
    claimed = a["claimed"]
    _echo(
        f"empirical ε ≥ {e['lower_bound']:.2f} ({e['attack']}, {e['confidence']:.0%} confidence, δ = {e['delta']:.2g}) vs claimed ε = {claimed['epsilon']}"
        f" ({claimed['accountant'] or 'no accountant'}): {'within' if e['within_claim'] else 'ABOVE'} the claim → {out}"
    )
    for name, r in a["attacks"].items():
        lo_hi = r["auc_ci95"] or [float("nan"), float("nan")]
        _echo(f"  {name:24s} AUC {r['auc']:.3f} [{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]  TPR@1%FPR {r['tpr_at_fpr_0.01']['tpr']:.3f}  TPR@0.1%FPR {r['tpr_at_fpr_0.001']['tpr']:.3f}")


@audit_app.command("labels")
def audit_labels_cmd(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="reports (cohort file or Open-i archive)")],
    labels: Annotated[Path, typer.Option(help="label table to audit")],
    out: Annotated[Path, typer.Option(help="per-cell audit file to write (.csv or .parquet; internal-only)")],
    summary: Annotated[Optional[Path], typer.Option(help="noise summary JSON (default: <out stem>.summary.json)")] = None,
    groups: Annotated[str, typer.Option(help="groups of the noise summary: columns, a*b intersections, age_band")] = "site,sex,age_band,race",
    strata: Annotated[str, typer.Option(help="group with its own noise rates (shrunk to the pooled ones); '' = one noise model")] = "site",
    pred_probs: Annotated[Optional[Path], typer.Option(help="your own out-of-sample probabilities (case_id + one column per finding) instead of cross-fitting")] = None,
    model: Annotated[str, typer.Option(help="cross-fitted model features: tfidf, encoder or tfidf+encoder")] = "tfidf",
    folds: Annotated[int, typer.Option(help="K of the patient-grouped K-fold cross-fitting")] = 5,
    threshold: Annotated[float, typer.Option(help="a label is 'likely wrong' when P(wrong) reaches this")] = 0.5,
    findings: Annotated[Optional[str], typer.Option(help="comma-separated findings to audit (default: all label columns)")] = None,
    age_cuts: AgeCuts = "40,60,80",
    n_bootstrap: Annotated[int, typer.Option(help="patient-clustered bootstrap resamples for the summary intervals")] = 1000,
    seed: Annotated[int, typer.Option()] = 0,
    id_column: IdColumn = None,
    column_map: ColumnMap = None,
    empty_reports: EmptyReports = "error",
    quiet: Quiet = False,
) -> None:
    """For every case and finding, the probability that the label is wrong (cross-fitted probabilities and
    cleanlab's confident learning), and the estimated noise per finding, site and group. Internal-only: it
    spends no privacy budget because nothing from it is released."""
    from radtrust.data.groups import parse_age_cuts, parse_group_spec
    from radtrust.errors import build_config
    from radtrust.noise.api import audit_label_files
    from radtrust.noise.audit import LabelAuditConfig
    from radtrust.noise.crossfit import CrossFitConfig
    from radtrust.train.config import parse_str_list

    cfg = build_config(
        LabelAuditConfig,
        "options",
        strata=strata or None,
        groups=parse_group_spec(groups),
        age_cuts=list(parse_age_cuts(age_cuts)),
        flag_threshold=threshold,
        n_boot=n_bootstrap,
        seed=seed,
    )
    cf = build_config(CrossFitConfig, "options", model=model, n_folds=folds, seed=seed)
    audit, out_path, summary_path = audit_label_files(
        data,
        labels,
        out,
        cfg,
        None if pred_probs else cf,
        summary,
        pred_probs,
        parse_str_list(findings),
        id_column,
        column_map,
        empty_reports,
        progress=not quiet,
        deid=_deid(ctx),
    )
    o = audit.summary["overall"]
    ci = o.get("share_cases_with_wrong_label_ci95") or [float("nan")] * 2
    _echo(
        f"estimated {o['estimated_wrong_labels']:.0f} wrong labels ({100 * o['wrong_label_rate']:.2f}% of labels); cases with a wrong label "
        f"{100 * o['share_cases_with_wrong_label']:.1f}% [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]; {o['likely_wrong']} labels likely wrong "
        f"(cleanlab flags {o['cleanlab_issues']}) → {out_path}, {summary_path} (internal-only; no privacy budget spent)"
    )
    for attr in audit.summary.get("groups_skipped", {}):
        _echo(f"  group '{attr}' skipped: the cohort has no such column")
    for attr, rows in audit.summary["by_group"].items():
        judged = [r for r in rows if r.get("share_cases_with_wrong_label") is not None]
        if len(judged) > 1:
            worst = max(judged, key=lambda r: r["share_cases_with_wrong_label"])
            lo, hi = worst["share_cases_with_wrong_label_ci95"] or [float("nan")] * 2
            _echo(f"  noisiest {attr}: {worst['group']} ({100 * worst['share_cases_with_wrong_label']:.1f}% of cases [{100 * lo:.1f}, {100 * hi:.1f}])")


@annotate_app.command("plan")
def annotate_plan_cmd(
    ctx: typer.Context,
    budget: Annotated[int, typer.Option(help="number of cases the experts will review")],
    out: Annotated[Path, typer.Option(help="annotation queue CSV to write (plus <stem>.plan.json)")],
    data: Annotated[Path, typer.Option(help="reports (cohort file or Open-i archive)")],
    labels: Annotated[Path, typer.Option(help="the label table that was audited")],
    issues: Annotated[Path, typer.Option(help="per-cell file from radtrust audit labels")],
    score: Annotated[str, typer.Option(help="expected_errors (expected wrong labels a review corrects) or active_label_cleaning (P(wrong) × how decisively a fix teaches)")] = "expected_errors",
    finding_weights: Annotated[str, typer.Option(help="worth of a correct label per finding: equal or prevalence")] = "equal",
    random_share: Annotated[float, typer.Option(help="share of the budget drawn at random, for an unbiased noise estimate")] = 0.1,
    groups: Annotated[str, typer.Option(help="groups that each get a quota")] = "site,sex,age_band,race",
    min_per_group: Annotated[int, typer.Option(help="every group gets at least this many cases (or all it has)")] = 10,
    proportional_floor: Annotated[float, typer.Option(help="every group gets at least this share of its proportional part")] = 0.25,
    findings: Annotated[Optional[str], typer.Option(help="comma-separated findings (default: all label columns)")] = None,
    age_cuts: AgeCuts = "40,60,80",
    seed: Annotated[int, typer.Option()] = 0,
    id_column: IdColumn = None,
    column_map: ColumnMap = None,
    empty_reports: EmptyReports = "error",
) -> None:
    """Which cases the experts review: a random slice, per-group quotas, then the highest expected benefit."""
    from radtrust.data.groups import parse_age_cuts, parse_group_spec
    from radtrust.errors import build_config
    from radtrust.noise.api import plan_files
    from radtrust.noise.plan import PlanConfig
    from radtrust.train.config import parse_str_list

    cfg = build_config(
        PlanConfig,
        "options",
        budget=budget,
        score=score,
        finding_weights=finding_weights,
        random_share=random_share,
        groups=parse_group_spec(groups),
        min_per_group=min_per_group,
        proportional_floor=proportional_floor,
        age_cuts=list(parse_age_cuts(age_cuts)),
        seed=seed,
    )
    plan, queue, plan_path = plan_files(data, labels, issues, out, cfg, parse_str_list(findings), id_column, column_map, empty_reports, deid=_deid(ctx))
    s = plan.summary
    _echo(
        f"{s['budget']} cases to review ({s['n_random_slice']} random, {s['n_group_quota']} for group quotas, {s['n_score']} by benefit); "
        f"expected wrong labels in the queue {s['expected_wrong_labels_in_queue']:.0f} (random choice: {s['expected_wrong_labels_if_random']:.0f}) "
        f"→ {queue}, {plan_path}"
    )


@annotate_app.command("merge")
def annotate_merge_cmd(
    corrections: Annotated[Path, typer.Argument(help="the experts' corrections: the returned queue CSV, or case_id,finding,label,annotator_id,reviewed_at rows")],
    labels: Annotated[Path, typer.Option(help="label table to correct")],
    out: Annotated[Path, typer.Option(help="corrected label table to write (its history goes to <stem>.history.csv)")],
    plan: Annotated[Optional[Path], typer.Option(help="the queue's .plan.json: estimate the noise rate from the random slice")] = None,
    history: Annotated[Optional[Path], typer.Option(help="history of earlier merges (default: <labels stem>.history.csv if present)")] = None,
    id_column: IdColumn = None,
) -> None:
    """Apply expert labels with provenance (source, annotator, time): experts win over automatic labels, and the
    table keeps its history."""
    from radtrust.noise.merge_io import merge_files

    s = merge_files(corrections, labels, out, plan, history, id_column)
    msg = f"{s['n_cases_reviewed']} cases reviewed, {s['n_cells_changed']} of {s['n_cells_reviewed']} labels changed by {s['n_annotators']} annotator(s)"
    if s.get("conflicting_cells"):
        msg += f"; {s['conflicting_cells']} labels with disagreeing experts (latest review kept)"
    est = s.get("noise_estimate") or {}
    if est.get("n_cases"):
        c = est["cases_with_changed_label"]
        msg += f"; random slice: {100 * c['share']:.1f}% of cases had a wrong label [{100 * c['ci95'][0]:.1f}, {100 * c['ci95'][1]:.1f}] (n = {est['n_cases']})"
    _echo(f"{msg} → {s['out']}, {s['history']}")


@app.command("predict")
def predict_cmd(
    ctx: typer.Context,
    run: Annotated[Path, typer.Option(help="run folder from radtrust train")],
    data: Annotated[Path, typer.Option(help="reports to score")],
    out: Annotated[Path, typer.Option(help="predictions file (.csv or .parquet)")],
    level: Annotated[str, typer.Option(help="image runs: view (default), breast, exam or woman")] = "view",
    column_map: ColumnMap = None,
    empty_reports: EmptyReports = "error",
    quiet: Quiet = False,
) -> None:
    """Write a probability and a 0/1 decision per finding for every report or image (or breast, exam, woman)."""
    from radtrust.train.api import predict_to_file

    predict_to_file(run, data, out, column_map, empty_reports, progress=not quiet, level=level, deid=_deid(ctx))
    _echo(f"wrote predictions → {out}")


@app.command("evaluate")
def evaluate_cmd(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="reports or images to score")],
    out: Annotated[Path, typer.Option(help="metrics.json to write")],
    run: Annotated[Optional[Path], typer.Option(help="run folder from radtrust train")] = None,
    predicted: Annotated[Optional[Path], typer.Option(help="instead of a run: a label table to score (e.g. the teacher's labels from radtrust label)")] = None,
    uncertain_as: Annotated[str, typer.Option(help="with --predicted: uncertain (-1) labels count as negative or positive")] = "negative",
    labels: Annotated[Optional[Path], typer.Option(help="gold-standard label table (images: default the truth a mini-MIAS folder carries)")] = None,
    id_column: GoldIdColumn = None,
    n_bootstrap: Annotated[int, typer.Option(help="patient-clustered bootstrap resamples for the intervals")] = 1000,
    column_map: ColumnMap = None,
    empty_reports: EmptyReports = "error",
    quiet: Quiet = False,
) -> None:
    """Per-finding and averaged metrics with 95% intervals, plus the run's privacy record; or the same
    metrics for a label table (--predicted), so a teacher and its students are scored alike."""
    from radtrust.evaluate.evaluate import evaluate_files

    m = evaluate_files(run, data, labels, out, id_column, column_map, empty_reports, n_bootstrap, progress=not quiet, deid=_deid(ctx), predicted=predicted, uncertain_as=uncertain_as)
    ci = m.get("ci95", {}).get("weighted_f1")
    ci_txt = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
    extra = ""
    b = m.get("breast_level", {}).get("findings", {}).get("abnormal")
    if b and b.get("auroc") is not None:
        bci = f" [{b['ci95'][0]:.3f}, {b['ci95'][1]:.3f}]" if b.get("ci95") else ""
        extra = f"; breast AUROC normal vs abnormal {b['auroc']:.3f}{bci} over {b['n']} breasts"
    _echo(f"weighted F1 {m['weighted_f1']:.3f}{ci_txt}, micro F1 {m['micro_f1']:.3f}, macro F1 {m['macro_f1']:.3f} on {m['n_cases']} cases{extra} → {out}")


@app.command("sweep")
@config_options(TrainConfig, flags={"learning_rate": ("--lr", "--learning-rate")}, set_by_command=("epsilon", "method"))
def sweep_cmd(
    ctx: typer.Context,
    data: Annotated[Path, typer.Option(help="reports (cohort file or Open-i archive)")],
    labels: Annotated[Path, typer.Option(help="label table to train on")],
    out: Annotated[Path, typer.Option(help="folder for sweep.csv, sweep.json, sweep.png and runs/")],
    epsilons: Annotated[str, typer.Option(help="comma-separated target ε values; inf = not private")] = "0.5,1,2,4,8,inf",
    methods: Annotated[str, typer.Option(help="comma-separated training methods: lora, head, full, bitfit")] = "lora,head",
    method_options: Annotated[Optional[str], typer.Option(help="per-method settings over the shared ones, e.g. 'head:epochs=20,learning_rate=0.1; lora:epochs=10'")] = None,
    gold: Annotated[Optional[Path], typer.Option(help="label table to score the held-out patients against (default: --labels)")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML file with any training option; flags override it")] = None,
    test_fraction: Annotated[float, typer.Option(help="share of patients held out for scoring")] = 0.3,
    n_bootstrap: Annotated[int, typer.Option(help="patient-clustered bootstrap resamples for the intervals")] = 1000,
    id_column: IdColumn = None,
    gold_id_column: Annotated[Optional[str], typer.Option("--gold-id-column", help=GOLD_ID_HELP)] = None,
    column_map: ColumnMap = None,
    empty_reports: EmptyReports = "error",
    overwrite: Annotated[bool, typer.Option(help="replace the results of an earlier sweep in --out")] = False,
    resume: Annotated[bool, typer.Option(help="continue a stopped sweep in --out: keep its finished runs, resume the interrupted one")] = False,
    ledger: Ledger = None,
    quiet: Quiet = False,
    *,
    overrides: dict,
) -> None:
    """Privacy–utility sweep: train and score one run per (method, ε) on the same patient split; write a table
    and a plot. Every other training option is a flag (generated from TrainConfig), shared by all runs; the
    seed also seeds the patient split."""
    from radtrust.evaluate.sweep import sweep_from_files

    cfg = TrainConfig.load(config, **overrides)
    table = sweep_from_files(
        data, labels, out, cfg, epsilons=epsilons, methods=methods, gold=gold, test_fraction=test_fraction,
        n_boot=n_bootstrap, column_map=column_map, id_column=id_column, gold_id_column=gold_id_column,
        empty_reports=empty_reports, ledger=ledger or True, progress=not quiet, overwrite=overwrite, resume=resume, deid=_deid(ctx),
        method_options=method_options,
    )  # fmt: skip
    _print_sweep(table)
    _echo(f"wrote {len(table)} runs → {out / 'sweep.csv'}, {out / 'sweep.json'}, {out / 'sweep.png'}")


def _print_sweep(table) -> None:
    from rich import box
    from rich.console import Console
    from rich.table import Table

    def num(x, fmt=".3f"):
        return "–" if x is None or x != x else "inf" if x == float("inf") else format(x, fmt)

    out = Console(highlight=False)
    if not out.is_terminal:  # piped: no terminal width to fit, keep whole rows
        out = Console(highlight=False, width=140)
    private = table[table["delta"].notna()]
    deltas = sorted(set(private["delta"]))
    caption = "every column in sweep.csv"
    if len(private):
        accountants = "/".join(sorted(set(private["accountant"].str.upper())))
        caption = (f"δ = {num(deltas[0], '.2g')}, " if len(deltas) == 1 else "") + f"{accountants} accountant; {caption}"
    t = Table(
        title="privacy–utility sweep: held-out patients", title_justify="left", caption=caption,
        caption_justify="left", box=box.SIMPLE_HEAD, pad_edge=False,
    )  # fmt: skip
    for col in ("method", "ε", "spent", "σ", "weighted F1 [95% CI]", "macro F1", "AUROC", "fit s"):
        t.add_column(col, justify="left" if col == "method" else "right", no_wrap=True)
    for r in table.to_dict("records"):
        wf1 = f"{num(r['weighted_f1'])} [{num(r['weighted_f1_ci_low'])}, {num(r['weighted_f1_ci_high'])}]"
        t.add_row(
            r["method"], num(r["epsilon_target"], "g"), num(r["epsilon_spent"]), num(r["noise_multiplier"], ".2f"), wf1,
            num(r["macro_f1"]), num(r["macro_auroc"]), num(r["fit_wall_seconds"], ".0f"),
        )  # fmt: skip
    out.print(t)


@budget_app.command("set")
def budget_set_cmd(
    data: Annotated[Path, typer.Argument(help="reports (cohort file or Open-i archive); copies in any format share the budget")],
    epsilon: Annotated[float, typer.Option(help="total ε for every run on these reports together")],
    delta: Annotated[Optional[float], typer.Option(help="total δ; default 1/N for the N reports")] = None,
    label: Annotated[Optional[str], typer.Option(help="a name for the dataset in the ledger (never report text)")] = None,
    ledger: Ledger = None,
    column_map: ColumnMap = None,
    empty_reports: EmptyReports = "error",
) -> None:
    """Set a dataset's total privacy budget; runs compose by basic composition (ε and δ add up)."""
    from radtrust.privacy.ledger import as_ledger, set_file_budget

    target = as_ledger(ledger)
    b = set_file_budget(data, epsilon, delta, label=label, column_map=column_map, empty_reports=empty_reports, ledger=target)
    _echo(f"budget of dataset {b.fingerprint[:12]}: ε = {b.epsilon:g}, δ = {b.delta:.3g} → {target.path}")


@budget_app.command("show")
def budget_show_cmd(
    data: Annotated[Path, typer.Argument(help="reports (cohort file or Open-i archive)")],
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    ledger: Ledger = None,
    column_map: ColumnMap = None,
    empty_reports: EmptyReports = "error",
) -> None:
    """Every charge on a dataset (run, time, ε, δ, accountant, method, config, status) and the totals."""
    import json

    from radtrust.privacy.ledger import file_budget_status

    st = file_budget_status(data, column_map=column_map, empty_reports=empty_reports, ledger=ledger)
    if as_json:
        typer.echo(json.dumps(st.to_dict(), indent=2))
    else:
        _print_budget(st)


def _print_budget(st) -> None:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    def num(x):
        return "–" if x is None else "inf" if x == float("inf") else f"{x:.4g}"

    out = Console(highlight=False)
    if not out.is_terminal:  # piped: no terminal width to fit, keep whole rows
        out = Console(highlight=False, width=140)
    title = f"dataset {st.fingerprint[:12]} in {escape(st.ledger)}"
    if st.charges:
        table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("run", "started (UTC)", "ε", "δ", "accountant", "method", "config", "status", "spent ε"):
            numeric = col in ("ε", "δ", "spent ε")
            table.add_column(col, justify="right" if numeric else "left", no_wrap=numeric or col == "status", overflow="fold")
        for c in st.charges:
            started = c.started_at.replace("T", " ").rstrip("Z")
            table.add_row(
                c.run_id[:12], started, num(c.epsilon), num(c.delta), c.accountant or "–", c.method or "–",
                (c.config_hash or "–")[:8], c.status, num(c.spent_epsilon),
            )  # fmt: skip
        out.print(table)
    else:
        out.print(f"{title}: no runs charged")
    for c in st.charges:
        if c.status == "void":
            out.print(f"void {c.run_id[:12]} (not counted: it failed before its first step): {escape(c.note or '')}")
    eps, delta = st.spent
    n_void = sum(not c.counts for c in st.charges)
    out.print(f"spent (basic composition): ε = {num(eps)}, δ = {num(delta)} over {len(st.charges) - n_void} run(s)" + (f"; {n_void} void" if n_void else ""))
    if st.budget is None:
        out.print("budget: none set (radtrust budget set DATA --epsilon E)")
    else:
        rem = st.remaining
        out.print(f"budget: ε = {num(st.budget.epsilon)}, δ = {num(st.budget.delta)}; remaining: ε = {num(rem[0])}, δ = {num(rem[1])}")


@app.command("demo")
def demo_cmd(
    out: Annotated[Path, typer.Option(help="folder for the cohort, labels, runs, report.html and metrics.json")] = Path("demo_out"),
    n: Annotated[int, typer.Option(help="number of synthetic reports")] = 1500,
    seed: Annotated[int, typer.Option()] = 0,
    encoder: Annotated[str, typer.Option(help="all-MiniLM-L6-v2 (bundled), or 'tiny' (random, for smoke tests)")] = "all-MiniLM-L6-v2",
    mammo_women: Annotated[int, typer.Option(help="women in the synthetic mammography part (0 = skip it)")] = 100,
    quiet: Quiet = False,
) -> None:
    """Synthesize → label → train private (ε = 8) and non-private → evaluate → HTML report, for chest X-ray
    reports and for screening mammograms."""
    from radtrust.demo import run_demo

    res = run_demo(out, n=n, seed=seed, encoder=encoder, progress=not quiet, mammo_women=mammo_women)
    for name, m in res.items():
        typer.echo(f"{name:12s} weighted F1 {m['weighted_f1']:.3f}  ε = {m['privacy']['epsilon'] if isinstance(m['privacy']['epsilon'], str) else round(m['privacy']['epsilon'], 3)}")
    typer.echo(f"report: {Path(out) / 'report.html'}")


def _say_what_was_scrubbed(deid) -> None:
    """Which de-identification engine ran on the text the command read, and what it replaced (counts only)."""
    if deid is None:
        return
    from radtrust.deid.door import describe

    summary = deid.take_summary()
    if summary is not None:
        _echo(describe(summary))


def _click_exceptions() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """click's usage-error and abort classes, and typer's own copies of them (typer 0.16+ vendors click as
    ``typer._click`` and raises those, which click's classes do not catch)."""
    import click

    usage: list[type[BaseException]] = [click.ClickException]
    abort: list[type[BaseException]] = [click.exceptions.Abort]
    try:
        from typer._click import exceptions as vendored
    except ImportError:
        pass
    else:
        usage.append(vendored.ClickException)
    if isinstance(getattr(typer, "Abort", None), type):
        abort.append(typer.Abort)
    return tuple(usage), tuple(abort)


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM (a scheduler's preemption, ``kill``) raise :class:`Interrupted`, which reaches
    this door with what the interrupted step kept (a charge settled, a checkpoint to resume) instead of
    the process vanishing mid-step or typer's silent exit code."""
    import signal

    def stop(signum, frame):  # noqa: ARG001 - signal handler signature
        raise Interrupted()

    try:
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (an embedding application): leave its handlers alone
        pass


def main() -> None:
    """Console-script entry point: one-line errors and exit code 2 for user mistakes, usage errors
    (an unknown option, a bad value, a missing ``--out``) included."""
    usage_errors, aborts = _click_exceptions()
    _stop_on_signals()
    try:
        command: dict = {}  # what the global options made for this command (its de-identifier)
        rv = app(standalone_mode=False, obj=command)
        _say_what_was_scrubbed(command.get("deid"))
    except RadtrustError as e:
        msg = as_flags(" ".join(str(e).split()))
        print(f"radtrust: error: {msg}", file=sys.stderr)
        sys.exit(2)
    except (Interrupted, KeyboardInterrupt, *aborts) as e:  # type: ignore[misc]  # mypy does not read a starred tuple of exception classes
        # Every output is written whole or not at all, so none is half-written; a training run says what it kept.
        kept = as_flags(" ".join(str(e).split())) if isinstance(e, (Interrupted, KeyboardInterrupt)) else ""
        print(f"radtrust: interrupted; {kept or 'no output was written or replaced'}", file=sys.stderr)
        sys.exit(130)
    except OSError as e:
        # An output the system refuses late (a disk that fills, a folder made read-only mid-run): one line
        # naming the file; the write was to a temporary file, so nothing half-written is left.
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"radtrust: error: {where}{e.strerror or type(e).__name__}", file=sys.stderr)
        sys.exit(2)
    except usage_errors as e:
        msg = " ".join(e.format_message().split())  # type: ignore[attr-defined]
        print(f"radtrust: error: {msg} (see radtrust --help)", file=sys.stderr)
        sys.exit(2)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
