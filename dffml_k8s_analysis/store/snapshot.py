"""The analysis's columns kept as one columnar snapshot: every derived column, label and label event as numpy
arrays (``.npy`` members of one uncompressed ``.npz`` blob, never a pickle), read in milliseconds.

The snapshot is stamped with the store's columns version (``state`` key ``columns_version``), which a trigger
on every table the columns come from (migration 9) moves on within the writing transaction. ``read`` uses the
snapshot only when its stamp equals the version now: a store written after it, a damaged blob (the zip's CRC),
or arrays of the wrong shape fall back to SQL (``derived.read``), so a stale snapshot never gives a wrong
number. ``refresh`` is the writers' (the end of an export, an update, a timeline or closers walk): it reads the
version, then every column by SQL, and stores them under that version, so a write made meanwhile leaves the
snapshot stale, never wrong.
"""
import io
import logging
import zipfile
from typing import Dict, List, Optional, Sequence

import numpy

from . import derived
from .derived import NUMBERS, TEXTS, Columns

SNAPSHOT_AT = 9  # the version from which a store has the snapshot's table and the columns version
MOST = 150_000  # items: above, the analysis reads view by view (operations/analyze.py's ONCE) and keeps no snapshot
VERSION = "SELECT value FROM state WHERE key = 'columns_version'"
CURRENT = ("SELECT s.data FROM columns_snapshot s JOIN state v ON v.key = 'columns_version' "
           "AND v.value = CAST(s.version AS TEXT) WHERE s.name = 'columns'")
FRESH = CURRENT.replace("SELECT s.data", "SELECT 1")
SAVE = ("INSERT INTO columns_snapshot (name, version, data) VALUES ('columns', ?, ?) ON CONFLICT (name) DO UPDATE "
        "SET version = excluded.version, data = excluded.data")

log = logging.getLogger(__name__)


def _pack_strings(strings: Sequence[str]) -> Dict[str, numpy.ndarray]:
    encoded = [text.encode("utf-8", "surrogatepass") for text in strings]
    return {"bytes": numpy.frombuffer(b"".join(encoded), numpy.uint8),
            "lengths": numpy.array([len(text) for text in encoded], numpy.int64)}


def _unpack_strings(data: numpy.ndarray, lengths: numpy.ndarray) -> List[str]:
    blob, ends = data.tobytes(), numpy.cumsum(lengths).tolist()
    if lengths.ndim != 1 or (len(ends) and (ends[-1] != len(blob) or lengths.min() < 0)):
        raise ValueError("strings of the wrong lengths")
    return [blob[start:end].decode("utf-8", "surrogatepass") for start, end in zip([0] + ends[:-1], ends)]


def pack(columns: Columns) -> bytes:
    """The full ``columns`` (every number, text, label with counts, label event) as one ``.npz`` blob."""
    codes, logins = numpy.full((len(columns.number_table), len(TEXTS)), -1, numpy.int32), {}
    for i, column in enumerate(columns.text_columns):
        codes[:, i] = [-1 if login is None else logins.setdefault(login, len(logins)) for login in column.tolist()]
    names = list(columns.counts)
    arrays = {"numbers": columns.number_table, "texts": codes, "events": columns.events,
              "label_uses": numpy.array([len(columns.labels.get(name, ())) for name in names], numpy.int64),
              "label_counts": numpy.array(list(columns.counts.values()), numpy.int64),
              "label_numbers": numpy.concatenate([numpy.empty(0, numpy.int64)]
                                                 + [columns.labels[name] for name in names if name in columns.labels]),
              "timelines": numpy.array(columns.timelines, numpy.int64)}
    for key, strings in (("logins", list(logins)), ("label_names", names), ("event_names", columns.event_names),
                         ("problems", columns.problems)):
        arrays.update({f"{key}_{part}": array for part, array in _pack_strings(strings).items()})
    out = io.BytesIO()
    numpy.savez(out, **arrays)
    return out.getvalue()


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise ValueError(f"{what} of the wrong shape")


def _in_range(codes: numpy.ndarray, low: int, count: int) -> bool:
    return not codes.size or low <= codes.min() <= codes.max() < count


def select(blob: bytes, numbers: Sequence[str], texts: Sequence[str], labels: Optional[Sequence[str]],
           counts: bool, events: Optional[Sequence[str]]) -> Columns:
    """What ``derived.read`` gives for these arguments, from a ``pack`` blob, reading only the arrays they need (a
    zip's members are read one by one); ValueError (or zipfile's, numpy's errors) when it is damaged."""
    with numpy.load(io.BytesIO(bytes(blob)), allow_pickle=False) as stored:
        def strings(key: str) -> List[str]:
            return _unpack_strings(stored[f"{key}_bytes"], stored[f"{key}_lengths"])

        full = stored["numbers"]
        _check(full.dtype == numpy.int64 and full.ndim == 2 and full.shape[1] == len(NUMBERS), "numbers")
        wanted = [tuple(NUMBERS).index(name) for name in numbers]
        table = full if wanted == list(range(len(NUMBERS))) else full[:, wanted]
        text_columns: tuple = ()
        if texts:
            codes, logins = stored["texts"], strings("logins")
            _check(codes.shape == (len(full), len(TEXTS)) and _in_range(codes, -1, len(logins)), "texts")
            values = numpy.array(logins + [None], dtype=object)
            text_columns = tuple(values[codes[:, tuple(TEXTS).index(name)]] for name in texts)
        names = strings("label_names") if labels is not None or counts else []
        labelled = None
        if labels is not None:
            uses, label_numbers = stored["label_uses"], stored["label_numbers"]
            _check(uses.shape == (len(names),) and uses.sum() == len(label_numbers) and _in_range(uses, 0, 2**62),
                   "labels")
            ends = numpy.cumsum(uses).tolist()
            labelled = {name: label_numbers[end - use:end] for name, use, end in zip(names, uses.tolist(), ends)
                        if name.startswith(tuple(labels))}
        uses_per_name = None
        if counts:
            every = stored["label_counts"]
            _check(every.shape == (len(names),), "label counts")
            uses_per_name = dict(zip(names, every.tolist()))
        chosen = {"events": None, "event_names": ()}
        if events is not None:
            found, event_names = stored["events"], strings("event_names")
            _check(found.dtype == numpy.int64 and found.ndim == 2 and found.shape[1] == 3
                   and _in_range(found[:, 2] >> 3, 0, len(event_names)), "events")
            kept = [code for code, name in enumerate(event_names) if name.startswith(tuple(events))]
            chosen = {"events": found, "event_names": tuple(event_names)} if len(kept) == len(event_names) \
                else _events_of(found, event_names, kept)
        return Columns(tuple(numbers), tuple(texts), table, text_columns, labelled, strings("problems"),
                       uses_per_name, int(stored["timelines"]), **chosen)


def unpack(blob: bytes) -> Columns:
    """Every column of a ``pack`` blob."""
    return select(blob, tuple(NUMBERS), tuple(TEXTS), ("",), True, ("",))


def _events_of(events: numpy.ndarray, names: List[str], kept: List[int]) -> dict:
    """The events of the labels coded ``kept``, recoded to their place in ``kept``."""
    recode = numpy.full(len(names), -1, numpy.int64)
    recode[kept] = numpy.arange(len(kept))
    code = recode[events[:, 2] >> 3] if len(events) else numpy.empty(0, numpy.int64)
    picked = events[code >= 0]
    picked[:, 2] = (code[code >= 0] << 3) | (picked[:, 2] & 7)
    return {"events": picked, "event_names": tuple(names[code] for code in kept)}


def current(store) -> Optional[bytes]:
    """The store's snapshot when it is current (None: none, or stale)."""
    if store.version < SNAPSHOT_AT:
        return None
    rows = store.execute(CURRENT)
    return rows[0][0] if rows else None


def read(store, numbers: Sequence[str], texts: Sequence[str], labels: Optional[Sequence[str]], counts: bool,
         events: Optional[Sequence[str]]) -> Columns:
    """``derived.read``'s columns, from the snapshot when it is current and whole, else by SQL."""
    blob = current(store)
    if blob is not None:
        try:
            return select(blob, numbers, texts, labels, counts, events)
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, IndexError) as error:
            log.warning("store %s: its columns snapshot is damaged (%s): reading the columns by SQL; the next "
                        "export or update rewrites it", store.name, error)
    return derived.read(store, numbers, texts, labels, counts, events)


def refresh(store) -> bool:
    """Rewrite the snapshot unless it is current (a store before it: nothing); whether it was rewritten."""
    if store.version < SNAPSHOT_AT or store.execute(FRESH):
        return False
    ((count,),) = store.execute(derived.WELL_FORMED_COUNT)
    if count > MOST:  # every column at once would not fit the analysis's memory: read by SQL, view by view
        with store.transaction():
            store.execute("DELETE FROM columns_snapshot")
        return False
    ((version,),) = store.execute(VERSION)  # before the columns: a write made meanwhile leaves it stale
    full = derived.read(store, tuple(NUMBERS), tuple(TEXTS), ("",), True, ("",))
    blob = pack(full)
    with store.transaction():
        store.execute(SAVE, (int(version), blob))
    return True
