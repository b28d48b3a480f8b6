"""The README's "From Python" block runs as written (in a temporary folder), and the front door is lazy."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## From Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.slow
def test_readme_python_section_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_python_block(), "README.md (From Python)", "exec"), namespace)
    model, result, audit, ledger = namespace["model"], namespace["result"], namespace["audit"], namespace["ledger"]
    assert (tmp_path / "run" / "privacy.json").exists()
    assert 0 < model.result.privacy.epsilon <= 8.0 and 0.0 <= result.weighted_f1 <= 1.0
    low, high = result.ci95["weighted_f1"]
    assert low <= result.weighted_f1 <= high and result.privacy["epsilon"] == model.result.privacy.epsilon
    assert json.loads(result.to_json())["weighted_f1"] == result.weighted_f1 and set(result.per_label.index) == set(model.findings)
    assert set(audit.meta["attributes"]) == {"sex", "site"} and json.loads(audit.to_json())["attributes"] == ["sex", "site"]
    (charge,) = ledger.charges(model.meta["ledger_fingerprint"])
    assert charge.status == "finished" and charge.epsilon == 8.0


def test_front_door_is_lazy_and_complete():
    import radtrust

    code = "import sys, radtrust; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]  # the command line starts without the heavy libraries
    for name in radtrust.__all__:
        assert getattr(radtrust, name) is not None, name
    with pytest.raises(AttributeError):
        radtrust.no_such_name  # noqa: B018
