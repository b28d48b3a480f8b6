"""Epoch checkpoints that let an interrupted training run resume exactly.

A checkpoint is ONE safetensors file (renamed into place, so a kill mid-write leaves the previous one
intact) holding the trainable weights, the optimiser's moment estimates, the state of both random
generators (Poisson sampler; dropout and DP noise) and, in its JSON metadata, the accountant's step
history, the per-epoch history and the run's identity (config hash, data fingerprint, ledger run id).

Why exact resumption is safe for privacy: the resumed run repeats, with the same generator states, the
steps the killed process may have started after its last checkpoint, so it releases exactly what an
uninterrupted run releases; the accountant composes the restored history plus the remaining steps, and
the ledger charged the whole run's (ε, δ) before the first step, once, under the stored run id.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, safe_open, save_file

from radtrust.data.io import atomic_path
from radtrust.errors import InputError

CHECKPOINT_FILE = "checkpoint.safetensors"
IDENTITY_FILE = "run.json"  # written before the first step: which run (and ledger charge) this folder continues
FORMAT = "radtrust-checkpoint-1"


class Checkpointer:
    """Save/restore the training state after each epoch in ``folder``.

    ``identity`` (e.g. config hash, data fingerprint, run id) is stored with the state; resuming under a
    different identity is refused, because continuing another configuration's run would silently mix two
    trainings and break the privacy accounting.
    """

    def __init__(self, folder: str | Path, identity: dict[str, str]) -> None:
        self.folder = Path(folder)
        self.identity = dict(identity)

    @property
    def path(self) -> Path:
        return self.folder / CHECKPOINT_FILE

    def exists(self) -> bool:
        return self.path.exists()

    def stored_identity(self) -> dict[str, str]:
        return self._meta().get("identity", {})

    def _meta(self) -> dict:
        try:
            with safe_open(str(self.path), framework="pt") as f:
                meta = f.metadata() or {}
        except Exception:  # noqa: BLE001 - any unreadable file is reported the same way
            raise InputError(f"{self.path}: not a readable radtrust checkpoint") from None
        if meta.get("format") != FORMAT:
            raise InputError(f"{self.path}: not a radtrust checkpoint")
        return json.loads(meta["state"])

    def save(
        self,
        epoch: int,
        history: list[dict],
        wall_seconds: float,
        trainable: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        sampler_generator: torch.Generator,
        engine=None,
        steps_seconds: float = 0.0,
    ) -> None:
        tensors: dict[str, torch.Tensor] = {}
        for name, p in trainable.named_parameters():
            if p.requires_grad:
                tensors[f"param/{name}"] = p.detach().clone().contiguous()
        opt_state = optimizer.state_dict()
        scalars: dict[str, dict] = {}
        for idx, st in opt_state["state"].items():
            for key, val in st.items():
                if torch.is_tensor(val):
                    tensors[f"optim/{idx}/{key}"] = val.detach().clone().contiguous()
                else:
                    scalars.setdefault(str(idx), {})[key] = val
        tensors["rng/torch"] = torch.get_rng_state().clone()
        tensors["rng/sampler"] = sampler_generator.get_state().clone()
        state = {
            "identity": self.identity,
            "epoch": epoch,
            "history": history,
            "wall_seconds": wall_seconds,
            "steps_seconds": steps_seconds,
            "param_groups": opt_state["param_groups"],
            "optim_scalars": scalars,
            "accountant_history": [list(h) for h in engine.accountant.history] if engine is not None else None,
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            save_file(tensors, str(tmp), metadata={"format": FORMAT, "state": json.dumps(state)})

    def load(self, trainable: torch.nn.Module, optimizer: torch.optim.Optimizer, sampler_generator: torch.Generator, engine=None) -> dict:
        """Restore everything in place; returns the JSON state (epoch, history, wall_seconds)."""
        state = self._meta()
        if state["identity"] != self.identity:
            diff = sorted(k for k in set(state["identity"]) | set(self.identity) if state["identity"].get(k) != self.identity.get(k))
            raise InputError(f"{self.path}: this checkpoint belongs to a run with a different {', '.join(diff)}; resume with the original data and options, or delete the checkpoint folder")
        if (engine is None) != (state["accountant_history"] is None):
            raise InputError(f"{self.path}: checkpoint privacy mode does not match this run")
        tensors = load_file(str(self.path))
        params = dict(trainable.named_parameters())
        with torch.no_grad():
            for key, val in tensors.items():
                if key.startswith("param/"):
                    params[key[len("param/") :]].copy_(val)
        opt_state: dict = {"state": {}, "param_groups": state["param_groups"]}
        for key, val in tensors.items():
            if key.startswith("optim/"):
                _, idx, name = key.split("/", 2)
                opt_state["state"].setdefault(int(idx), {})[name] = val
        for idx, sc in state["optim_scalars"].items():
            opt_state["state"].setdefault(int(idx), {}).update(sc)
        optimizer.load_state_dict(opt_state)
        torch.set_rng_state(tensors["rng/torch"])
        sampler_generator.set_state(tensors["rng/sampler"])
        if engine is not None:
            engine.accountant.history = [tuple(h) for h in state["accountant_history"]]
        return state

    def clear(self) -> None:
        """Remove the checkpoint after the finished run has been written."""
        for f in (self.path, self.folder / IDENTITY_FILE):
            if f.exists():
                f.unlink()
        if self.folder.exists() and not any(self.folder.iterdir()):
            self.folder.rmdir()
