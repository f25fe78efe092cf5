"""`model train`: train the triage model, never replacing the shipped one unless told to; or,
with --feedback, learn each school's adjustment from its corrections.

Training on a missing data folder would make a weaker model from the school examples alone, so it
is refused. The shipped model is replaced only with --replace, after the old and new evaluation
figures have been printed side by side; otherwise the model goes to --out.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import click

from monitor.cli.common import BadInput, Failure


@click.command("train")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Public labelled data (default: ../shared/data beside the repository, or "
                   "$HALLMONITOR_SHARED_DIR/data).")
@click.option("--school-dir", type=click.Path(file_okay=False, path_type=Path),
              help="School-context examples (default: the ones in the package).")
@click.option("--out", type=click.Path(path_type=Path),
              help="Where to write the new model (a .skops file, or a folder for triage.skops).")
@click.option("--replace", is_flag=True,
              help="Replace the shipped model, after printing its figures beside the new ones.")
@click.option("--seed", default=0, show_default=True, help="Random seed (training is "
              "reproducible for a given seed and data).")
@click.option("--feedback", is_flag=True, help="Instead: learn each school's adjustment from "
              "its staff's corrections ('hallmonitor feedback'), stored in its database.")
@click.option("--school", "school_ids", multiple=True, metavar="ID",
              help="With --feedback: only this school (repeatable).")
@click.option("--config", "-c", "config_path", metavar="PATH",
              help="With --feedback: the config naming the schools and their database.")
@click.option("--demo", is_flag=True, help="With --feedback: use the built-in demo.")
def train_command(data_dir: Path | None, school_dir: Path | None, out: Path | None,
                  replace: bool, seed: int, feedback: bool, school_ids: tuple[str, ...],
                  config_path: str | None, demo: bool) -> None:
    """Train the model on the train splits, choose thresholds on validation data, evaluate on
    the test splits, and save it with its hashes and figures to --out, or with --replace over
    the shipped model.

    With --feedback, train no model: learn each school's adjustment from its corrections, and
    print how often verdicts agreed with corrections held out from training, before and after."""
    if feedback:
        if data_dir or school_dir or out or replace:
            raise BadInput("--feedback learns school adjustments only: --data-dir, "
                           "--school-dir, --out and --replace do not apply")
        from monitor.cli.school_adjustments import train_from_feedback

        train_from_feedback(config_path, demo, school_ids)
        return
    if school_ids or config_path or demo:
        raise BadInput("--school, --config and --demo go with --feedback")
    from classifiers import model_file
    from classifiers.datasets import shared_data_dir

    shipped = model_file.MODEL_PATH
    if data_dir is None and not shared_data_dir().is_dir():
        raise BadInput(f"no public labelled data at {shared_data_dir()}: pass --data-dir or set "
                       "HALLMONITOR_SHARED_DIR (a model trained without it is far weaker)")
    for name, folder in (("--data-dir", data_dir), ("--school-dir", school_dir)):
        if folder is not None and not folder.is_dir():
            raise BadInput(f"{name} {folder}: no such folder")
    if replace and out is not None:
        raise BadInput("--replace replaces the shipped model and --out writes elsewhere: "
                       "give one of them")
    if out is not None and _model_file(out).resolve() == shipped.resolve():
        raise BadInput(f"--out {out} is the shipped model: use --replace to replace it")
    if not replace and out is None:
        raise BadInput(f"training does not overwrite the shipped model ({shipped}) unless "
                       "told to: give --out PATH, or --replace to replace it")
    if out is not None:
        sidecar = _train(data_dir, school_dir, out, seed)
        click.echo(f"saved model {sidecar.get('version', '')} to {_model_file(out)}")
        return
    with tempfile.TemporaryDirectory(prefix="hallmonitor-train-") as scratch:
        new_file = Path(scratch) / shipped.name
        sidecar = _train(data_dir, school_dir, new_file, seed)
        old = _old_sidecar(shipped)
        click.echo("")
        for line in side_by_side(old, sidecar):
            click.echo(line)
        _install(new_file, shipped)
    click.echo(f"replaced the shipped model {old.get('version', '(none)')} with "
               f"{sidecar.get('version', '')} at {shipped}")


def _model_file(out: Path) -> Path:
    """Where train() writes for this --out (a folder gets the usual file name)."""
    from classifiers.model_file import MODEL_PATH

    return out if out.suffix == ".skops" else out / MODEL_PATH.name


def _train(data_dir: Path | None, school_dir: Path | None, out: Path, seed: int) -> dict:
    from classifiers.training import train

    try:
        return train(data_dir, out, seed=seed, log=click.echo, school_dir=school_dir)
    except (FileNotFoundError, ValueError) as exc:
        raise Failure(str(exc)) from None


def _old_sidecar(shipped: Path) -> dict:
    from classifiers.model_file import sidecar_path

    try:
        return json.loads(sidecar_path(shipped).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _install(new_file: Path, shipped: Path) -> None:
    """Put the new model and its sidecar in place of the shipped ones, each file by an atomic
    rename (copied beside its target first, as the scratch folder may be on another disk)."""
    from classifiers.model_file import sidecar_path

    shipped.parent.mkdir(parents=True, exist_ok=True)
    for source, target in ((new_file, shipped), (sidecar_path(new_file), sidecar_path(shipped))):
        staging = target.with_name(f".{target.name}.new")
        shutil.copyfile(source, staging)
        os.replace(staging, target)


def side_by_side(old: dict, new: dict) -> list[str]:
    """The shipped model's evaluation figures beside the new model's, set by set: macro-F1, then
    each category's recall and F1."""
    old_eval, new_eval = old.get("evaluation") or {}, new.get("evaluation") or {}
    lines = [f"evaluation: the shipped model {old.get('version', '(none)')} and the new model "
             f"{new.get('version', '')}", f"  {'':<42}{'old':>9}{'new':>9}"]
    for source in dict.fromkeys([*old_eval, *new_eval]):
        before, after = old_eval.get(source) or {}, new_eval.get(source) or {}
        lines.append(f"  {source:<30}{'macro-F1':<12}{_figure(before, 'macro_f1'):>9}"
                     f"{_figure(after, 'macro_f1'):>9}")
        categories = {**(before.get("categories") or {}), **(after.get("categories") or {})}
        for category in categories:
            was = (before.get("categories") or {}).get(category) or {}
            now = (after.get("categories") or {}).get(category) or {}
            for figure in ("recall", "f1"):
                lines.append(f"    {category:<28}{figure:<12}{_figure(was, figure):>9}"
                             f"{_figure(now, figure):>9}")
    return lines


def _figure(figures: dict, name: str) -> str:
    value = figures.get(name)
    return f"{value:.4f}" if isinstance(value, int | float) else "-"
