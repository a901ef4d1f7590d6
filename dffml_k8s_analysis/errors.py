"""Failures worth one line to the user, and how to find one behind DFFML's chains of exceptions."""
from typing import Optional

# Exit statuses of ``k8s-analysis``, for a Job's podFailurePolicy (jobs/README.md, "Exit statuses"):
EXIT_ERROR = 1  # a reported error a rerun meets again: token, repository, store, arguments, input
EXIT_USAGE = 2  # argparse's: an unknown option or a missing argument
EXIT_BUG = 70  # EX_SOFTWARE: an unexpected exception (its traceback is printed)
EXIT_TRANSIENT = 75  # EX_TEMPFAIL: a reported error worth retrying (GitHub unreachable, 5xx, rate limits)
EXIT_INTERRUPTED = 130  # 128 + SIGINT: stopped by Ctrl-C; the message names the command that resumes


class UserError(Exception):
    """Bad input or a failure to report in one line, without a traceback."""


def first_cause(error: BaseException, kinds: tuple) -> Optional[BaseException]:
    """The first exception of ``kinds`` behind DFFML's OperationException chain, or None."""
    seen = error
    while seen is not None and not isinstance(seen, kinds):
        seen = seen.__cause__ or seen.__context__
    return seen
