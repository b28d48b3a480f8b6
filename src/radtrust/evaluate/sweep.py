"""Privacy–utility sweep (what ``radtrust sweep`` calls): train one run per (method, ε) on the same training
patients, score each on the same held-out patients, and write the table and the privacy–utility curve.

Every run goes through :func:`~radtrust.train.api.fit_and_save`, so each is charged to the privacy ledger
exactly like a ``radtrust train`` run (basic composition: a sweep of k runs spends the sum of their ε).
"""

from __future__ import annotations

import json
import math
import shutil
import time
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from radtrust.data.fingerprint import data_fingerprint, file_fingerprint
from radtrust.data.io import check_writable_folder, write_json, write_table
from radtrust.data.readers import read_cohort, read_labels
from radtrust.data.schema import Cohort, CohortScrubber, LabelTable
from radtrust.data.splits import patient_split
from radtrust.errors import ConfigError, InputError, PrivacyError
from radtrust.evaluate.evaluate import score_against_gold
from radtrust.privacy.ledger import PrivacyLedger, resolve_ledger
from radtrust.progress import progress_bar
from radtrust.train.api import classifier_for, fit_and_save
from radtrust.train.config import TrainConfig

#: Training methods a sweep can compare, in the order TrainConfig declares them.
METHODS: tuple[str, ...] = typing.get_args(TrainConfig.model_fields["method"].annotation)
DEFAULT_EPSILONS = "0.5,1,2,4,8,inf"
#: Columns of ``sweep.csv``, in order.
COLUMNS = (
    "method", "epsilon_target", "epsilon_spent", "delta", "accountant", "noise_multiplier",
    "weighted_f1", "weighted_f1_ci_low", "weighted_f1_ci_high", "micro_f1", "macro_f1", "macro_auroc",
    "n_train", "n_test", "fit_wall_seconds", "run_dir",
)  # fmt: skip


def parse_epsilons(value: str | Iterable[float | str]) -> list[float]:
    """``"0.5,1,2,4,8,inf"`` (or a list) → sorted distinct target ε values; each must be > 0 or ``inf``.

    Sorted ascending so the non-private run comes last: on a dataset with a budget, the private runs are
    charged (and finish) before the ledger refuses ε = inf.
    """
    items = [x.strip() for x in value.split(",")] if isinstance(value, str) else list(value)
    out: set[float] = set()
    for item in items:
        if isinstance(item, str) and not item:
            continue
        try:
            eps = float(str(item).replace("∞", "inf"))
        except ValueError:
            raise ConfigError(f"epsilons: '{item}' is not a number (give e.g. 0.5,1,2,4,8,inf)") from None
        if math.isnan(eps) or eps <= 0:
            raise ConfigError(f"epsilons: {item} is not allowed: each ε must be > 0 (or inf for no privacy)")
        out.add(eps)
    if not out:
        raise ConfigError("epsilons: none given (give e.g. 0.5,1,2,4,8,inf)")
    return sorted(out)


def parse_methods(value: str | Iterable[str]) -> list[str]:
    """``"lora,head"`` (or a list) → distinct method names in the order given, each one of :data:`METHODS`."""
    items = [x.strip() for x in value.split(",")] if isinstance(value, str) else [str(x).strip() for x in value]
    out: list[str] = []
    for m in items:
        if not m:
            continue
        if m not in METHODS:
            raise ConfigError(f"methods: unknown method '{m}' (choose from {', '.join(METHODS)})")
        if m not in out:
            out.append(m)
    if not out:
        raise ConfigError(f"methods: none given (choose from {', '.join(METHODS)})")
    return out


def parse_method_options(value: str | dict | None) -> dict[str, dict]:
    """Per-method settings: ``"head:epochs=20,learning_rate=0.1; lora:epochs=10"`` (or the same as a dict)
    → ``{"head": {"epochs": "20", "learning_rate": "0.1"}, "lora": {"epochs": "10"}}``. Methods differ in
    what suits them (a linear head wants more epochs and a larger rate than adapters), so a fair comparison
    gives each its own; values are checked as the run's TrainConfig is built."""
    if not value:
        return {}
    if isinstance(value, dict):
        items = {str(m): dict(opts) for m, opts in value.items()}
    else:
        items = {}
        for part in value.split(";"):
            if not part.strip():
                continue
            if ":" not in part:
                raise ConfigError(f"method_options: '{part.strip()}' should look like method:option=value,option=value")
            method, opts = part.split(":", 1)
            pairs = [o.split("=", 1) for o in opts.split(",") if o.strip()]
            if any(len(p) != 2 or not p[0].strip() for p in pairs):
                raise ConfigError(f"method_options: '{opts.strip()}' should be option=value pairs separated by commas")
            items[method.strip()] = {k.strip(): v.strip() for k, v in pairs}
    for method, settings in items.items():
        if method not in METHODS:
            raise ConfigError(f"method_options: unknown method '{method}' (choose from {', '.join(METHODS)})")
        fixed = {"method", "epsilon"} & set(settings)
        if fixed:
            raise ConfigError(f"method_options: {method} sets '{fixed.pop()}', which the sweep sets per run")
    return items


def _eps_name(eps: float) -> str:
    return "inf" if math.isinf(eps) else f"{eps:g}"


def _json_num(x):
    """inf as the string "inf" (as in ``privacy.json``); NaN as null, so ``sweep.json`` is strict JSON."""
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


def _row(method: str, eps: float, clf, metrics: dict, n_train: int, wall: float, run_dir: Path) -> dict:
    p = clf.result.privacy
    ci = metrics.get("ci95", {}).get("weighted_f1") or [math.nan, math.nan]
    return {
        "method": method,
        "epsilon_target": eps,
        "epsilon_spent": float(p.epsilon),
        "delta": p.delta,
        "accountant": p.accountant,
        "noise_multiplier": float(p.noise_multiplier),
        "weighted_f1": metrics["weighted_f1"],
        "weighted_f1_ci_low": ci[0],
        "weighted_f1_ci_high": ci[1],
        "micro_f1": metrics["micro_f1"],
        "macro_f1": metrics["macro_f1"],
        "macro_auroc": metrics.get("macro_auroc"),
        "n_train": n_train,
        "n_test": metrics["n_cases"],
        "fit_wall_seconds": round(wall, 2),
        "run_dir": str(run_dir),
    }


def _write_outputs(rows: list[dict], out: Path, meta: dict, status: str) -> None:
    """``sweep.csv``, ``sweep.json`` and (with at least one row) ``sweep.png``, each replaced atomically."""
    from radtrust.plots import privacy_utility_plot  # loads matplotlib: imported on first use

    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    write_table(frame, out / "sweep.csv")
    write_json({**meta, "status": status, "rows": [{k: _json_num(v) for k, v in r.items()} for r in rows]}, out / "sweep.json")
    if rows:
        privacy_utility_plot(rows, out / "sweep.png")


def run_sweep(
    cohort: Cohort,
    train_labels: LabelTable,
    gold: LabelTable,
    epsilons: Sequence[float] | str,
    methods: Sequence[str] | str,
    base_config: TrainConfig,
    out: str | Path,
    test_fraction: float = 0.3,
    seed: int | None = None,
    n_boot: int = 1000,
    ledger: str | Path | PrivacyLedger | bool | None = True,
    fingerprint: str | None = None,
    progress: bool = False,
    overwrite: bool = False,
    resume: bool = False,
    method_options: str | dict | None = None,
) -> pd.DataFrame:
    """Train and score one run per (ε, method); return the table (one row per run, :data:`COLUMNS`).

    ``method_options`` (see :func:`parse_method_options`) gives a method its own settings over
    ``base_config``, e.g. more epochs for the head; they are recorded in ``sweep.json``.

    The cohort is split by patient (:func:`~radtrust.data.splits.patient_split`, ``seed`` defaulting to
    ``base_config.seed``): every run trains on the same training patients (their cases with a
    ``train_labels`` row) and is scored on the same ``test_fraction`` of patients against ``gold``, with a
    patient-clustered bootstrap of ``n_boot`` resamples for the 95% interval. Labels of the test
    patients are never trained on; each run picks its thresholds on its own validation split of the
    training patients.

    Runs go in order of ε (ascending, inf last), all methods at one ε before the next, and land in
    ``out/runs/<method>_eps<ε>``. ``sweep.csv``, ``sweep.json`` and ``sweep.png`` are rewritten after every
    run, so a sweep that stops keeps what it finished. An ``out`` that already holds a sweep's results is
    refused unless ``overwrite`` (then the old results are removed once every check has passed, so the
    folder never mixes two sweeps) or ``resume``: a stopped or interrupted sweep with the same data, split
    and settings continues, keeping its finished rows and resuming its interrupted run from its checkpoint
    under the same ledger charge. An ``out`` that is a file or cannot be written is refused up front.
    Every run's configuration is checked before the first is charged (:meth:`Classifier.preflight`:
    encoder, split, an ε the noise can reach), so a bad ε at the end of the list costs no budget first.

    ``ledger``: as in :func:`~radtrust.train.api.train_from_files` (True: the default ledger; a path or
    :class:`PrivacyLedger`; False/None: none). Every run is charged to ``fingerprint`` (default: the
    content of the whole ``cohort``, the dataset a budget is set on), before it starts. A run the ledger
    refuses (:class:`~radtrust.errors.PrivacyError`, e.g. ε = inf on a dataset with a budget) stops the
    sweep with that error, after the finished rows are written; planned charges are not checked up front.
    """
    out = check_sweep_out(out, overwrite, resume)
    eps_list = parse_epsilons(epsilons)
    method_list = parse_methods(methods)
    per_method = parse_method_options(method_options)
    unused = [m for m in per_method if m not in method_list]
    if unused:
        raise ConfigError(f"method_options: '{unused[0]}' is not among the methods swept ({', '.join(method_list)})")
    seed = base_config.seed if seed is None else seed
    # every configuration is built before any training, so a bad option fails in seconds, not hours
    plan = [(m, eps, TrainConfig.build(base_config.model_dump() | per_method.get(m, {}) | {"method": m, "epsilon": eps}, origin=f"sweep ({m})")) for eps in eps_list for m in method_list]

    train_idx, test_idx = patient_split(cohort, test_fraction, seed)
    train, test = cohort.subset(train_idx), cohort.subset(test_idx)
    labelled = set(train_labels.case_ids)
    has_label = np.array([c in labelled for c in train.case_ids], dtype=bool)
    if not has_label.any():
        raise InputError(f"{train_labels.origin}: none of the training patients' cases has labels")
    if not has_label.all():
        train = train.subset(has_label)
    gold_ids = set(gold.case_ids)
    if not any(c in gold_ids for c in test.case_ids):
        raise InputError(f"{gold.origin}: none of the {len(test)} held-out test cases has a gold label")
    learned = base_config.findings or train_labels.findings
    if not any(f in gold.findings for f in learned):
        raise InputError(f"{gold.origin}: no finding in common with the findings to learn ({', '.join(learned[:5])}...)")

    privacy_ledger = resolve_ledger(ledger)
    if privacy_ledger is not None and fingerprint is None:
        fingerprint = data_fingerprint(cohort)
    meta = {
        "epsilons": [_json_num(e) for e in eps_list],
        "methods": method_list,
        "split": {
            "by": "patient",
            "seed": seed,
            "test_fraction": test_fraction,
            "n_train": len(train),
            "n_test": len(test),
            "n_train_patients": int(len(np.unique(train.patient_ids))),
            "n_test_patients": int(len(np.unique(test.patient_ids))),
        },
        "n_bootstrap": n_boot,  # the record key predates the parameter name; kept so older sweeps still resume
        "data_fingerprint": fingerprint or data_fingerprint(cohort),
        "train_label_source": train_labels.source,
        "gold_source": gold.source,
        "ledger": str(privacy_ledger.path.resolve()) if privacy_ledger is not None else None,
        # method and ε are per row; the rest is what every run shares
        "base_config": {k: _json_num(v) for k, v in base_config.model_dump().items() if k not in ("method", "epsilon")},
    }
    if per_method:  # absent without any, so sweeps recorded before per-method settings still resume
        meta["method_options"] = {m: {k: _json_num(v) for k, v in cfg.model_dump().items() if k in per_method[m]} for m, _, cfg in plan if m in per_method}

    for _, _, cfg in plan:
        classifier_for(cfg).preflight(train, train_labels)
    rows: list[dict] = _finished_rows(out, meta) if resume else []
    if overwrite:
        _remove_old_results(out)
    done = {(r["method"], float(r["epsilon_target"])) for r in rows}
    with progress_bar("sweep", len(plan), progress) as bar:
        bar.advance(len(done))
        for method, eps, cfg in plan:
            if (method, eps) in done:
                continue
            bar.update(status=f"{method} ε = {_eps_name(eps)}")
            run_dir = out / "runs" / f"{method}_eps{_eps_name(eps)}"
            try:
                t0 = time.perf_counter()
                clf = fit_and_save(train, train_labels, cfg, run_dir, overwrite=True, progress=progress, ledger=privacy_ledger, fingerprint=fingerprint, resume=None)
                wall = time.perf_counter() - t0
                metrics = score_against_gold(clf, test, gold, n_boot=n_boot, seed=seed)
            except BaseException as e:
                where = f"{method} at ε = {_eps_name(eps)}"
                try:
                    _write_outputs(rows, out, {**meta, "stopped_at": {"method": method, "epsilon": _json_num(eps)}}, "stopped")
                except Exception:  # noqa: BLE001 - the error that stopped the sweep is the one to report
                    pass
                if isinstance(e, PrivacyError):
                    raise PrivacyError(f"sweep stopped at {where}: {e} ({len(rows)} finished run(s) written to {out / 'sweep.csv'})") from e
                raise
            rows.append(_row(method, eps, clf, metrics, len(train), wall, run_dir))
            _write_outputs(rows, out, meta, "running" if len(rows) < len(plan) else "complete")
            bar.advance()
    return pd.DataFrame(rows, columns=list(COLUMNS))


#: What a sweep writes in its folder; their presence means the folder holds a sweep's results.
SWEEP_OUTPUTS = ("sweep.csv", "sweep.json", "sweep.png", "runs")


def check_sweep_out(out: str | Path, overwrite: bool, resume: bool = False) -> Path:
    """The sweep folder, refused before anything is read if it is a file, cannot be written, or holds an
    earlier sweep's results and neither ``overwrite`` nor ``resume`` is given."""

    if overwrite and resume:
        raise ConfigError("`overwrite` replaces an earlier sweep and `resume` continues it: pass one of them")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: is a file; `out` names the sweep's folder")
    found = [name for name in SWEEP_OUTPUTS if (out / name).exists()]
    if found and not (overwrite or resume):
        raise InputError(f"{out}: holds an earlier sweep ({', '.join(found)}); choose a new `out`, pass `resume` to continue it or `overwrite` to replace it")
    if resume and not (out / "sweep.json").exists():
        raise InputError(f"{out}: no sweep.json of an earlier sweep to resume")
    check_writable_folder(out)
    return out


#: What must match for a sweep to be continued: the same data, split, grid and shared settings.
_RESUME_KEYS = ("epsilons", "methods", "split", "n_bootstrap", "data_fingerprint", "train_label_source", "gold_source", "base_config", "method_options")


def _finished_rows(out: Path, meta: dict) -> list[dict]:
    """The rows an earlier sweep in ``out`` finished, if it was run with the same data and settings."""
    path = out / "sweep.json"
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        rows = list(stored["rows"])
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{path}: damaged; cannot resume this sweep (pass `overwrite` to start over)") from None
    fresh = json.loads(json.dumps(meta, default=str))
    diff = [k for k in _RESUME_KEYS if stored.get(k) != fresh.get(k)]
    if diff:
        raise InputError(f"{path}: the earlier sweep had a different {', '.join(diff)}; resume with the same data and options, or pass `overwrite`")
    # sweep.json writes inf as "inf" and NaN as null (strict JSON); the table holds them as floats
    rows = [{k: math.inf if v == "inf" else math.nan if v is None else v for k, v in r.items()} for r in rows]
    for r in rows:
        if not Path(r["run_dir"]).is_dir():
            raise InputError(f"{r['run_dir']}: a finished run of this sweep is missing; pass `overwrite` to start over")
    return rows


def _remove_old_results(out: Path) -> None:
    for name in SWEEP_OUTPUTS:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def sweep_from_files(
    data: str | Path,
    labels: str | Path,
    out: str | Path,
    config: TrainConfig,
    epsilons: Sequence[float] | str = DEFAULT_EPSILONS,
    methods: Sequence[str] | str = "lora,head",
    gold: str | Path | None = None,
    test_fraction: float = 0.3,
    n_boot: int = 1000,
    column_map=None,
    id_column: str | None = None,
    gold_id_column: str | None = None,
    empty_reports: str = "error",
    ledger: str | Path | PrivacyLedger | bool | None = True,
    progress: bool = False,
    overwrite: bool = False,
    resume: bool = False,
    *,
    deid: CohortScrubber | None,
    method_options: str | dict | None = None,
) -> pd.DataFrame:
    """Read the cohort (its text through ``deid``), the training labels and the gold labels (default: the training label file) and run
    :func:`run_sweep`. Runs are charged to the whole file's content fingerprint, as ``radtrust train``
    charges them, so a budget set with ``radtrust budget set DATA`` covers the sweep too."""
    eps_list, method_list = parse_epsilons(epsilons), parse_methods(methods)  # fail before reading data
    parse_method_options(method_options)
    check_sweep_out(out, overwrite, resume)
    cohort = read_cohort(data, column_map, empty_reports, deid=deid)
    train_labels = read_labels(labels, id_column=id_column)
    gold_table = train_labels if gold is None else read_labels(gold, id_column=gold_id_column)
    privacy_ledger = resolve_ledger(ledger)
    fingerprint = file_fingerprint(data, column_map, read=cohort) if privacy_ledger is not None else None
    return run_sweep(
        cohort, train_labels, gold_table, eps_list, method_list, config, out, test_fraction=test_fraction,
        n_boot=n_boot, ledger=privacy_ledger, fingerprint=fingerprint, progress=progress, overwrite=overwrite, resume=resume,
        method_options=method_options,
    )  # fmt: skip
