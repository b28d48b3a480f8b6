"""The one exception family for user mistakes.

Anything a user can cause by what they pass in (a missing file, a wrong column, an impossible ε) raises a
subclass of :class:`RadtrustError`. The CLI catches exactly this family at its door and prints one line
with exit code 2; every other exception is a bug and keeps its traceback.

Messages must never contain report text or patient identifiers: they name files, rows, columns.
"""

from __future__ import annotations

import re


def option(name: str) -> str:
    """How a library message names a setting: by its Python name in backticks (`` `id_column` ``), which is
    what a Python caller passes. The command line shows it as its flag (``--id-column``, see
    :func:`as_flags`), so the library never needs to know the CLI's spelling."""
    return f"`{name}`"


def as_flags(message: str) -> str:
    """A library message as the command line says it: every `` `setting` `` becomes ``--setting``."""
    return re.sub(r"`([a-z][a-z0-9_]*)`", lambda m: "--" + m.group(1).replace("_", "-"), message)


class RadtrustError(Exception):
    """A problem with the user's input or settings (exit code 2 at the CLI)."""


class InputError(RadtrustError):
    """A file, table, column or value that cannot be used as given."""


class ConfigError(RadtrustError):
    """An option or config-file value that is out of range or inconsistent."""


class PrivacyError(RadtrustError):
    """A privacy setting that cannot be honoured (e.g. ε ≤ 0, budget exceeded)."""


class Interrupted(BaseException):
    """Ctrl-C or SIGTERM at the command line. Not a KeyboardInterrupt, which typer turns into a silent exit
    code; like it, a BaseException, so no ``except Exception`` swallows it. Its message says what was kept."""


def build_config(cls, origin: str = "options", **values):
    """Construct a pydantic config, turning a validation error into a one-line :class:`ConfigError`
    (``origin: field: message``) for the CLI door."""
    from pydantic import ValidationError

    try:
        return cls(**values)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "config"
        raise ConfigError(f"{origin}: {loc}: {err['msg']}") from None
