"""Secrets read from files (a mounted Kubernetes Secret): the content, or one line naming the file, never the content."""
import os
from typing import Optional


class SecretFileError(Exception):
    """The file named for a secret cannot be read, or is empty."""


def read_secret(env: str, what: str, spaces: bool = False) -> Optional[str]:
    """The secret in the file that environment variable ``env`` names, None when ``env`` is unset.

    A trailing newline is dropped; other surrounding whitespace too unless ``spaces``
    (a password may end in a space, a token never does).
    """
    path = os.environ.get(env)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise SecretFileError(f"cannot read the {what} file {env}={path}: "
                              f"{getattr(error, 'strerror', None) or type(error).__name__}") from None
    value = value.rstrip("\r\n") if spaces else value.strip()
    if not value:
        raise SecretFileError(f"the {what} file {env}={path} is empty")
    return value
