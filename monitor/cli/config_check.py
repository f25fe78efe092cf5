"""`check-config`: validate a config file and print what would run, secrets masked."""

from __future__ import annotations

import logging

import click

from monitor.cli.common import load_config, shown_db


@click.command("check-config")
@click.argument("path", required=False)
@click.option("--demo", is_flag=True, help="Check the built-in demo configuration.")
def check_config(path: str | None, demo: bool) -> None:
    """Validate a config file and print what would run (secrets masked)."""
    from monitor.classify import ClassifierCache
    from monitor.daemon import CannotStart, load_classifiers
    from monitor.errors import ConfigError
    from monitor.rules import categories_by_role

    config = load_config(path, demo)
    unusable = _unusable_urls(config)
    if unusable:
        raise ConfigError(unusable)
    # The daemon loads the same classifiers at start; one that would refuse to start is a problem
    # here too.
    classifiers = ClassifierCache(config)
    try:
        degraded = load_classifiers(classifiers)
    except CannotStart as exc:
        raise ConfigError([f"classifier: {exc}"]) from None
    click.echo(f"Config OK: {config.path or 'built-in demo'}")
    click.echo(f"Database: {shown_db(config)}")
    click.echo(f"Data directory: {config.daemon.data_dir}")
    versions = sorted({classifiers.for_school(school).version for school in config.schools})
    click.echo(f"Classifier: {', '.join(versions)}")
    kept = config.settings.retention
    click.echo(f"Retention: raw payloads {kept.raw_payload_days} days, unflagged comments' text "
               f"{kept.unflagged_text_days} days, flagged comments {kept.flagged_days} days "
               "after their incident is resolved; incidents under evidence hold until released")
    if config.daemon.max_delivery_attempts is not None:
        click.echo("warning: [daemon] max_delivery_attempts is no longer used: deliveries are "
                   "retried for delivery_give_up_after (default 24h); remove it")
    for missing in sorted(set(degraded.values())):
        click.echo(f"warning: the classifier runs degraded (allow_degraded = true): {missing}; "
                   "threat detection is weaker until this is fixed")
    for school in config.schools:
        click.echo(f"\nSchool {school.id}: {school.name} ({config.school_timezone(school)})")
        if school.quiet_hours:
            click.echo(f"  quiet hours: {school.quiet_hours.start:%H:%M}–"
                       f"{school.quiet_hours.end:%H:%M} (urgent alerts ignore them)")
        click.echo("  sources:")
        for account in school.accounts:
            state = "" if account.enabled else " (disabled)"
            creds = ", ".join(f"{k}={v}" for k, v in account.credentials.items()) or "none"
            for kind in account.kinds:
                click.echo(f"    {account.platform} {account.account} {kind} every "
                           f"{_duration(account.poll_interval)}{state}; credentials: {creds}")
        click.echo("  recipients:")
        for recipient in school.recipients:
            shown = ", ".join(_shown(u) for u in recipient.urls)
            click.echo(f"    {recipient.role}{' ' + recipient.name if recipient.name else ''}: "
                       f"{shown}")
        roles = {recipient.role for recipient in school.recipients}
        if "it" not in roles:
            click.echo("  warning: no 'it' recipient: nobody will hear that a source stopped or "
                       "an alert could not be delivered")
        for role, categories in categories_by_role(school).items():
            if role not in roles:
                click.echo(f"  warning: no '{role}' recipient: alerts for "
                           f"{', '.join(categories)} will be recorded but sent to nobody")
    if config.trust is not None:
        _describe_trust(config.trust)


def _describe_trust(trust) -> None:
    digest = trust.digest
    when = (f"{digest.day} {digest.time:%H:%M}" if digest.enabled else "not sent")
    click.echo(f"\nTrust: {trust.name} ({trust.timezone}); weekly roll-up {when}")
    for recipient in trust.recipients:
        click.echo(f"  {recipient.name or 'recipient'}: "
                   f"{', '.join(_shown(u) for u in recipient.urls)}")
    if not trust.recipients:
        click.echo("  warning: [trust] has no recipients: nobody will receive the weekly "
                   "roll-up")


def _unusable_urls(config) -> list[str]:
    """Recipient URLs that Apprise cannot turn into a notification service, by their key."""
    import apprise

    from monitor import notify, secrets  # noqa: F401 (notify registers console://)

    keyed = [(f"schools[{s}].recipients[{r}].urls[{u}]", url)
             for s, school in enumerate(config.schools)
             for r, recipient in enumerate(school.recipients)
             for u, url in enumerate(recipient.urls)]
    if config.trust is not None:
        keyed += [(f"trust.recipients[{r}].urls[{u}]", url)
                  for r, recipient in enumerate(config.trust.recipients)
                  for u, url in enumerate(recipient.urls)]
    problems = []
    for key, url in keyed:
        actual = config.secret(url) if secrets.is_reference(url) else url
        # Apprise logs why it refused, with the URL: never shown here.
        with apprise.LogCapture(level=logging.DEBUG):
            usable = apprise.Apprise.instantiate(actual) is not None
        if not usable:
            problems.append(f"{key}: Apprise cannot send to {_shown(url)} (check the service "
                            "name and its parts; see the Apprise wiki for the URL format)")
    return problems


def _shown(url: str) -> str:
    from monitor import secrets

    return url if secrets.is_reference(url) else secrets.mask_url(url)


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
