"""`model train --feedback`: each school's adjustment, learned from its own corrections."""

from __future__ import annotations

import click

from monitor.cli.common import BadInput, Failure, load_config, open_db


def train_from_feedback(config_path: str | None, demo: bool, school_ids: tuple[str, ...]) -> None:
    """Fit and store one adjustment per school (or per school named) and print what corrections
    held out from training said before and after."""
    from monitor.adjustments import AdjustmentError, report, train_school

    config = load_config(config_path, demo)
    known = {school.id: school for school in config.schools}
    unknown = [s for s in school_ids if s not in known]
    if unknown:
        raise BadInput(f"no school with id {', '.join(map(repr, unknown))} in the config "
                       f"(schools: {', '.join(known)})")
    sessions = open_db(config)
    for school in [known[s] for s in dict.fromkeys(school_ids)] or config.schools:
        try:
            outcome = train_school(sessions, config, school)
        except AdjustmentError as exc:
            raise Failure(str(exc)) from None
        for line in report(outcome, f"{school.id} ({school.name})"):
            click.echo(line)
