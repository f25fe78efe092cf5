"""What pay-per-read platforms cost, estimated from what the sources actually read.

A source's first poll reads its backlog (a backfill): that is a one-off, so it is reported as what
it cost and kept out of the estimate. The estimate uses only steady-state reads: each paid resource
(`paid_read`, one row per resource per UTC day, because X charges a resource once a day however
often it is read) priced by its kind from the connector's `read_prices`, over the time the source
was observed polling in steady state, scaled to 30 days. With less than a few hours of steady
state there is no honest figure yet, and the estimate says so instead of extrapolating.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from monitor import models

MONTH_DAYS = 30
# The estimate looks back this far: old enough traffic no longer says much about next month.
WINDOW = timedelta(days=MONTH_DAYS)
# Less steady state than this and a day's traffic pattern (school run, evenings) is not seen.
MIN_OBSERVED = timedelta(hours=3)
NOT_ENOUGH_DATA = "not enough data yet"

Prices = Mapping[str, float]


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """One source's read costs in US dollars. `monthly` is None until enough steady state has
    been observed; `free` marks a platform that does not charge for reads."""

    source_id: int
    free: bool
    monthly: float | None = None
    steady_cost: float = 0.0
    observed: timedelta = timedelta(0)
    backfill_cost: float = 0.0

    def monthly_text(self) -> str:
        if self.free:
            return "free"
        if self.monthly is None:
            return NOT_ENOUGH_DATA
        return f"{self.monthly:.2f}"

    def backfill_text(self) -> str:
        return "-" if self.free else f"{self.backfill_cost:.2f}"


def resource_price(resource: str, prices: Prices) -> float:
    """The price of one read of `resource` ("post:<id>", "user:<id>") by its kind. A kind the
    connector does not price is charged at its dearest price, so an estimate is never low."""
    kind = resource.partition(":")[0]
    if kind in prices:
        return float(prices[kind])
    return max((float(p) for p in prices.values()), default=0.0)


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d")


def _paid_totals(session: Session, since: datetime, prices: Mapping[str, Prices]
                 ) -> tuple[dict[int, float], dict[int, float]]:
    """Steady-state and backfill cost per source, from the paid reads since `since`'s UTC day.
    Counted per resource kind in SQL (a month of a busy account is many rows), priced here."""
    steady: dict[int, float] = defaultdict(float)
    backfill: dict[int, float] = defaultdict(float)
    known = sorted({kind for table in prices.values() for kind in table})
    if not known:
        return steady, backfill
    resource = models.PaidRead.resource
    kind = case(*((resource.like(f"{name}:%"), name) for name in known), else_="")
    rows = session.execute(
        select(models.PaidRead.source_id, models.PaidRead.platform, models.PaidRead.backfill,
               kind, func.count())
        .where(models.PaidRead.day >= _day(since))
        .group_by(models.PaidRead.source_id, models.PaidRead.platform,
                  models.PaidRead.backfill, kind))
    for source_id, platform, is_backfill, resource_kind, count in rows:
        cost = resource_price(f"{resource_kind}:", prices.get(platform, {})) * count
        (backfill if is_backfill else steady)[source_id] += cost
    return steady, backfill


def _observed(session: Session, since: datetime) -> dict[int, timedelta]:
    """How long each source has been watched in steady state within the window: from the end
    of the backfill just before its first steady poll (or from that poll, when the backfill is
    older than the window) to the end of its last steady poll. A steady poll pays for what
    arrived since the poll before it, so that is the span the steady reads cover."""
    run = models.PollRun
    ended = func.coalesce(run.finished_at, run.started_at)
    steady = {source_id: (first, last) for source_id, first, last in session.execute(
        select(run.source_id, func.min(run.started_at), func.max(ended))
        .where(run.started_at >= since, run.backfill.is_(False))
        .group_by(run.source_id))}
    start = {source_id: first for source_id, (first, _) in steady.items()}
    backfills = session.execute(
        select(run.source_id, func.max(run.finished_at))
        .where(run.started_at >= since, run.backfill.is_(True), run.finished_at.is_not(None))
        .group_by(run.source_id))
    for source_id, finished in backfills:
        if source_id in start and finished <= start[source_id]:
            start[source_id] = finished
    return {source_id: max(last - start[source_id], timedelta(0))
            for source_id, (_, last) in steady.items()}


def estimate(session: Session, sources: Mapping[int, str], prices_for: Callable[[str], Prices],
             *, now: datetime | None = None, min_observed: timedelta = MIN_OBSERVED
             ) -> dict[int, CostEstimate]:
    """A cost estimate for each source in `sources` (id -> its connector's platform).
    `prices_for(platform)` gives that platform's read prices by resource kind ({} if free)."""
    now = now or datetime.now(UTC)
    # From a UTC midnight: paid reads are recorded by UTC day, and a day half inside the window
    # would count all its reads against half its time.
    since = (now - WINDOW).astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since += timedelta(days=1)
    prices = {platform: prices_for(platform) for platform in _platforms(session, sources)}
    steady, backfill = _paid_totals(session, since, prices)
    observed = _observed(session, since)
    estimates: dict[int, CostEstimate] = {}
    for source_id, platform in sources.items():
        cost, spent = steady.get(source_id, 0.0), backfill.get(source_id, 0.0)
        if not prices[platform] and not cost and not spent:
            estimates[source_id] = CostEstimate(source_id, free=True)
            continue
        watched = observed.get(source_id, timedelta(0))
        monthly = (cost / (watched / timedelta(days=1)) * MONTH_DAYS
                   if watched >= min_observed else None)
        estimates[source_id] = CostEstimate(source_id, False, monthly, cost, watched, spent)
    return estimates


def _platforms(session: Session, sources: Mapping[int, str]) -> set[str]:
    """Every platform whose reads are priced: the sources' own, and any recorded in paid_read
    (a replayed source records reads under the platform it stands in for)."""
    recorded = session.scalars(select(models.PaidRead.platform).distinct())
    return set(sources.values()) | set(recorded)


def connector_prices(platform: str) -> Prices:
    """The read prices a platform's connector declares; {} for a free or unknown platform."""
    from connectors import connector_class
    from connectors.base import ConfigError

    try:
        return dict(connector_class(platform).read_prices)
    except ConfigError:
        return {}
