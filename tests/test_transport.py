"""The export against GitHub's transport gone wrong: redirects, bombs, trickles, malformed answers.

Real hostile servers on 127.0.0.1 (tests/hostile.py), the emulator, the CLI in-process and as a process.
"""
import functools
import json
import os
import re
import subprocess
import sys
import time
import zlib

import pytest

from dffml_k8s_analysis.github.errors import GitHubError
from dffml_k8s_analysis.store import open_store

from conftest import REPO, ROOT, VENV_BIN, admin, export, served, stored
from hostile import serving

ISSUES = f"/repos/{REPO}/issues"
ITEM = {"number": 1, "updated_at": "2020-01-01T00:00:00Z", "title": "x"}


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err.removeprefix("k8s-analysis: error: ")


@pytest.mark.parametrize("status", [301, 302, 307])
def test_a_renamed_repositorys_redirect_is_followed_with_its_query(emulator, tmp_path, status):
    server = emulator(items=450, moved_from="kubernetes/old-name", moved_status=status)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store, "--repo", "kubernetes/old-name") == 0
    assert stored(store) == served(server)
    by_route = admin(server, "GET", "stats")["by_route"]
    assert by_route["issues_list_by_id"] >= 5 and by_route["issues_list"] >= 1  # followed, not refetched
    admin(server, "POST", "touch", count=20, seed=3)
    assert export(server.url, store, "--repo", "kubernetes/old-name", "--update") == 0
    assert stored(store) == served(server)


def test_a_redirect_to_another_host_is_refused_and_the_token_never_sent_there(emulator, tmp_path, capsys,
                                                                              monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "r3d1r" * 8)
    elsewhere = emulator(items=10)
    other = elsewhere.url.replace("127.0.0.1", "localhost")

    def answer(handler):
        handler.send(302, Location=other + handler.path)

    with serving(answer) as server:
        assert export(server.url, tmp_path / "k.sqlite") == 1
    assert one_line(capsys) == (f"{server.url} redirected {ISSUES} to {other}, another host: not followed "
                                "(check --base-url)")
    assert admin(elsewhere, "GET", "stats")["requests"] == 0
    assert not (tmp_path / "k.sqlite").exists()


def test_a_redirect_loop_is_one_line(tmp_path, capsys):
    def answer(handler):
        handler.send(307, Location=handler.path)

    with serving(answer) as server:
        assert export(server.url, tmp_path / "k.sqlite") == 1
    assert one_line(capsys) == f"{server.url} redirected {ISSUES} more than 5 times: not followed"


def test_a_link_to_another_host_is_refused(emulator, tmp_path, capsys):
    elsewhere = emulator(items=10)
    other = elsewhere.url.replace("127.0.0.1", "localhost")

    def answer(handler):
        page = [dict(ITEM, number=n) for n in (1, 2)]
        handler.send(200, json.dumps(page).encode(), Link=f'<{other}{ISSUES}?after=x>; rel="next"')

    with serving(answer) as server:
        assert export(server.url, tmp_path / "k.sqlite") == 1
    assert one_line(capsys) == (f"{server.url} pointed to {other}, another host: not followed "
                                "(the token is only sent to the API root --base-url names)")
    assert admin(elsewhere, "GET", "stats")["requests"] == 0


@pytest.mark.parametrize("cycle", [1, 3])
def test_next_links_that_come_back_to_a_page_already_read_are_one_line_not_an_endless_walk(tmp_path, capsys, cycle):
    def answer(handler):  # the page at cursor K links to K+1 of ``cycle`` cursors; the 50th answer ends (were it followed)
        cursor = int(handler.path.partition("after=")[2] or 0)
        page = [dict(ITEM, number=n) for n in (1, 2)]
        link = f'<{server.url}{ISSUES}?after={(cursor + 1) % cycle}>; rel="next"' if len(server.seen) < 50 else ""
        handler.send(200, json.dumps(page).encode(), Link=link)

    with serving(answer) as server:
        assert export(server.url, tmp_path / "k.sqlite") == 1
    assert one_line(capsys) == (f"{server.url} linked {ISSUES} back to a page already read "
                                f"(after={1 % cycle}): not followed")
    assert len(server.seen) < 10  # each page read once (50 were, walking the cycle)


PEAK_OF_CHILD = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
                 "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")


def test_a_gzip_bomb_is_refused_in_one_line_within_bounded_memory(tmp_path):
    squeeze = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip
    zeros = b"0" * 2**20
    bomb = b"".join([squeeze.compress(b"[")] + [squeeze.compress(zeros) for _ in range(1024)] + [squeeze.flush()])

    def answer(handler):  # 1 GiB of JSON once decompressed, 1 MiB on the wire
        handler.send(200, bomb, Content_Encoding="gzip", Content_Type="application/json")

    with serving(answer) as server:
        # started by a small launcher that reports its child's peak memory: a process started straight from
        # this one inherits its peak (Linux keeps the high-water mark across exec), TensorFlow's in a loaded worker
        result = subprocess.run([sys.executable, "-c", PEAK_OF_CHILD, str(VENV_BIN / "k8s-analysis"), "export",
                                 "--repo", REPO, "--base-url", server.url, "--store", str(tmp_path / "k.sqlite"),
                                 "--quiet"], cwd=str(ROOT), capture_output=True, text=True, timeout=300)
    *lines, peak = result.stderr.splitlines()
    assert result.returncode == 1, result.stderr
    assert lines == [f"k8s-analysis: error: {server.url} answered {ISSUES} with more than 64 MiB (decompressed): refused"]
    assert int(peak) < 400 * 1024  # KiB: the 64 MiB read and no more (1 GiB would not fit)


ONE_SECOND = ("import sys; from dffml_k8s_analysis.github import transport; transport.ANSWER_S = 1; "
              "from dffml_k8s_analysis.cli import main; sys.exit(main.main(sys.argv[1:]))")


def test_a_body_that_trickles_times_out(tmp_path):
    def answer(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        for _ in range(500):  # a byte every 2 s: each read gets one, the whole would take 2,000 s (timeout=120)
            try:
                handler.wfile.write(b" ")
                handler.wfile.flush()
            except OSError:  # the client gave up
                return
            time.sleep(2)

    with serving(answer) as server:
        result = subprocess.run([sys.executable, "-c", ONE_SECOND, "export", "--repo", REPO, "--base-url", server.url,
                                 "--store", str(tmp_path / "k.sqlite"), "--quiet"], cwd=str(ROOT),
                                capture_output=True, text=True, timeout=120, env=dict(os.environ, GITHUB_TIMEOUT="3"))
    assert (result.returncode, result.stderr) == (75, (  # the deadline: the longer of ANSWER_S and GITHUB_TIMEOUT
        f"k8s-analysis: error: {server.url} sent its answer to {ISSUES} too slowly (not whole within 3 s): retry "
        "later\n"))


def malformed(body, status=200, content_type="application/json"):
    """An answer for every listing request but the plan's probes (per_page=1), which get one good item."""
    def answer(handler):
        if "per_page=1&" in handler.path or handler.path.endswith("per_page=1"):
            return handler.send(200, json.dumps([ITEM]).encode(), Content_Type="application/json")
        handler.send(status, body if isinstance(body, bytes) else json.dumps(body).encode(),
                     Content_Type=content_type)
    return answer


ANSWERS = {
    "truncated JSON": (malformed(b'[{"number": 1, "updated_at": "2020-'), 75,
                       "{url} cut its answer to {path} short (invalid JSON): retry later"),
    "HTML with 200": (malformed(b"<html><body>Sign in to the proxy</body></html>", content_type="text/html"), 1,
                      "{url} answered {path} with a body that is not JSON (text/html): is it a GitHub API root "
                      "(https://api.github.com, https://HOST/api/v3)?"),
    "an object": (malformed({"message": "ok"}), 1, "GitHub answered {path} with dict, not a list of issues"),
    "a string number": (malformed([dict(ITEM, number="1")]), 1,
                        "GitHub answered {path} with an item whose number is not a whole number from 1 to 2147483647: '1'"),
    "no number": (malformed([{"updated_at": ITEM["updated_at"]}]), 1,
                  "GitHub answered {path} with an item whose number is not a whole number from 1 to 2147483647: 'None'"),
    "a negative number": (malformed([dict(ITEM, number=-5)]), 1,
                          "GitHub answered {path} with an item whose number is not a whole number from 1 to 2147483647: '-5'"),
    "a bad updated_at": (malformed([dict(ITEM, updated_at=7)]), 1,
                         "GitHub answered {path} with item #1 with an updated_at not like 2024-01-31T12:00:00Z"),
    "a number": (malformed(17), 1, "GitHub answered {path} with int, not a list of issues"),
    "null": (malformed(None), 1, "{url} answered {path} with null, which GitHub does not"),
    "an empty body": (malformed(b""), 1, "{url} answered {path} with an empty body, which GitHub does not"),
    "a number past 32 bits": (malformed([dict(ITEM, number=2**70)]), 1,
                              "GitHub answered {path} with an item whose number is not a whole number from 1 to "
                              "2147483647: '1180591620717411303424'"),
    "an updated_at years ahead": (malformed([dict(ITEM, updated_at="9999-12-31T23:59:59Z")]), 1,
                                  "GitHub answered {path} with item #1 updated at 9999-12-31T23:59:59Z, later than "
                                  "its own clock"),
    "invalid UTF-8": (malformed(b'[{"number": 1, "title": "\xff\xfe"}]'), 1,
                      "{url} answered {path} with JSON that cannot be read (UnicodeDecodeError): is it a GitHub API "
                      "root (https://api.github.com, https://HOST/api/v3)?"),
    "a 5,000-digit number": (malformed(b'[{"number": ' + b"9" * 5000 + b"}]"), 1,
                             "{url} answered {path} with JSON that cannot be read (ValueError): is it a GitHub API "
                             "root (https://api.github.com, https://HOST/api/v3)?"),
}


@pytest.mark.parametrize("name", ANSWERS)
def test_every_malformed_answer_is_one_line_and_nothing_malformed_is_stored(tmp_path, capsys, name):
    answer, status, message = ANSWERS[name]
    store = tmp_path / "k.sqlite"
    with serving(answer) as server:
        assert export(server.url, store) == status
    assert one_line(capsys) == message.format(url=server.url, path=ISSUES)
    with open_store(store) as db:
        assert db.count()["items"] == 0


def test_a_token_in_githubs_error_text_is_scrubbed(tmp_path, monkeypatch):
    secret = "ghp_" + "3ch0" * 9

    def answer(handler):
        token = handler.headers["Authorization"].split()[-1]
        handler.send(422, json.dumps({"message": f"Validation Failed for {token}"}).encode(),
                     Content_Type="application/json")

    with serving(answer) as server:
        result = subprocess.run([str(VENV_BIN / "k8s-analysis"), "-v", "export", "--repo", REPO, "--base-url",
                                 server.url, "--store", str(tmp_path / "k.sqlite"), "--quiet"], cwd=str(ROOT),
                                capture_output=True, text=True, timeout=60, env=dict(os.environ, GITHUB_TOKEN=secret))
    assert result.returncode == 1
    assert f"error: GitHub answered 422 to {ISSUES}: Validation Failed for ***" in result.stderr
    assert secret not in result.stdout + result.stderr


@pytest.mark.parametrize("spelling", [lambda t: t.replace("_", "%5F"), lambda t: "".join(f"%{ord(c):02x}" for c in t),
                                      lambda t: t.upper()], ids=["one character encoded", "all encoded", "upper case"])
def test_no_spelling_of_the_token_in_githubs_error_text_is_printed(tmp_path, monkeypatch, capsys, spelling):
    secret = "ghp_" + "3ch0" * 9
    monkeypatch.setenv("GITHUB_TOKEN", secret)

    def answer(handler):
        token = handler.headers["Authorization"].split()[-1]
        handler.send(422, json.dumps({"message": f"no such ref {spelling(token)}"}).encode(),
                     Content_Type="application/json")

    with serving(answer) as server:
        assert export(server.url, tmp_path / "k.sqlite") == 1
    assert one_line(capsys) == f"GitHub answered 422 to {ISSUES}: no such ref ***"


def limited_once(status=403, **headers):
    """A server whose first answer is a rate limit (``status``) with ``headers``, every later one an empty
    listing; the moments of the requests in ``server.times``."""
    def answer(handler):
        handler.server.times.append(time.monotonic())
        if len(handler.server.times) == 1:
            message = {"message": "You have exceeded a secondary rate limit" if "Retry_After" in headers
                       else "API rate limit exceeded"}
            return handler.send(status, json.dumps(message).encode(), Content_Type="application/json", **headers)
        handler.send(200, b"[]", Content_Type="application/json")
    return answer


UNREADABLE_WAITS = {"Retry-After inf": dict(Retry_After="inf"), "Retry-After nan": dict(Retry_After="nan"),
                    "Retry-After 1e9": dict(Retry_After="1e9"), "Retry-After -5": dict(Retry_After="-5"),
                    "a reset of nan": dict(X_RateLimit_Remaining="0", X_RateLimit_Reset="nan"),
                    "a reset past": dict(X_RateLimit_Remaining="0", X_RateLimit_Reset="1000")}


@pytest.mark.parametrize("name", UNREADABLE_WAITS)
def test_a_rate_limit_with_an_unreadable_wait_is_backed_off_like_one_without(tmp_path, monkeypatch, name):
    monkeypatch.setenv("GITHUB_PACE_WINDOW_S", "1")  # the backoff without Retry-After: one window
    answer = limited_once(**UNREADABLE_WAITS[name])
    with serving(answer) as server:
        server.times = []
        assert export(server.url, tmp_path / "k.sqlite") == 0
    assert server.times[1] - server.times[0] >= 0.95  # not sent again at once, nor never


@pytest.mark.parametrize("status", [403, 429])
@pytest.mark.parametrize("after", ["9" * 400, "Wed, 21 Oct 2099 07:28:00 GMT", "7200"])
def test_a_retry_after_longer_than_githubs_limits_last_is_one_line_to_rerun_later(tmp_path, capsys, after, status):
    # 429: urllib3 slept out a Retry-After itself, unlogged, outside the pacer (hours, here)
    with serving(limited_once(status, Retry_After=after)) as server:
        server.times = []
        assert export(server.url, tmp_path / "k.sqlite") == 75
    assert re.fullmatch(r"GitHub asked for a wait of \d+ s before /repos/kubernetes/kubernetes/issues "
                        r"\(Retry-After\), longer than its limits last: rerun later", one_line(capsys))
    assert len(server.times) == 1


def trickle(handler):
    handler.send_response(200)
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    for _ in range(500):
        try:
            handler.wfile.write(b" ")
            handler.wfile.flush()
        except OSError:
            return
        time.sleep(1)


@functools.lru_cache(maxsize=1)
def gzip_bomb(mib: int) -> bytes:
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join([squeeze.compress(b"{")] + [squeeze.compress(b" " * 2**20) for _ in range(mib)] + [squeeze.flush()])


ITEM_PATH = f"/repos/{REPO}/issues/1"
BOT_ANSWERS = {  # what the bot's PyGithub client met -> (the answer, the one line, transient)
    "a redirect to another host": (lambda h: h.send(301, Location="http://localhost:1" + h.path),
                                   "{url} redirected {path} to http://localhost:1, another host: not followed "
                                   "(check --base-url)", False),
    "a redirect loop": (lambda h: h.send(302, Location=h.path), "{url} redirected {path} more than 5 times: not followed",
                        False),
    "a gzip bomb": (lambda h: h.send(200, gzip_bomb(100), Content_Encoding="gzip"),
                    "{url} answered {path} with more than 64 MiB (decompressed): refused", False),
    "HTML with 200": (lambda h: h.send(200, b"<html>Sign in</html>", Content_Type="text/html"),
                      "{url} answered {path} with a body that is not JSON (text/html): is it a GitHub API root "
                      "(https://api.github.com, https://HOST/api/v3)?", False),
    "truncated JSON": (lambda h: h.send(200, b'{"number": 1, "body": "x'), "{url} cut its answer to {path} short "
                       "(invalid JSON): retry later", True),
    "a trickle": (trickle, "{url} sent its answer to {path} too slowly (not whole within 2 s): retry later", True),
    "a Retry-After that is not a time": (lambda h: h.send(403, b'{"message": "You have exceeded a secondary rate limit"}',
                                                          Retry_After="1e9"),
                                         "GitHub answered 403 to {repo}#1: You have exceeded a secondary rate limit; "
                                         "waiting 60 s", True),
    "a Retry-After with another message": (lambda h: h.send(403, b'{"message": "slow down"}', Retry_After="1e9"),
                                           "GitHub answered 403 to {repo}#1: slow down; waiting 60 s", True),
    "202 to every GET": (lambda h: h.send(202, b"{}"), "{url} answered 202 to GET {path}, which GitHub does only "
                         "for statistics still computing: retry later", True),
}


@pytest.mark.parametrize("name", BOT_ANSWERS)
def test_the_bots_github_calls_keep_the_same_bounds_in_one_line(monkeypatch, name):
    from dffml_k8s_analysis.bot import reconcile
    from dffml_k8s_analysis.github import transport

    monkeypatch.setattr(reconcile, "GITHUB_TIMEOUT", 2)
    monkeypatch.setattr(transport, "ANSWER_S", 1.0)  # the deadline: the longer of it and the timeout
    answer, message, transient = BOT_ANSWERS[name]
    with serving(answer) as server:
        started = time.monotonic()
        with pytest.raises(GitHubError) as refused:
            reconcile.issue_body_and_labels(server.url, REPO, 1)
    assert (str(refused.value), refused.value.transient) == (message.format(url=server.url, path=ITEM_PATH, repo=REPO),
                                                             transient)
    assert time.monotonic() - started < 30


# A whole answer within its deadline, headers within HTTP clients' limits --------------------------------------

def trickled(part):
    """An answer whose headers (``part`` "head": one header line without end) or body ("body") come a byte every
    0.2 s: each read gets a byte, the whole never comes."""
    def answer(handler):
        if part == "head":
            start, slow = b"HTTP/1.1 200 OK\r\nX-Trickle: ", b"a"
        else:
            start, slow = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9000\r\n\r\n[", b" "
        try:
            handler.wfile.write(start)
            for _ in range(3000):
                handler.wfile.write(slow)
                handler.wfile.flush()
                time.sleep(0.2)
        except OSError:  # the client gave up
            return
    return answer


def ended_within(seconds, call):
    """``call()``'s exception, raised in a daemon thread that must end within ``seconds``."""
    import threading

    caught = []

    def run():
        try:
            call()
        except BaseException as error:  # handed to the test
            caught.append(error)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    assert caught, "ended without an error"
    return caught[0]


def test_an_export_whose_status_line_and_headers_trickle_is_cut_at_the_answers_deadline(tmp_path):
    with serving(trickled("head")) as server:
        started = time.monotonic()
        result = subprocess.run([sys.executable, "-c", ONE_SECOND, "export", "--repo", REPO, "--base-url", server.url,
                                 "--store", str(tmp_path / "k.sqlite"), "--quiet"], cwd=str(ROOT),
                                capture_output=True, text=True, timeout=90, env=dict(os.environ, GITHUB_TIMEOUT="1"))
        took = time.monotonic() - started
    assert (result.returncode, result.stderr) == (75, (
        f"k8s-analysis: error: {server.url} did not send a whole answer within 1 s, 5 times: retry later\n"))
    assert took < 30  # 5 tries of 1 s, urllib3's backoffs between them (7 s), the start of the process
    assert len(server.seen) == 5


@pytest.mark.parametrize("part", ["head", "body"])
def test_a_graphql_answer_that_trickles_is_cut_at_its_deadline(monkeypatch, part):
    from dffml_k8s_analysis.github import client, transport

    monkeypatch.setattr(transport, "ANSWER_S", 1.0)
    with serving(trickled(part)) as server:
        api = client.api(server.url, timeout=1)
        error = ended_within(30, lambda: client.graphql(api, client.Budget(), "{ viewer { login } }", {}))
    assert isinstance(error, GitHubError) and error.transient
    if part == "head":
        assert str(error) == f"{server.url} did not send a whole answer within 1 s, 5 times: retry later"
    else:
        assert str(error) == f"{server.url} sent its answer to /graphql too slowly (not whole within 1 s): retry later"


def test_the_bots_call_whose_headers_trickle_is_cut_at_its_deadline_and_leaves_no_socket(monkeypatch):
    from dffml_k8s_analysis.bot import reconcile
    from dffml_k8s_analysis.github import transport

    monkeypatch.setattr(transport, "ANSWER_S", 1.0)
    monkeypatch.setattr(reconcile, "GITHUB_TIMEOUT", 1)
    before = len(os.listdir("/proc/self/fd"))
    with serving(trickled("head")) as server:
        error = ended_within(30, lambda: reconcile.issue_body_and_labels(server.url, REPO, 1))
    assert isinstance(error, GitHubError) and error.transient
    assert str(error) == f"GitHub for {REPO}#1 did not send a whole answer within 1 s, 3 times: retry later"
    assert len(server.seen) == 3  # the bot's tries (GITHUB_RETRIES + 1)
    import gc
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before


BIG_HEADERS = {"a header line over 64 KiB": dict(X_Padding="x" * 70_000),
               "more than 100 headers": {f"X_H{n}": "1" for n in range(120)}}


@pytest.mark.parametrize("name", BIG_HEADERS)
def test_headers_past_http_clients_limits_are_one_line_not_retried_on_both_paths(tmp_path, capsys, name):
    from dffml_k8s_analysis.bot import reconcile

    reason = "a header line over 64 KiB" if "line" in name else "more than 100 headers"
    with serving(lambda h: h.send(200, b"[]", Content_Type="application/json", **BIG_HEADERS[name])) as server:
        assert export(server.url, tmp_path / "k.sqlite") == 1
        assert one_line(capsys) == (f"{server.url}'s answer to {ISSUES} had {reason}, past what HTTP clients read: "
                                    "refused")
        assert len(server.seen) == 1  # a rerun meets it again: not retried
        with pytest.raises(GitHubError) as refused:
            reconcile.issue_body_and_labels(server.url, REPO, 1)
    assert (str(refused.value), refused.value.transient) == (
        f"{server.url}'s answer to {ITEM_PATH} had {reason}, past what HTTP clients read: refused", False)
