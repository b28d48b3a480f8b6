"""Silence third-party warnings that radtrust triggers by design, so that real warnings stay visible."""

from __future__ import annotations

import warnings


def quiet_known_warnings() -> None:
    """Install the filters (a repeated call replaces, not stacks, each one: see warnings.filterwarnings)."""
    # Opacus's full backward hooks fire on a frozen encoder's inputs: expected with adapters.
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    # PRV's domain estimate goes through RDP; its alpha grid note does not change the PRV result.
    warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
    # A transformers deprecation raised from inside peft.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
    warnings.filterwarnings("ignore", message=".*Secure RNG turned off.*")
    # PRV evaluates both branches of an np.where, so log(0) is computed and then discarded at sampling
    # rate 1 (a batch as large as the data): numpy's "divide by zero" note, not a wrong result.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"opacus\.accountants\.analysis\.prv")
