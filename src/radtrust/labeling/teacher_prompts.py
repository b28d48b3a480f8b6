"""What the teacher LLM is told and how its answer is checked: the system prompt that lists the vocabulary,
the report and correction messages, and the strict validation of the one JSON object it must answer."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

#: Bump whenever the prompt or the answer format changes: it is part of the cache key.
PROMPT_VERSION = "radtrust-teacher-prompt/1"


def _strip_wrapping(content: str) -> str:
    """Remove a leading ``<think>…</think>`` block and one outer Markdown code fence.

    Local reasoning models put their reasoning before the answer and many chat models fence JSON; both are
    packaging around the answer, not part of it, so removing them is not guessing.
    """
    s = content.strip()
    s = re.sub(r"^<think>.*?</think>\s*", "", s, flags=re.DOTALL)
    m = re.fullmatch(r"```[A-Za-z]*\s*\n?(.*?)\n?\s*```", s, flags=re.DOTALL)
    return m.group(1).strip() if m else s


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key '{k}'")
        out[k] = v
    return out


def validate_answer(content: str | None, findings: Sequence[str]) -> tuple[dict[str, int] | None, str, str]:
    """Check one model answer against the vocabulary.

    Returns ``(labels, reason_kind, reason)``: ``labels`` maps finding names to 1/0/-1 (omitted = not
    mentioned) when the answer is valid, else None with a short reason kind (for counting) and a reason
    (sent back to the model only: it may quote the model's keys, so it is never logged).
    """
    if content is None or not str(content).strip():
        return None, "empty", "the answer was empty"
    try:
        obj = json.loads(_strip_wrapping(str(content)), object_pairs_hook=_no_duplicates)
    except ValueError as e:
        if str(e).startswith("duplicate key"):
            return None, "duplicate_key", str(e)
        return None, "not_json", "the answer was not valid JSON"
    if not isinstance(obj, dict):
        return None, "not_object", "the answer must be one JSON object, not a list, string or number"
    allowed = set(findings)
    unknown = [k for k in obj if k not in allowed]
    if unknown:
        shown = ", ".join(repr(k[:60]) for k in unknown[:5])
        return None, "unknown_finding", f"unknown finding name(s) {shown}; use only the exact names listed"
    labels: dict[str, int] = {}
    for k, v in obj.items():
        # bool is an int in Python; JSON true/false is not an allowed label.
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v not in (1, 0, -1):
            return None, "bad_value", f"the value for '{k}' must be 1, 0 or -1 (leave a finding out if not mentioned)"
        labels[k] = int(v)
    return labels, "", ""


def system_prompt(findings: Sequence[str]) -> str:
    """The system message: the vocabulary, the label semantics and the answer format."""
    names = "\n".join(f"- {f}" for f in findings)
    # The summary column follows the rule labeler's convention for its vocabulary, so that the two agree
    # on what the column means.
    if "No Finding" in findings:
        summary_line = "'No Finding' is 1 when no other finding (Support Devices aside) is present or uncertain; otherwise leave it out.\n"
    elif "normal" in findings:
        summary_line = "'normal' is 1 when the report states or hedges nothing abnormal at all, otherwise 0.\n"
    else:
        summary_line = ""
    example = {findings[0]: 1, findings[min(1, len(findings) - 1)]: 0} if findings else {}
    return (
        "You label chest radiograph reports for a fixed list of findings.\n"
        f"Findings (use these names exactly, as JSON keys):\n{names}\n\n"
        "For every listed finding that the report mentions, give one value:\n"
        "  1 = present (stated as present)\n"
        "  0 = explicitly absent (the report says it is not there)\n"
        "  -1 = uncertain (hedged: possible, may represent, cannot be excluded, questionable)\n"
        "Leave out every finding that the report does not mention.\n"
        f"{summary_line}"
        "Answer with one JSON object and nothing else: finding names as keys, 1, 0 or -1 as values, "
        f"for example {json.dumps(example)}. Answer {{}} when no listed finding is mentioned."
    )


def user_message(text: str) -> str:
    # Markers keep instructions that happen to be in a report visibly inside the data.
    return f"Report (between the markers):\n<<<\n{text}\n>>>"


def correction_message(reason: str) -> str:
    return f"That answer was not valid: {reason}. Reply again with only one JSON object whose keys are finding names from the list and whose values are 1, 0 or -1."
