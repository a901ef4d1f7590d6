"""GitHub's timestamps: ``YYYY-MM-DDTHH:MM:SSZ`` in UTC, which sort as text."""
import datetime

ISO = "%Y-%m-%dT%H:%M:%SZ"


def parse(value: str) -> datetime.datetime:
    return datetime.datetime.strptime(value, ISO)


def format(value: datetime.datetime) -> str:  # noqa: A001 - the module's own name space
    return value.strftime(ISO)


def shift(value: str, delta: datetime.timedelta) -> str:
    """``value`` moved by ``delta``."""
    return format(parse(value) + delta)
