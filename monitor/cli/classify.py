"""`classify`: verdicts for text on stdin.

This command must start fast: nothing from the database or the scheduler is imported here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from monitor.cli.common import Failure


@click.command()
@click.option("--jsonl", is_flag=True, help="Read JSON lines with a 'text' field.")
@click.option("--config", "-c", "config_path", metavar="PATH",
              help="Use this config's thresholds, keywords and allowlist.")
def classify(jsonl: bool, config_path: str | None) -> None:
    """Classify text from stdin, one per line; print one JSON verdict per line."""
    from classifiers import ClassifierOptions, load_classifier
    from monitor import config as config_module
    from monitor.classify import options_for

    options = (options_for(config_module.load(Path(config_path)), None) if config_path
               else ClassifierOptions())
    classifier = load_classifier(options)
    stdin = click.get_text_stream("stdin", errors="replace")
    batch: list[str] = []
    for number, line in enumerate(stdin, 1):
        line = line.rstrip("\n")
        if jsonl:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                text = record["text"]
                if not isinstance(text, str):
                    raise TypeError
            except (json.JSONDecodeError, KeyError, TypeError):
                _write_verdicts(classifier, batch)  # what came before is still answered
                raise Failure(f"line {number}: not a JSON object with a text field") from None
        else:
            text = line
        batch.append(text)
        if len(batch) >= 512:
            _write_verdicts(classifier, batch)
            batch = []
    if batch:
        _write_verdicts(classifier, batch)


def _write_verdicts(classifier, texts: list[str]) -> None:
    out = sys.stdout
    for verdict in classifier.predict(texts):
        out.write(json.dumps(verdict.as_dict(), ensure_ascii=False) + "\n")
    out.flush()
