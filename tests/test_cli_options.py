"""One declaration per option: the training commands' flags are generated from the pydantic configs, so a
config field without a flag (or a flag for no field) fails here, and help text and defaults exist once."""

from __future__ import annotations

import pytest
import typer

from radtrust.cli import PRETRAIN_FIXED, app
from radtrust.train.config import ImageTrainConfig, TrainConfig

COMMANDS = {"train": TrainConfig, "train-images": ImageTrainConfig, "sweep": TrainConfig, "pretrain": TrainConfig}
#: options a command sets itself (a sweep runs every ε and method it is given; a warm start is never private)
SET_BY_COMMAND = {"sweep": {"epsilon", "method"}, "pretrain": set(PRETRAIN_FIXED)}
#: flags of a training command that are not training options: the files, the run folder and how to run
RUN_OPTIONS = {
    "data",
    "labels",
    "out",
    "config",
    "validation_labels",
    "id_column",
    "column_map",
    "empty_reports",
    "overwrite",
    "resume",
    "ledger",
    "quiet",
    "epsilons",
    "methods",
    "gold",
    "gold_id_column",
    "test_fraction",
    "n_bootstrap",
    "method_options",
    "n_reports",
    "corpus_seed",
    "vocab",
    "targets",
}


def _params(command: str) -> dict:
    click_app = typer.main.get_command(app)
    return {p.name: p for p in click_app.commands[command].params}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_config_field_has_exactly_one_flag_and_every_flag_a_field(command):
    config = COMMANDS[command]
    params = _params(command)
    fields = set(config.model_fields) - SET_BY_COMMAND.get(command, set())
    assert fields - set(params) == set(), "config fields without a flag"
    assert set(params) - fields - RUN_OPTIONS == set(), "flags that are neither a config field nor a run option"
    assert not (RUN_OPTIONS & fields), "a run option shadows a config field"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_and_default_come_from_the_field(command):
    config = COMMANDS[command]
    params = _params(command)
    for name, field in config.model_fields.items():
        if name in SET_BY_COMMAND.get(command, ()):
            assert name not in params
            continue
        p = params[name]
        assert p.default is None  # not given = the config file's value, else the field's default
        if field.description:
            assert " ".join(field.description.split()) in " ".join(p.help.split()), name
        default = field.get_default(call_default_factory=True)
        shown = ",".join(map(str, default)) if isinstance(default, list) else str(default)
        assert p.help.endswith(f"default {shown}"), name


def test_given_flags_become_typed_overrides(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import radtrust.train.api as api

    seen = {}

    def fake_train(data, labels, cfg, *a, **k):
        seen["cfg"] = cfg
        raise SystemExit(0)

    monkeypatch.setattr(api, "train_from_files", fake_train)
    args = [
        "train",
        "--data",
        "d.csv",
        "--labels",
        "l.csv",
        "--out",
        str(tmp_path / "r"),
        "--lr",
        "0.3",
        "--findings",
        "Edema, Pneumonia",
        "--age-cuts",
        "30,50",
        "--no-cache-features",
        "--epsilon",
        "inf",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    cfg = seen["cfg"]
    assert cfg.learning_rate == 0.3 and cfg.findings == ["Edema", "Pneumonia"] and cfg.age_cuts == [30.0, 50.0]
    assert cfg.cache_features is False and not cfg.private
    assert cfg.epochs == TrainConfig().epochs  # a flag not given keeps the default
