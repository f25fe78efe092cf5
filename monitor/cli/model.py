"""`model train|evaluate|info`: the triage model."""

from __future__ import annotations

import json
from pathlib import Path

import click

from monitor.cli.common import BadInput, Failure


@click.group()
def model() -> None:
    """The triage model: train it, evaluate it, see what is shipped."""


@model.command("train")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Public labelled data (default: ../shared/data beside the repository, or "
                   "$HALLMONITOR_SHARED_DIR/data).")
@click.option("--out", type=click.Path(path_type=Path),
              help="Where to write the model (default: the file shipped in the package).")
@click.option("--seed", default=0, show_default=True, help="Random seed (training is "
              "reproducible for a given seed and data).")
@click.option("--feedback", is_flag=True, help="Instead: learn each school's adjustment from "
              "its staff's corrections ('hallmonitor feedback'), stored in its database.")
@click.option("--school", "school_ids", multiple=True, metavar="ID",
              help="With --feedback: only this school (repeatable).")
@click.option("--config", "-c", "config_path", metavar="PATH",
              help="With --feedback: the config naming the schools and their database.")
@click.option("--demo", is_flag=True, help="With --feedback: use the built-in demo.")
def model_train(data_dir: Path | None, out: Path | None, seed: int, feedback: bool,
                school_ids: tuple[str, ...], config_path: str | None, demo: bool) -> None:
    """Train the model on the train splits, choose thresholds on validation data, evaluate on
    the test splits, and save it with its hashes and figures.

    With --feedback, train no model: learn each school's adjustment from its corrections, and
    print how often verdicts agreed with corrections held out from training, before and after."""
    if feedback:
        if data_dir or out:
            raise BadInput("--feedback learns school adjustments only: --data-dir and --out "
                           "do not apply")
        from monitor.cli.school_adjustments import train_from_feedback

        train_from_feedback(config_path, demo, school_ids)
        return
    if school_ids or config_path or demo:
        raise BadInput("--school, --config and --demo go with --feedback")
    from classifiers.model_file import MODEL_PATH
    from classifiers.training import train

    try:
        metadata = train(data_dir, out or MODEL_PATH, seed=seed, log=click.echo)
    except (FileNotFoundError, ValueError) as exc:
        raise Failure(str(exc)) from None
    click.echo(f"saved model {metadata.get('version', '')} to {out or MODEL_PATH}")


@model.command("evaluate")
@click.option("--data", "data", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Labelled CSV or JSONL: 'text' plus 'labels' (categories) or 'label' (0/1, "
                   "1 = offensive).")
@click.option("--config", "-c", "config_path", metavar="PATH",
              help="Use this config's thresholds, keywords and allowlist.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def model_evaluate(data: Path, config_path: str | None, fmt: str) -> None:
    """Per-category precision, recall and F1, and the confusion between categories."""
    from classifiers import ClassifierOptions, load_classifier
    from classifiers.evaluation import evaluate
    from monitor import config as config_module
    from monitor.classify import options_for

    options = (options_for(config_module.load(Path(config_path)), None) if config_path
               else ClassifierOptions())
    try:
        report = evaluate(load_classifier(options), data)
    except ValueError as exc:
        raise Failure(str(exc)) from None
    click.echo(json.dumps(report.as_dict(), indent=2) if fmt == "json" else report.format())


@model.command("info")
def model_info_command() -> None:
    """The shipped model's version, training data hashes, scikit-learn version and figures."""
    from classifiers.model_file import model_info

    click.echo(json.dumps(model_info(), indent=2, default=str))
