"""`model train|evaluate|info`: the triage model."""

from __future__ import annotations

import json
from pathlib import Path

import click

from monitor.cli.common import Failure
from monitor.cli.model_train import train_command


@click.group()
def model() -> None:
    """The triage model: train it, evaluate it, see what is shipped."""


model.add_command(train_command)


@model.command("evaluate")
@click.option("--data", "data", type=click.Path(dir_okay=False, path_type=Path),
              help="Labelled CSV or JSONL: 'text' plus 'labels' (categories) or 'label' (0/1, "
                   "1 = offensive). Without it: the school validation file, the independent "
                   "held-out file and the public test sets, side by side.")
@click.option("--config", "-c", "config_path", metavar="PATH",
              help="Use this config's thresholds, keywords and allowlist.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def model_evaluate(data: Path | None, config_path: str | None, fmt: str) -> None:
    """Per-category precision, recall and F1, false alarms, and the confusion between
    categories."""
    from classifiers import ClassifierOptions, UnavailableError, load_classifier
    from classifiers.evaluation import evaluate, standard_sets, summary_table
    from monitor import config as config_module
    from monitor.classify import options_for

    options = (options_for(config_module.load(Path(config_path)), None) if config_path
               else ClassifierOptions())
    try:
        classifier = load_classifier(options)
        files = [(str(data), data)] if data is not None else standard_sets()
        reports = [(name, evaluate(classifier, path)) for name, path in files]
    except (ValueError, UnavailableError) as exc:
        raise Failure(str(exc)) from None
    if fmt == "json":
        body = {name: report.as_dict() for name, report in reports}
        click.echo(json.dumps(body[str(data)] if data is not None else body, indent=2))
        return
    for _, report in reports:
        click.echo(report.format() + "\n")
    if data is None:
        click.echo(summary_table(reports))


@model.command("info")
def model_info_command() -> None:
    """The shipped model's version, training data hashes, scikit-learn version and figures."""
    from classifiers.model_file import model_info

    click.echo(json.dumps(model_info(), indent=2, default=str))
