"""One export at a time per SQLite store: an OS lock on a file beside it (``STORE.lock``).

The kernel drops the lock when its process ends, however it ends, so a killed
export never leaves a store locked; the file records the holder's process id
for the message a second export gets.
"""
import fcntl
import os
import pathlib

from .core import StoreError
from .sqlite import unwritable


class StoreLock:
    """The exclusive lock of the store at ``path``, taken at once or refused."""

    def __init__(self, path):
        self.store = pathlib.Path(path)
        self.path = self.store.with_name(self.store.name + ".lock")
        self.fd = None

    def acquire(self) -> "StoreLock":
        """Take the lock; StoreError naming the holder when another process has it."""
        try:
            self.store.parent.mkdir(parents=True, exist_ok=True)
            while self.fd is None:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise StoreError(f"store {self.store} is in use by another export (process {holder}): "
                                     "wait for it to finish, or stop it") from None
                if os.path.exists(self.path) and os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    self.fd = fd
                else:  # released and removed by its holder meanwhile: take the new file
                    os.close(fd)
            os.ftruncate(self.fd, 0)
            os.write(self.fd, str(os.getpid()).encode())
        except OSError as error:
            raise unwritable(self.store.parent, error.strerror) from None
        return self

    def release(self) -> None:
        if self.fd is not None:
            os.unlink(self.path)
            os.close(self.fd)
            self.fd = None
