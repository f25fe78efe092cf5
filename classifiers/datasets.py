"""Labelled text files: the public sets in ../shared/data, the school examples, any CSV or JSONL.

A labelled file has a `text` and either `labels` (a list of category names, or one name, or a
"a;b" string) or `label` (1/0 for offensive or not, as in the public sets; or a category name).
Binary offensive labels are kept as the pseudo-category "offensive": a classifier counts as
flagging it when any of abusive, hateful or threat is flagged.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

from classifiers.base import CATEGORIES

OFFENSIVE = "offensive"
OFFENSIVE_CATEGORIES = ("abusive", "hateful", "threat")

SCHOOL_DIR = Path(__file__).resolve().parent / "data"
SCHOOL_TRAIN = "school_train.jsonl"
SCHOOL_VAL = "school_val.jsonl"
# The independent evaluation set: written by people who never saw the training data; never
# trained or tuned on (see classifiers/data/README.md).
HELDOUT = "heldout.jsonl"

# Public sets, their splits, and what each row says about our categories. See
# ../shared/data/README.md for sources, licences and label meanings.
PUBLIC_SETS = ("tweeteval_offensive", "davidson", "hatexplain", "tweeteval_hate")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    labels: frozenset[str]
    # Extra columns some public sets carry (HateXplain and Davidson `label3`).
    detail: str = ""


def shared_data_dir() -> Path:
    """../shared/data next to the repository, or $HALLMONITOR_SHARED_DIR/data."""
    override = os.environ.get("HALLMONITOR_SHARED_DIR")
    if override:
        return Path(override) / "data"
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def read_labelled(path: str | PathLike[str]) -> list[Example]:
    """Examples from a CSV or JSONL file; a ValueError names the file and line of bad input."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text") from None
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        rows = _jsonl_rows(path, text)
    else:
        rows = enumerate(csv.DictReader(text.splitlines()), start=2)
    examples = []
    for line, row in rows:
        if not isinstance(row, dict) or "text" not in row:
            raise ValueError(f"{path}:{line}: each row needs a 'text'")
        labels = _labels(row, path, line)
        detail = str(row.get("label3", "") or "")
        examples.append(Example(str(row["text"] or ""), labels, detail))
    if not examples:
        raise ValueError(f"{path}: no labelled rows")
    return examples


def _jsonl_rows(path: Path, text: str):
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            yield line, json.loads(raw)
        except ValueError as exc:
            raise ValueError(f"{path}:{line}: not JSON ({exc})") from None


def _labels(row: dict, path: Path, line: int) -> frozenset[str]:
    if "labels" in row:
        value = row["labels"]
        if value is None:
            value = []
        if isinstance(value, str):
            value = [v for v in value.replace(",", ";").split(";") if v.strip()]
        if not isinstance(value, list):
            raise ValueError(f"{path}:{line}: 'labels' must be a list of categories")
        labels = {str(v).strip() for v in value}
        unknown = labels - set(CATEGORIES) - {OFFENSIVE}
        if unknown:
            raise ValueError(f"{path}:{line}: unknown categories {sorted(unknown)} "
                             f"(known: {', '.join(CATEGORIES)})")
        return frozenset(labels)
    if "label" in row:
        value = str(row["label"]).strip()
        if value in ("1", "1.0", "true", "True"):
            return frozenset({OFFENSIVE})
        if value in ("0", "0.0", "false", "False", ""):
            return frozenset()
        if value in CATEGORIES:
            return frozenset({value})
        raise ValueError(f"{path}:{line}: label {value!r} is neither 0/1 nor a category")
    raise ValueError(f"{path}:{line}: each row needs 'labels' or 'label'")


def public_split(data_dir: Path, name: str, split: str) -> Path | None:
    path = data_dir / name / f"{split}.csv"
    return path if path.exists() else None


def texts(examples: Sequence[Example]) -> list[str]:
    return [e.text for e in examples]
