"""Secondary rate limits: the emulator enforces GitHub's, the exporter's pacer stays under them.

Windows are 2 s instead of GitHub's 60 s (emulator ``secondary_window_s``, client
``GITHUB_PACE_WINDOW_S``), so the limits bite within a test's time.
"""
import concurrent.futures
import json
import logging

import pytest
import requests

from dffml_k8s_analysis.github.pacing import LATE, Limits, Pacer, answered

from conftest import ROOT, admin, export, run_cli, served, stored

pytestmark = pytest.mark.serial  # windows of 2 s: run alone, after the parallel part (Makefile)

ISSUE = "/repos/kubernetes/kubernetes/issues/1"
WINDOW = 2.0


def limited_emulator(emulator, **config):
    base = dict(secondary_window_s=WINDOW, secondary_points=30, secondary_cpu_s=1.5, secondary_concurrency=4,
                latency_ms=60, latency_spread_ms=40)
    return emulator(**dict(base, **config))


def pace(monkeypatch, **limits):
    for name, value in dict(dict(window_s=WINDOW), **limits).items():
        monkeypatch.setenv(f"GITHUB_PACE_{name.upper()}", str(value))


# The emulator's secondary limits


def test_points_past_the_window_budget_get_403_with_retry_after_and_later_requests_count(emulator):
    server = emulator(items=20, secondary_window_s=30, secondary_points=5)
    with requests.Session() as http:
        statuses = [http.get(server.url + ISSUE) for _ in range(7)]
    assert [r.status_code for r in statuses] == [200] * 5 + [403, 403]
    assert 1 <= int(statuses[5].headers["Retry-After"]) <= 30
    assert "secondary rate limit" in statuses[5].json()["message"]
    stats = admin(server, "GET", "stats")
    assert stats["secondary_limited"] == 2 and stats["sent_while_limited"] == 1
    assert stats["secondary_by_reason"] == {"points": 2}


def test_response_time_past_the_budget_gets_429_without_retry_after(emulator):
    server = emulator(items=20, secondary_window_s=30, secondary_cpu_s=0.5, latency_ms=200)
    with requests.Session() as http:
        statuses = [http.get(server.url + ISSUE) for _ in range(4)]
    assert [r.status_code for r in statuses] == [200, 200, 429, 429]
    assert "Retry-After" not in statuses[2].headers
    assert admin(server, "GET", "stats")["sent_while_limited"] == 1


def test_too_many_concurrent_requests_get_403(emulator):
    server = emulator(items=20, secondary_concurrency=2, latency_ms=300)
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(lambda _: requests.get(server.url + ISSUE).status_code, range(4)))
    assert statuses.count(200) >= 2 and 403 in statuses
    assert admin(server, "GET", "stats")["secondary_by_reason"]["concurrency"] >= 1


def test_graphql_has_its_own_rate_limit_resource(emulator):
    server = emulator(items=20)
    query = {"query": "query { issues(orderBy: {field: UPDATED_AT}) { CLOSED_EVENT } }",
             "variables": {"owner": "kubernetes", "name": "kubernetes"}}
    answer = requests.post(server.url + "/graphql", json=query)
    assert answer.headers["X-RateLimit-Resource"] == "graphql"
    assert answer.headers["X-RateLimit-Used"] == "1"
    resources = requests.get(server.url + "/rate_limit").json()["resources"]
    assert resources["graphql"]["used"] == 1 and resources["core"]["used"] == 0


# The pacer


def test_an_export_paced_under_the_limits_gets_no_secondary_answer(emulator, tmp_path, monkeypatch):
    server = limited_emulator(emulator, items=4000)
    pace(monkeypatch, rest_points=25, response_s=1.2, concurrency=4)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store, "--workers", "4") == 0
    assert stored(store) == served(server)
    stats = admin(server, "GET", "stats")
    assert stats["secondary_limited"] == 0 and stats["sent_while_limited"] == 0
    assert set(stats["by_status"]) == {"200"}


def test_unpaced_the_same_export_is_limited_and_stops_every_thread_while_limited(emulator, tmp_path, monkeypatch,
                                                                                 caplog):
    server = limited_emulator(emulator, items=4000)
    pace(monkeypatch, rest_points=10**6, response_s=10**6, concurrency=4)
    store = tmp_path / "k.sqlite"
    with caplog.at_level(logging.WARNING):
        assert export(server.url, store, "--workers", "4") == 0
    assert stored(store) == served(server)
    stats = admin(server, "GET", "stats")
    assert stats["secondary_limited"] > 0
    # only requests already on their way when the first refusal came back arrive while limited
    assert stats["sent_while_limited"] <= 3 * len([m for m in caplog.messages if "secondary rate limit" in m])
    waits = [m for m in caplog.messages if m.startswith("secondary rate limit (")]
    assert waits and all("no request for" in m for m in waits)


def test_workers_over_the_concurrency_cap_are_refused(emulator, tmp_path):
    server = emulator(items=50)
    result = run_cli("k8s-analysis", "export", "--repo", "kubernetes/kubernetes", "--base-url", server.url,
                     "--store", str(tmp_path / "k.sqlite"), "--workers", "30", "--quiet")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "k8s-analysis: error: workers 30 is over the concurrency cap of 25 requests in flight "
        "(GITHUB_PACE_CONCURRENCY / GITHUB_PACE_SHARE)"]


def test_a_share_divides_every_budget():
    limits = Limits(share=4)
    assert limits.points("core") == 200 and limits.points("graphql") == 450
    assert limits.response("core") == 21.25 and limits.max_in_flight == 6


def test_limits_from_the_environment_are_checked():
    assert Limits.from_env({"GITHUB_PACE_REST_POINTS": "100", "GITHUB_PACE_SHARE": "2"}).points("core") == 50
    with pytest.raises(ValueError, match="GITHUB_PACE_SHARE must be a number"):
        Limits.from_env({"GITHUB_PACE_SHARE": "two"})
    with pytest.raises(ValueError, match="GITHUB_PACE_WINDOW_S must be positive"):
        Limits.from_env({"GITHUB_PACE_WINDOW_S": "0"})


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_without_retry_after_the_wait_is_a_window_then_doubles_and_is_logged_once(caplog):
    clock = Clock()
    pacer = Pacer(Limits(), clock)
    with caplog.at_level(logging.WARNING):
        assert pacer.secondary_limit(429, None, "/x") == 60
        assert pacer.secondary_limit(429, None, "/x") == 120  # a second answer to a request already sent
        assert len(caplog.messages) == 1 and "no Retry-After" in caplog.messages[0]
        assert pacer._delay(clock.now, "core") == (120, "secondary rate limit")
        clock.now += 121
        assert pacer.secondary_limit(403, 7.0, "/x") == 7
        assert len(caplog.messages) == 2 and "Retry-After 7" in caplog.messages[1]
    pacer.succeeded()
    clock.now += 8
    assert pacer.secondary_limit(429, None, "/x") == 60  # the backoff started over


def test_response_time_is_spent_evenly_never_a_windows_worth_early():
    clock = Clock()
    pacer = Pacer(Limits(window_s=60, rest_points=10**6, response_s=2.0), clock)  # 1/30 s of response a second
    with pacer.request():
        clock.now += 0.6
    # the window's 2 s are far from spent, but 0.6 s of response time take 18 s of the rate (less the tolerance)
    assert pacer._delay(clock.now, "core") == (pytest.approx(18 - 0.6 - LATE * 60), "2 s of response time per window")
    clock.now += 17.5
    assert pacer._delay(clock.now, "core") == (0.0, "")


def test_a_request_running_past_its_estimate_is_charged_as_it_runs():
    clock = Clock()
    pacer = Pacer(Limits(window_s=60, rest_points=10**6, response_s=30.0), clock)  # half a second a second
    with pacer.request():
        clock.now += 3  # charged the estimate (0.5 s) when it left, 2.5 s more since
        assert pacer._delay(clock.now, "core") == (pytest.approx(6 - 3 - LATE * 60), "30 s of response time per window")
    assert pacer._delay(clock.now, "core") == (pytest.approx(3 - LATE * 60), "30 s of response time per window")


def test_a_running_requests_overrun_is_charged_once_not_again_when_it_ends():
    clock = Clock()
    start = clock.now
    pacer = Pacer(Limits(window_s=60, rest_points=10**6, response_s=120.0), clock)  # 2 s of response a second
    with pacer.request():  # charged the estimate, 0.5 s: paid by start + 0.25
        clock.now = start + 3  # 2.5 s past its estimate, charged as it runs: paid by start + 1.5
        with pacer.request():  # so another may leave; its 0.5 s paid by start + 3.25
            answered(0.5)
        clock.now = start + 3.5
        answered(3.5)  # the first one's headers: 3.5 s in all, 0.5 s more than charged by start + 3
    # the first's 3 s by start + 3 paid by start + 1.5; then the second's 0.5 s and the first's last 0.5 s, 1 s at
    # 2 s a second from start + 3: paid by start + 3.5 (not 4.75: its overrun counted while it ran and again at the end)
    assert pacer._delay(clock.now, "core") == (0.0, "")
    assert pacer.paid_until[("response", "core")] == pytest.approx(start + 3.5)


def test_response_time_is_settled_when_the_headers_arrive_not_after_the_body():
    clock = Clock()
    pacer = Pacer(Limits(window_s=60, rest_points=10**6, response_s=30.0), clock)  # half a second a second
    with pacer.request():
        clock.now += 3
        answered(1.0)  # the transport saw the headers after 1 s; reading the body took the other 2
        assert pacer._delay(clock.now, "core") == (0.0, "")  # 1 s paid by t = 2: not 3 s charged as running
        clock.now += 2
    assert pacer._delay(clock.now, "core") == (0.0, "")  # nor charged again at the end
    assert pacer.estimate == pytest.approx(0.8 * 0.5 + 0.2 * 1.0)
    answered(5.0)  # outside a paced request: nothing to charge
    assert pacer._delay(clock.now, "core") == (0.0, "")


def test_an_export_holds_under_limits_counted_over_windows_a_sixth_of_the_pacers(emulator, tmp_path, monkeypatch):
    # GitHub's proportions, time divided by 10: a minute of 6 s, windows of 1 s (GitHub's 10 s) holding
    # a sixth of the minute's budgets, 50 +- 20 ms a request; the pacer told only the minute
    server = emulator(items=4000, secondary_window_s=1, secondary_points=150, secondary_cpu_s=1.5,
                      latency_ms=50, latency_spread_ms=20)
    pace(monkeypatch, window_s=6, rest_points=800, response_s=8.5, concurrency=25)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store, "--workers", "4") == 0
    assert stored(store) == served(server)
    stats = admin(server, "GET", "stats")
    assert stats["secondary_limited"] == 0, stats


def test_points_are_spaced_evenly():
    clock = Clock()
    pacer = Pacer(Limits(window_s=60, rest_points=60), clock)
    with pacer.request():
        pass
    assert pacer._delay(clock.now, "core") == (pytest.approx(1 - LATE * 60), "60 points per window")
    assert pacer._delay(clock.now, "graphql") == (0.0, "")


def test_a_request_woken_late_keeps_its_place_on_the_schedule():
    # a point a second; each waiting request admitted 0.05 s after the moment it was told to wait for (a busy
    # machine wakes threads late): the schedule does not drift by 0.05 s a request, nor does any leave earlier
    # than the tolerance allows
    clock = Clock()
    start = clock.now
    pacer = Pacer(Limits(window_s=60, rest_points=60, response_s=10**6), clock)
    for _ in range(20):
        delay, _reason = pacer._delay(clock.now, "core")
        clock.now += delay + 0.05
        with pacer.request():
            answered(0.0)
    # the first left 0.05 s late on an empty schedule; the 19 others on time (without the tolerance: 0.05 s later each)
    assert pacer.paid_until[("points", "core")] == pytest.approx(start + 0.05 + 20)
    assert pacer._delay(start + 20.05 - LATE * 60 - 0.01, "core")[0] == pytest.approx(0.01)


def test_closers_are_paced_on_graphqls_own_budget(emulator, tmp_path, monkeypatch):
    server = limited_emulator(emulator, items=1500, secondary_graphql_points=4)
    pace(monkeypatch, rest_points=25, response_s=1.2, graphql_points=3, concurrency=4)
    store = tmp_path / "k.sqlite"
    assert export(server.url, store, "--workers", "4", "--closers") == 0
    stats = admin(server, "GET", "stats")
    assert stats["by_route"]["graphql"] >= 10  # more than one window's GraphQL budget
    assert stats["secondary_limited"] == 0 and stats["graphql_remaining"] == 5000 - stats["by_route"]["graphql"]


def test_the_export_benchmark_runs_at_its_smoke_size():
    result = run_cli("python", str(ROOT / "bench" / "export.py"), "--smoke", "--windows", "10,60", timeout=600,
                     env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figures["windows"]["new"]) == {"10", "60"}
    for run in figures["windows"]["new"].values():
        assert run["secondary_limited"] == 0 and not run["timed_out"] and run["requests"] >= 16
        assert run["ratio"] == pytest.approx(run["seconds"] / run["floor"], rel=0.1)
