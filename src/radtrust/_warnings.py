"""Silence third-party warnings that radtrust triggers by design, so that real warnings stay visible."""

from __future__ import annotations

import warnings


def quiet_known_warnings() -> None:
    # Opacus's full backward hooks fire on a frozen encoder's inputs: expected with adapters.
    warnings.filterwarnings("ignore", message="Full backward hook is firing")
    # PRV's domain estimate goes through RDP; its alpha grid note does not change the PRV result.
    warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
    # A transformers deprecation raised from inside peft.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
    warnings.filterwarnings("ignore", message=".*Secure RNG turned off.*")
