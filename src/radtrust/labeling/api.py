"""File-level labeling entry point (what ``radtrust label`` calls)."""

from __future__ import annotations

from pathlib import Path

from radtrust.data.io import write_table
from radtrust.data.readers import read_cohort
from radtrust.data.schema import LabelTable
from radtrust.labeling.vocab import get_vocabulary


def label_file(input_path: str | Path, vocab: str, out: str | Path, column_map=None, empty_reports: str = "error") -> LabelTable:
    """Label every report of ``input_path`` with the rule labeler and write the label table atomically."""
    from radtrust.labeling.rules import RuleLabeler

    get_vocabulary(vocab)  # an unknown vocabulary fails before any file is read
    cohort = read_cohort(input_path, column_map, empty_reports)
    table = RuleLabeler(vocab).label(cohort)
    write_table(table.frame, out)
    return table
