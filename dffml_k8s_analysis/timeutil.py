"""Time, always in UTC and aware of it: GitHub's timestamps (``YYYY-MM-DDTHH:MM:SSZ``, which sort as text) and now."""
import calendar
import datetime
import time

FORMAT = "%Y-%m-%dT%H:%M:%SZ"
UTC = datetime.timezone.utc


def now() -> datetime.datetime:
    """The current time in UTC."""
    return datetime.datetime.now(UTC)


def parse(value: str) -> datetime.datetime:
    """A GitHub timestamp as a datetime in UTC; ValueError when it is none."""
    return datetime.datetime.strptime(value, FORMAT).replace(tzinfo=UTC)


def format(value: datetime.datetime) -> str:  # noqa: A001 - read as timeutil.format
    """``value`` (aware) as GitHub writes it."""
    return value.astimezone(UTC).strftime(FORMAT)


def epoch(value: str) -> int:
    """A GitHub timestamp as seconds since the epoch; ValueError when it is none."""
    return calendar.timegm(time.strptime(value, FORMAT))


def from_epoch(seconds: float) -> str:
    """Seconds since the epoch as GitHub writes the time."""
    return time.strftime(FORMAT, time.gmtime(seconds))


def shift(value: str, delta: datetime.timedelta) -> str:
    """The GitHub timestamp ``value`` moved by ``delta``."""
    return format(parse(value) + delta)
