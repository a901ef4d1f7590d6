"""The GitHub client's one-line failure."""
from typing import Optional


class GitHubError(Exception):
    """A failure worth one clear line to the user (never holds the token).

    ``transient``: worth trying again later (5xx, rate limits, lost connections);
    ``status``: the HTTP status GitHub answered, if it answered.
    """

    def __init__(self, message: str, transient: bool = False, status: Optional[int] = None):
        super().__init__(message)
        self.transient, self.status = transient, status
