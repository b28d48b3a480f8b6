"""The privacy-budget ledger: one SQLite file that records the (ε, δ) of every training run per dataset and
refuses a run that would take a dataset past its budget.

Runs compose by basic (sequential) composition (Dwork, McSherry, Nissim & Smith, 2006; Dwork & Roth, 2014,
Thm. 3.16): k runs that are (ε_i, δ_i)-DP on the same records are together (Σε_i, Σδ_i)-DP. Advanced or
RDP composition would often give less, but needs the runs' mechanisms; basic composition needs only each
run's own claim, holds for any mix of runs, accountants and mechanisms, and can only overstate the total.

A dataset is known only by its content fingerprint (:mod:`radtrust.data.fingerprint`); the ledger holds
no report text and no patient identifiers.
"""

from __future__ import annotations

import math
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from radtrust.data.fingerprint import file_fingerprint
from radtrust.data.readers import read_cohort
from radtrust.errors import InputError, PrivacyError

SCHEMA_VERSION = 2  # 2 added status 'void' and the column 'note'; a version-1 ledger is upgraded in place
#: Environment variable naming the ledger file; ``--ledger`` overrides it.
LEDGER_ENV = "RADTRUST_LEDGER"
#: ``charged``: the run was charged and has not reported back (running, killed or failed; it still
#: counts). ``finished``: training ended and ``spent_epsilon`` holds the ε it reports. ``failed``: the
#: caller says the run failed; the charge still counts. ``void``: the run failed before its first training
#: step, so the DP mechanism never ran and nothing computed from the records was released; the charge is
#: kept on record with the reason (``note``) but no longer counts (see :meth:`PrivacyLedger.void`).
STATUSES = ("charged", "finished", "failed", "void")
#: Totals may exceed a budget by this relative amount: float rounding of a sum, never a real overspend.
_REL_TOL = 1e-9
_BUSY_TIMEOUT_S = 60

# ε = inf (a non-private run) is stored as SQLite's own REAL Infinity, so ``SUM(epsilon)`` in plain SQL is
# inf too; such a run claims no δ, stored as NULL and summed as 0.
_SCHEMA = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    """CREATE TABLE datasets (
        fingerprint TEXT PRIMARY KEY,
        epsilon_budget REAL NOT NULL,
        delta_budget REAL NOT NULL,
        label TEXT,
        set_at TEXT NOT NULL
    )""",
    """CREATE TABLE charges (
        run_id TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        epsilon REAL NOT NULL,
        delta REAL,
        accountant TEXT,
        method TEXT,
        config_hash TEXT,
        started_at TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('charged', 'finished', 'failed', 'void')),
        finished_at TEXT,
        spent_epsilon REAL,
        note TEXT
    )""",
    "CREATE INDEX charges_by_fingerprint ON charges (fingerprint, started_at)",
)


def default_ledger_path() -> Path:
    """``$RADTRUST_LEDGER`` if set, else ``.radtrust/privacy_ledger.sqlite`` in the project folder (cwd)."""
    env = os.environ.get(LEDGER_ENV, "").strip()
    return Path(env).expanduser() if env else Path.cwd() / ".radtrust" / "privacy_ledger.sqlite"


def planned_charge(epsilon: float, delta: float | None, n_records: int) -> tuple[float, float | None]:
    """The (ε, δ) a training run on ``n_records`` records will claim, δ resolved exactly as training does
    (:func:`~radtrust.privacy.accountant.default_delta` when None). A non-private run is ``(inf, None)``."""
    if math.isinf(epsilon) and epsilon > 0:
        return math.inf, None
    from radtrust.privacy.accountant import ACCOUNTANTS, check_privacy_target  # loads opacus, scipy, torch: imported on first use

    # the accountant does not enter δ; any valid name gets the same validation and default
    return float(epsilon), check_privacy_target(float(epsilon), delta, n_records, ACCOUNTANTS[0])


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_float(x: float | None) -> float | str | None:
    return "inf" if x is not None and math.isinf(x) else x


def _fmt(x: float | None) -> str:
    return "–" if x is None else "inf" if math.isinf(x) else f"{x:.4g}"


def _over(total: float, budget: float) -> bool:
    return total > budget * (1 + _REL_TOL)


@dataclass(frozen=True)
class Budget:
    """A dataset's total privacy budget."""

    fingerprint: str
    epsilon: float
    delta: float
    label: str | None
    set_at: str

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Charge:
    """One training run's claim on a dataset: the planned (ε, δ), charged before the run starts."""

    run_id: str
    fingerprint: str
    epsilon: float
    delta: float | None
    accountant: str | None
    method: str | None
    config_hash: str | None
    started_at: str
    status: str = "charged"
    finished_at: str | None = None
    #: ε the finished run reports; the charge itself stays at ``epsilon`` (no refunds).
    spent_epsilon: float | None = None
    #: why a charge was voided (never report text: the reason names files and settings).
    note: str | None = None

    @property
    def counts(self) -> bool:
        """Whether the charge counts toward the dataset's spent budget (every status but ``void``)."""
        return self.status != "void"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["epsilon"], d["spent_epsilon"] = _json_float(self.epsilon), _json_float(self.spent_epsilon)
        return d


@dataclass(frozen=True)
class BudgetStatus:
    """One consistent view of a dataset in a ledger: its budget (None if never set), every charge, totals."""

    ledger: str
    fingerprint: str
    budget: Budget | None
    charges: list[Charge] = field(default_factory=list)

    @property
    def spent(self) -> tuple[float, float]:
        return _total(self.charges)

    @property
    def remaining(self) -> tuple[float, float] | None:
        if self.budget is None:
            return None
        eps, delta = self.spent
        return max(0.0, self.budget.epsilon - eps), max(0.0, self.budget.delta - delta)

    def to_dict(self) -> dict:
        eps, delta = self.spent
        rem = self.remaining
        return {
            "ledger": self.ledger,
            "fingerprint": self.fingerprint,
            "composition": "basic: sum of epsilon, sum of delta",
            "budget": None if self.budget is None else self.budget.to_dict(),
            "spent": {"epsilon": _json_float(eps), "delta": delta},
            "remaining": None if rem is None else {"epsilon": rem[0], "delta": rem[1]},
            "charges": [c.to_dict() for c in self.charges],
        }


def _total(charges: Iterable[Charge]) -> tuple[float, float]:
    charges = [c for c in charges if c.counts]
    return math.fsum(c.epsilon for c in charges), math.fsum(c.delta or 0.0 for c in charges)


class PrivacyLedger:
    """The SQLite ledger at ``path`` (default: :func:`default_ledger_path`).

    Every operation opens its own connection and transaction, so one object may be shared by threads and
    processes. Writes run under ``BEGIN IMMEDIATE``: two runs started at the same moment are serialised,
    and the second sees the first's charge before it checks the budget. ``synchronous=FULL`` makes a
    committed charge survive a crash or SIGKILL of the run that made it.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_ledger_path()

    def __repr__(self) -> str:
        return f"PrivacyLedger({str(self.path)!r})"

    # ---- connection ----------------------------------------------------------------------------
    @contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection | None]:
        """A transaction on the ledger; yields None for a read of a ledger that does not exist yet."""
        if self.path.is_dir():
            raise InputError(f"{self.path}: is a folder; `ledger` must name the ledger file")
        if not write and not self.path.exists():
            yield None
            return
        try:
            if write:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            raise InputError(f"{self.path}: cannot open the privacy ledger ({type(e).__name__}: {e})") from None
        with closing(con):
            try:
                con.execute("PRAGMA synchronous=FULL")
                con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                ready = self._schema(con, create=write)
            except sqlite3.Error as e:
                raise self._db_error(e) from None
            try:
                yield con if ready else None
                con.execute("COMMIT")
            except sqlite3.Error as e:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise self._db_error(e) from None
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: it creates the schema when missing, so there is always a connection."""
        with self._transaction(write=True) as con:
            assert con is not None
            yield con

    def _db_error(self, e: sqlite3.Error) -> Exception:
        if isinstance(e, sqlite3.OperationalError) and "locked" in str(e):
            return PrivacyError(f"{self.path}: the privacy ledger stayed locked by another run for {_BUSY_TIMEOUT_S} s; try again")
        if isinstance(e, sqlite3.DatabaseError):
            return InputError(f"{self.path}: not a usable radtrust privacy ledger ({type(e).__name__}: {e})")
        return e  # pragma: no cover - sqlite3.Error that is not a DatabaseError: a bug, keep it visible

    def _schema(self, con: sqlite3.Connection, create: bool) -> bool:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "schema_version" not in tables:
            if tables:
                raise InputError(f"{self.path}: an SQLite file that is not a radtrust privacy ledger")
            if not create:
                return False
            for stmt in _SCHEMA:
                con.execute(stmt)
            con.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            return True
        version = con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
        if version == 1:
            self._upgrade_from_1(con)
            version = SCHEMA_VERSION
        if version != SCHEMA_VERSION:
            raise InputError(f"{self.path}: privacy ledger schema version {version}; this radtrust reads version {SCHEMA_VERSION}")
        return True

    @staticmethod
    def _upgrade_from_1(con: sqlite3.Connection) -> None:
        """Version 1 -> 2 inside the open transaction: SQLite cannot change a CHECK constraint in place, so
        the charges table is rebuilt with every row copied (a crash mid-way rolls the whole upgrade back)."""
        con.execute("ALTER TABLE charges RENAME TO charges_v1")
        con.execute("DROP INDEX IF EXISTS charges_by_fingerprint")
        for stmt in _SCHEMA[2:]:
            con.execute(stmt)
        cols = "run_id, fingerprint, epsilon, delta, accountant, method, config_hash, started_at, status, finished_at, spent_epsilon"
        con.execute(f"INSERT INTO charges ({cols}) SELECT {cols} FROM charges_v1")
        con.execute("DROP TABLE charges_v1")
        con.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

    # ---- reads ---------------------------------------------------------------------------------
    @staticmethod
    def _budget(con: sqlite3.Connection, fingerprint: str) -> Budget | None:
        row = con.execute("SELECT fingerprint, epsilon_budget, delta_budget, label, set_at FROM datasets WHERE fingerprint = ?", (fingerprint,)).fetchone()
        return None if row is None else Budget(*row)

    @staticmethod
    def _charges(con: sqlite3.Connection, where: str, arg: str) -> list[Charge]:
        rows = con.execute(
            "SELECT run_id, fingerprint, epsilon, delta, accountant, method, config_hash, started_at, status, finished_at, "
            f"spent_epsilon, note FROM charges WHERE {where} = ? ORDER BY started_at, rowid",
            (arg,),
        )
        return [Charge(*r) for r in rows]

    def budget(self, fingerprint: str) -> Budget | None:
        """The dataset's budget, or None if none was set."""
        with self._transaction(write=False) as con:
            return None if con is None else self._budget(con, fingerprint)

    def charges(self, fingerprint: str) -> list[Charge]:
        """Every charge on the dataset, oldest first, whatever its status."""
        with self._transaction(write=False) as con:
            return [] if con is None else self._charges(con, "fingerprint", fingerprint)

    def spent(self, fingerprint: str) -> tuple[float, float]:
        """Composed (Σε, Σδ) over the dataset's charges; a charge counts whether or not it finished, unless void."""
        return _total(self.charges(fingerprint))

    def status(self, fingerprint: str) -> BudgetStatus:
        """Budget and charges of the dataset, read in one transaction."""
        with self._transaction(write=False) as con:
            if con is None:
                return BudgetStatus(str(self.path), fingerprint, None, [])
            return BudgetStatus(str(self.path), fingerprint, self._budget(con, fingerprint), self._charges(con, "fingerprint", fingerprint))

    # ---- writes --------------------------------------------------------------------------------
    def set_budget(self, fingerprint: str, epsilon: float, delta: float, label: str | None = None) -> Budget:
        """Set (or change) the dataset's total budget; lowering it below what is already spent is refused.
        ``label`` names the dataset for people (never report text); None keeps the one set before."""
        _check_fingerprint(fingerprint)
        if not (math.isfinite(epsilon) and epsilon > 0):
            raise PrivacyError(f"a privacy budget needs a finite epsilon > 0, got {epsilon}")
        if not (0 <= delta < 1):
            raise PrivacyError(f"the budget's delta must be in [0, 1), got {delta}")
        with self._writing() as con:
            eps_spent, delta_spent = _total(self._charges(con, "fingerprint", fingerprint))
            if _over(eps_spent, epsilon) or _over(delta_spent, delta):
                raise PrivacyError(
                    f"cannot set the budget of dataset {fingerprint[:12]} to (ε = {_fmt(epsilon)}, δ = {_fmt(delta)}): "
                    f"it has already spent (ε = {_fmt(eps_spent)}, δ = {_fmt(delta_spent)}) in {self.path}"
                )
            con.execute(
                "INSERT INTO datasets (fingerprint, epsilon_budget, delta_budget, label, set_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (fingerprint) DO UPDATE SET epsilon_budget = excluded.epsilon_budget, "
                "delta_budget = excluded.delta_budget, label = COALESCE(excluded.label, label), set_at = excluded.set_at",
                (fingerprint, float(epsilon), float(delta), label, _now()),
            )
            budget = self._budget(con, fingerprint)
            assert budget is not None  # just written
            return budget

    def charge(
        self,
        fingerprint: str,
        run_id: str,
        epsilon: float,
        delta: float | None,
        accountant: str | None,
        method: str | None,
        config_hash: str | None,
    ) -> Charge:
        """Charge a run's planned (ε, δ) to the dataset before it starts, or raise :class:`PrivacyError` if
        the composed total would exceed the dataset's budget.

        Idempotent by ``run_id``: a resumed run that charges again with its stored id gets its existing
        charge back and is not charged twice. With no budget set the charge is recorded all the same
        (ε = inf included); with a budget, a non-private run (ε = inf) is refused.
        """
        _check_fingerprint(fingerprint)
        if not run_id:
            raise PrivacyError("a charge needs a run id")
        if math.isnan(epsilon) or epsilon <= 0:
            raise PrivacyError(f"epsilon must be > 0 (or inf for no privacy), got {epsilon}")
        if math.isinf(epsilon):
            delta = None
        elif delta is None or not (0 <= delta < 1):
            raise PrivacyError(f"a private run's delta must be in [0, 1), got {delta}")
        with self._writing() as con:
            old = self._charges(con, "run_id", run_id)
            if old:
                if old[0].fingerprint != fingerprint or old[0].epsilon != epsilon or old[0].delta != delta:
                    raise PrivacyError(f"run id {run_id} is already charged in {self.path} with another dataset or (ε, δ)")
                if old[0].counts:
                    return old[0]
                # A voided run id charged again is a new start: it is checked against the budget below.
                con.execute("DELETE FROM charges WHERE run_id = ?", (run_id,))
            budget = self._budget(con, fingerprint)
            if budget is not None:
                if math.isinf(epsilon):
                    raise PrivacyError(f"non-private run (ε = inf) refused: dataset {fingerprint[:12]} has a privacy budget (ε = {_fmt(budget.epsilon)}, δ = {_fmt(budget.delta)}) in {self.path}")
                eps_spent, delta_spent = _total(self._charges(con, "fingerprint", fingerprint))
                eps_total, delta_total = math.fsum([eps_spent, epsilon]), math.fsum([delta_spent, delta or 0.0])
                if _over(eps_total, budget.epsilon) or _over(delta_total, budget.delta):
                    raise PrivacyError(
                        f"over the privacy budget: this run (ε = {_fmt(epsilon)}, δ = {_fmt(delta)}) would bring dataset "
                        f"{fingerprint[:12]} to (ε = {_fmt(eps_total)}, δ = {_fmt(delta_total)}), above its budget "
                        f"(ε = {_fmt(budget.epsilon)}, δ = {_fmt(budget.delta)}) in {self.path}; see radtrust budget show"
                    )
            charge = Charge(run_id, fingerprint, float(epsilon), delta, accountant, method, config_hash, _now())
            con.execute(
                "INSERT INTO charges (run_id, fingerprint, epsilon, delta, accountant, method, config_hash, started_at, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (charge.run_id, charge.fingerprint, charge.epsilon, charge.delta, charge.accountant, charge.method,
                 charge.config_hash, charge.started_at, charge.status),
            )  # fmt: skip
        return charge

    def finish(self, run_id: str, spent_epsilon: float | None, status: str = "finished") -> Charge:
        """Mark a run ended and record the ε it actually spent; its charge stays at the planned value."""
        if status not in ("finished", "failed"):
            raise PrivacyError(f"a run ends as finished or failed, not '{status}'")
        with self._writing() as con:
            cur = con.execute(
                "UPDATE charges SET status = ?, finished_at = ?, spent_epsilon = ? WHERE run_id = ?",
                (status, _now(), None if spent_epsilon is None else float(spent_epsilon), run_id),
            )
            if cur.rowcount == 0:
                raise PrivacyError(f"{self.path}: no charge with run id {run_id}")
            return self._charges(con, "run_id", run_id)[0]

    def void(self, run_id: str, reason: str) -> Charge:
        """Void the charge of a run that failed before its first training step; it stays on record, with
        ``reason``, but no longer counts toward the dataset's budget.

        Why this is sound: the (ε, δ) guarantee bounds what the DP-SGD mechanism's output (the noisy steps,
        and everything computed from them: weights, checkpoints, metrics) reveals about any record. A run
        voided here never ran that mechanism: no gradient was computed from a record, no noise drawn,
        nothing saved. What it did before failing (reading and checking the inputs, loading the encoder,
        calibrating σ from N and the settings) is what every run does before it is charged. Only a charge
        still ``charged`` can be voided: a finished or failed run has taken steps, and those always count.
        ``reason`` must name files and settings, never report text (messages never hold any).
        """
        with self._writing() as con:
            old = self._charges(con, "run_id", run_id)
            if not old:
                raise PrivacyError(f"{self.path}: no charge with run id {run_id}")
            if old[0].status != "charged":
                raise PrivacyError(f"{self.path}: run {run_id[:12]} is {old[0].status}; only a run that never took a step can be voided")
            con.execute("UPDATE charges SET status = 'void', finished_at = ?, note = ? WHERE run_id = ?", (_now(), reason[:500], run_id))
            return self._charges(con, "run_id", run_id)[0]


def _check_fingerprint(fingerprint: str) -> None:
    if not isinstance(fingerprint, str) or not fingerprint:
        raise PrivacyError("a dataset fingerprint must be a non-empty string")


def new_run_id() -> str:
    return uuid.uuid4().hex


def as_ledger(ledger: str | Path | PrivacyLedger | None) -> PrivacyLedger:
    """A ledger from a path, an existing ledger, or None (the default ledger)."""
    return ledger if isinstance(ledger, PrivacyLedger) else PrivacyLedger(ledger)


def resolve_ledger(ledger: str | Path | PrivacyLedger | bool | None) -> PrivacyLedger | None:
    """What the training entry points accept: True = the default ledger, a path or ledger = that one,
    False or None = no ledger."""
    if ledger is None or ledger is False:
        return None
    return as_ledger(None if ledger is True else ledger)


# ---- file-level entry points (what ``radtrust budget`` calls) ----------------------------------------
def _read_dataset(data: str | Path, column_map: Mapping[str, str] | Iterable[str] | None, empty_reports: str) -> tuple[str, int]:

    cohort = read_cohort(data, column_map, empty_reports, deid=None)  # only counted and fingerprinted
    return file_fingerprint(data, column_map, read=cohort), len(cohort)


def set_file_budget(
    data: str | Path,
    epsilon: float,
    delta: float | None = None,
    *,
    label: str | None = None,
    column_map: Mapping[str, str] | Iterable[str] | None = None,
    empty_reports: str = "error",
    ledger: str | Path | PrivacyLedger | None = None,
) -> Budget:
    """Set the budget of the dataset in ``data``, identified by content.

    δ defaults to 1/N for the N reports in the file: the composed δ of all runs may not pass one record's
    share, beyond which an (ε, δ) guarantee can leak a whole record.
    """
    fingerprint, n = _read_dataset(data, column_map, empty_reports)
    return as_ledger(ledger).set_budget(fingerprint, epsilon, 1.0 / n if delta is None else delta, label)


def file_budget_status(
    data: str | Path,
    *,
    column_map: Mapping[str, str] | Iterable[str] | None = None,
    empty_reports: str = "error",
    ledger: str | Path | PrivacyLedger | None = None,
) -> BudgetStatus:
    """Budget, charges and totals of the dataset in ``data``."""
    fingerprint, _ = _read_dataset(data, column_map, empty_reports)
    return as_ledger(ledger).status(fingerprint)
