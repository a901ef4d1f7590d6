"""Failures worth one line to the user, and how to find one behind DFFML's chains of exceptions."""
from typing import Optional


class UserError(Exception):
    """Bad input or a failure to report in one line, without a traceback."""


def first_cause(error: BaseException, kinds: tuple) -> Optional[BaseException]:
    """The first exception of ``kinds`` behind DFFML's OperationException chain, or None."""
    seen = error
    while seen is not None and not isinstance(seen, kinds):
        seen = seen.__cause__ or seen.__context__
    return seen
