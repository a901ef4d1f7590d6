"""Which share of the work a Kubernetes Indexed Job pod does.

An Indexed Job runs ``completions`` pods with ``JOB_COMPLETION_INDEX`` set to
0..completions-1. Work items (export windows, tuning grid points, prediction
batches) are dealt round-robin: pod ``i`` of ``n`` takes items ``i, i+n,
i+2n, ...``, so every item goes to exactly one pod and busy stretches of a
time-ordered list are spread across pods. Setting the variable by hand runs
the same share locally.
"""
import os
from typing import Mapping, Optional, Sequence, TypeVar

ENV = "JOB_COMPLETION_INDEX"
T = TypeVar("T")


def job_index(count: int, environ: Optional[Mapping[str, str]] = None) -> int:
    """This pod's index from ``JOB_COMPLETION_INDEX``, checked against ``count`` pods."""
    if count < 1:
        raise ValueError(f"the number of shards must be at least 1, got {count}")
    value = (os.environ if environ is None else environ).get(ENV)
    if value is None:
        raise ValueError(f"{ENV} is not set: run as a Kubernetes Indexed Job or set it by hand (0..{count - 1})")
    try:
        index = int(value)
    except ValueError:
        raise ValueError(f"{ENV} must be a whole number, got {value!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"{ENV}={index} is outside 0..{count - 1}")
    return index


def share(items: Sequence[T], index: int, count: int) -> Sequence[T]:
    """The items of pod ``index`` out of ``count``: every count-th one from ``index``."""
    if not 0 <= index < count:
        raise ValueError(f"index {index} is outside 0..{count - 1}")
    return items[index::count]
