"""When a job fires: its cron expression read in the schedule's zone, by croniter.

Every instant given and returned is an aware UTC datetime; the zone matters only for
reading the expression. Daylight saving follows ISC cron, which is what people expect of
cron: a time the clocks skip (02:30 when they go from 02:00 to 03:00) fires once, as soon
as the clocks have moved (croniter gives 03:00); a time the clocks repeat (02:30 when they
go back from 03:00 to 02:00) fires once for a fixed-time job ('30 2 * * *'), and at each
occurrence for one whose minute or hour is a wildcard ('*/15 * * * *', '0 * * * *'), which
fires by elapsed time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

#: Firings counted in one window at most: a per-second job missed for a week is 604,800
#: firings, and counting them all would take seconds for a number nobody needs exactly.
COUNT_LIMIT = 10_000
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class Window:
    """The firings of a job in (after, until]: the latest few, how many in all, the first."""

    latest: tuple[datetime, ...]  # ascending, at most the `keep` asked for
    total: int | None  # None: more than COUNT_LIMIT
    first: datetime | None

    @property
    def empty(self) -> bool:
        return not self.latest


class Cron:
    """One job's expression in one zone."""

    def __init__(self, expression: str, zone: str) -> None:
        self.expression = expression
        self.zone = ZoneInfo(zone)
        fields = _expanded(expression).split()
        # ISC cron's MIN_STAR / HR_STAR: such a job fires again when the clocks go back
        self._by_elapsed_time = fields[0].startswith("*") or fields[1].startswith("*")

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after `moment`."""
        found = croniter(self.expression, moment.astimezone(self.zone))
        while True:
            firing: datetime = found.get_next(datetime)
            if not self._repeated(firing):
                return firing.astimezone(UTC)

    def latest_until(self, moment: datetime) -> datetime | None:
        """The last firing at or before `moment`, None when there is none."""
        found = croniter(self.expression, (moment + _TICK).astimezone(self.zone))
        try:
            while True:
                firing: datetime = found.get_prev(datetime)
                if not self._repeated(firing):
                    return firing.astimezone(UTC)
        except CroniterBadDateError:
            return None

    def window(self, after: datetime, until: datetime, keep: int = 1) -> Window:
        """The firings in (after, until], counted backwards from `until` so that a long
        window costs at most COUNT_LIMIT steps, whatever its length."""
        if until <= after:
            return Window((), 0, None)
        found = croniter(self.expression, (until + _TICK).astimezone(self.zone))
        latest: list[datetime] = []
        count = 0
        while count <= COUNT_LIMIT:
            try:
                firing: datetime = found.get_prev(datetime)
            except CroniterBadDateError:
                break
            if self._repeated(firing):
                continue
            instant = firing.astimezone(UTC)
            if instant <= after:
                break
            count += 1
            if len(latest) < keep:
                latest.append(instant)
        if count == 0:
            return Window((), 0, None)
        total = count if count <= COUNT_LIMIT else None
        first = latest[-1] if total is not None and total <= keep else self.next_after(after)
        return Window(tuple(reversed(latest)), total, first)

    def _repeated(self, firing: datetime) -> bool:
        """True for the second occurrence of a wall-clock time the clocks repeat, which a
        fixed-time job does not fire at."""
        if self._by_elapsed_time:
            return False
        wall = firing.replace(tzinfo=None)
        earlier = wall.replace(tzinfo=self.zone, fold=0).utcoffset()
        later = wall.replace(tzinfo=self.zone, fold=1).utcoffset()
        return earlier != later and firing.utcoffset() == later


_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def _expanded(expression: str) -> str:
    text = expression.strip()
    return _ALIASES.get(text.lower(), text)
