"""The canary_verdict filter judges a canary from haproxy_info readings."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.zerodowntime.deploy.plugins.filter.canary import canary_verdict, figures


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


def test_a_healthy_canary_passes():
    after = [reading(app1=(1100, 0, 6), app2=(2000, 1, 5), app3=(2000, 0, 5))]
    verdict = canary_verdict(BEFORE, after, "app", ["app1"])
    assert verdict["verdict"] == "pass", verdict
    assert verdict["canary"] == {"requests": 100, "errors_5xx": 0, "ratio_5xx": 0.0, "rtime_ms": 6.0}
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
    after = [reading(app1=(1100, 0, 320), app2=(2000, 0, 8), app3=(2000, 0, 9))]
    verdict = canary_verdict(BEFORE, after, "app", ["app1"])
    assert verdict["verdict"] == "fail"
    assert "response time 320.0 ms" in verdict["reasons"][0]


def test_a_few_milliseconds_slower_is_not_a_failure():
    after = [reading(app1=(1100, 0, 12), app2=(2000, 0, 4), app3=(2000, 0, 4))]
    assert canary_verdict(BEFORE, after, "app", ["app1"])["verdict"] == "pass"


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
