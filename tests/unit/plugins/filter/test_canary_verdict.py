"""The canary_verdict filter judges a canary from haproxy_info readings."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.zerodowntime.deploy.plugins.filter.canary import canary_verdict, figures, soak_rtime


def reading(**servers):
    """A haproxy_info result for backend app: server -> (2xx, 5xx, rtime ms)."""
    return {
        "backends": {
            "app": {
                "servers": {
                    name: {"hrsp_1xx": 0, "hrsp_2xx": ok, "hrsp_3xx": 0, "hrsp_4xx": 0,
                           "hrsp_5xx": bad, "hrsp_other": 0, "rtime": rtime}
                    for name, (ok, bad, rtime) in servers.items()
                }
            }
        }
    }


BEFORE = [reading(app1=(1000, 0, 5), app2=(1000, 0, 5), app3=(1000, 0, 5))]


def haproxy_rtime(samples, state=(0, 0), window=512):
    """HAProxy's per-server response-time average (stats.c, swrate_add and
    swrate_avg) after ``samples`` (ms); returns (rtime, (sum, count))."""
    total, count = state
    for sample in samples:
        total = total - (total + window - 1) // window + sample
        count += 1
    return (total // min(count, window) if count else 0), (total, count)


def test_a_healthy_canary_passes():
    after = [reading(app1=(1100, 0, 5), app2=(2000, 1, 5), app3=(2000, 0, 5))]
    verdict = canary_verdict(BEFORE, after, "app", ["app1"])
    assert verdict["verdict"] == "pass", verdict
    assert verdict["canary"] == {"requests": 100, "errors_5xx": 0, "ratio_5xx": 0.0, "rtime_ms": 5.0}
    assert verdict["stable"]["requests"] == 2001
    assert verdict["stable"]["errors_5xx"] == 1


def test_a_canary_answering_5xx_fails_with_its_figures():
    after = [reading(app1=(1080, 20, 6), app2=(2000, 0, 5), app3=(2000, 0, 5))]
    verdict = canary_verdict(BEFORE, after, "app", ["app1"])
    assert verdict["verdict"] == "fail"
    assert verdict["canary"]["ratio_5xx"] == 0.2
    assert any("above the limit" in r for r in verdict["reasons"])


def test_a_5xx_ratio_under_the_limit_still_fails_when_far_above_the_stable_servers():
    after = [reading(app1=(1096, 4, 6), app2=(2000, 0, 5), app3=(2000, 0, 5))]
    verdict = canary_verdict(BEFORE, after, "app", ["app1"], max_5xx_ratio=0.05, margin=0.01)
    assert verdict["verdict"] == "fail"
    assert verdict["reasons"] == [
        "canary 5xx ratio 4.00% is above the stable servers' 0.00% plus the margin 1.00%"
    ]


def test_a_slow_canary_fails_on_response_time():
    # 100 requests of 300 ms move HAProxy's average of the last 512 from 5 to 57.
    after = [reading(app1=(1100, 0, 57), app2=(2000, 0, 5), app3=(2000, 0, 5))]
    verdict = canary_verdict(BEFORE, after, "app", ["app1"])
    assert verdict["verdict"] == "fail"
    assert verdict["canary"]["rtime_ms"] == pytest.approx(300, abs=5)
    assert f"canary response time {verdict['canary']['rtime_ms']} ms" in verdict["reasons"][0]


def test_a_few_milliseconds_slower_is_not_a_failure():
    # 100 requests of 12 ms move the canary's average from 5 to 6.
    after = [reading(app1=(1100, 0, 6), app2=(2000, 0, 4), app3=(2000, 0, 4))]
    assert canary_verdict(BEFORE, after, "app", ["app1"])["verdict"] == "pass"


@pytest.mark.parametrize("history", [0, 80, 3000], ids=["fresh", "short-history", "full-window"])
def test_the_soak_mean_is_taken_out_of_haproxys_sliding_average(history):
    rtime_before, state = haproxy_rtime([10] * history)
    rtime_after = haproxy_rtime([310] * 70, state)[0]
    assert soak_rtime(rtime_before, history, rtime_after, history + 70) == pytest.approx(310, rel=0.05)


def test_a_canary_slow_enough_to_fail_is_caught_even_when_haproxys_average_hides_it():
    # After 3000 requests at 10 ms, 70 at 60 ms move HAProxy's average only
    # to 16 ms, under the stable 10 ms + 20 ms: the soak's own mean is 60.
    canary_before, state = haproxy_rtime([10] * 3000)
    canary_after = haproxy_rtime([60] * 70, state)[0]
    assert canary_after < 30
    before = [reading(app1=(3000, 0, canary_before), app2=(3000, 0, 10))]
    after = [reading(app1=(3070, 0, canary_after), app2=(3500, 0, 10))]
    verdict = canary_verdict(before, after, "app", ["app1"])
    assert verdict["verdict"] == "fail", verdict
    assert verdict["canary"]["rtime_ms"] == pytest.approx(60, rel=0.1)


def test_no_new_request_gives_no_response_time():
    assert soak_rtime(10, 500, 10, 500) is None


def test_too_few_canary_requests_are_inconclusive_never_a_pass():
    after = [reading(app1=(1010, 0, 5), app2=(2000, 0, 5), app3=(2000, 0, 5))]
    verdict = canary_verdict(BEFORE, after, "app", ["app1"], min_requests=50)
    assert verdict["verdict"] == "inconclusive"
    assert "served 10 requests" in verdict["reasons"][0]


def test_counters_are_summed_over_every_balancer():
    before = BEFORE * 2
    after = [reading(app1=(1030, 0, 5), app2=(2000, 0, 5), app3=(2000, 0, 5))] * 2
    assert figures(before, after, "app", ["app1"])["requests"] == 60
    assert canary_verdict(before, after, "app", ["app1"], min_requests=50)["verdict"] == "pass"


def test_a_reload_that_resets_counters_does_not_count_negative_requests():
    after = [reading(app1=(40, 0, 5), app2=(50, 0, 5), app3=(50, 0, 5))]
    assert figures(BEFORE, after, "app", ["app1"])["requests"] == 0


@pytest.mark.parametrize(
    ("before", "after", "backend", "canary", "message"),
    [
        (BEFORE, [], "app", ["app1"], "equal, non-zero length"),
        (BEFORE, BEFORE, "nosuch", ["app1"], "backend 'nosuch'"),
        (BEFORE, BEFORE, "app", ["app9"], "server 'app9'"),
    ],
)
def test_malformed_input_is_refused_with_a_clear_message(before, after, backend, canary, message):
    with pytest.raises(AnsibleFilterError, match=message):
        canary_verdict(before, after, backend, canary)
