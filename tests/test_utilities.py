"""The small utilities: atomic writes and GitHub's time in UTC."""
import datetime
import pathlib
import threading

import pytest

from dffml_k8s_analysis import atomic, timeutil


def test_two_writers_of_one_file_never_share_a_temporary_file(tmp_path):
    target = tmp_path / "report.html"
    both_writing = threading.Barrier(2, timeout=10)
    errors = []

    def write(text):
        def slow(temporary: pathlib.Path):
            temporary.write_text(text)
            both_writing.wait()  # each has written its temporary file before either moves it into place
        try:
            atomic.atomic_write(target, slow)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=write, args=(text,)) for text in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read_text() in ("one", "two")
    assert [path.name for path in tmp_path.iterdir()] == ["report.html"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "numbers.json"
    atomic.write_text(target, "old")

    def fail(temporary: pathlib.Path):
        temporary.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic.atomic_write(target, fail)
    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["numbers.json"]


def test_the_temporary_file_keeps_the_suffix_a_writer_may_choose_its_format_by(tmp_path):
    seen = []
    atomic.atomic_write(tmp_path / "chart.svg", lambda temporary: seen.append(temporary.suffix) or temporary.write_text("x"))
    assert seen == [".svg"] and (tmp_path / "chart.svg").read_text() == "x"


def test_github_times_are_utc_and_aware():
    moment = timeutil.parse("2020-02-29T23:59:59Z")
    assert moment == datetime.datetime(2020, 2, 29, 23, 59, 59, tzinfo=datetime.timezone.utc)
    assert timeutil.format(moment.astimezone(datetime.timezone(datetime.timedelta(hours=-7)))) == "2020-02-29T23:59:59Z"
    assert timeutil.epoch("2020-02-29T23:59:59Z") == int(moment.timestamp())
    assert timeutil.from_epoch(timeutil.epoch("2020-02-29T23:59:59Z")) == "2020-02-29T23:59:59Z"
    assert timeutil.shift("2020-02-29T23:59:59Z", datetime.timedelta(seconds=1)) == "2020-03-01T00:00:00Z"
    assert timeutil.now().tzinfo is not None


@pytest.mark.parametrize("text", ["2020-02-30T00:00:00Z", "2020-01-01 00:00:00", "", "2020-01-01T00:00:00+00:00"])
def test_what_is_no_github_time_is_a_value_error(text):
    with pytest.raises(ValueError):
        timeutil.parse(text)
    with pytest.raises(ValueError):
        timeutil.epoch(text)
