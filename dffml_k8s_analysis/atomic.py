"""Writing a file whole or not at all: readers see the old file or the new one, never a part."""
import os
import pathlib
import tempfile
from typing import Callable, Union


def atomic_write(path: Union[str, os.PathLike], write: Callable[[pathlib.Path], None]) -> None:
    """Call ``write(temporary path)`` beside ``path`` (a new name each time, so writers never share one),
    then move it into place; the temporary file never outlives the call."""
    path = pathlib.Path(path)
    handle, name = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    temporary = pathlib.Path(name)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: Union[str, os.PathLike], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write(path, lambda temporary: temporary.write_text(text, encoding="utf-8"))
