"""The expression parser the metric-name checks rely on."""

import pytest
from deploy_files import exported_names, metric_names


@pytest.mark.parametrize(("promql", "names"), [
    ('up{job=~"a|b"} == 0', {"up"}),
    ('sum by (service) (rate(cc_http_requests_total{status=~"5.."}[5m])) / sum by (service) (rate(x_total[5m])) > 0.05',
     {"cc_http_requests_total", "x_total"}),
    ("histogram_quantile(0.99, sum by (le) (rate(a_bucket[$__rate_interval])))", {"a_bucket"}),
    ("max(a) unless on (service) sum(rate(b[5m] offset 1d)) > 0", {"a", "b"}),
    ('sum(increase(c{type="collections.v1.AccountCured"}[1d])) or absent_over_time(d[26h])', {"c", "d"}),
    ("sum(a) by (le) * 0 and ignoring(x) b", {"a", "b"}),
])
def test_metric_names_are_the_selected_series(promql, names):
    assert metric_names(promql) == names


def test_exported_names_include_declared_series_without_samples():
    page = "\n".join([
        "# HELP cc_events_dead_lettered_total Records sent", "# TYPE cc_events_dead_lettered_total counter",
        "# TYPE cc_handler_duration_seconds histogram", 'cc_handler_duration_seconds_bucket{le="0.1"} 1.0',
        "# TYPE cc_outbox_backlog gauge", 'cc_outbox_backlog{service="notifier"} 0.0'])
    assert {"cc_events_dead_lettered_total", "cc_handler_duration_seconds_count", "cc_handler_duration_seconds_bucket",
            "cc_outbox_backlog"} <= exported_names(page)
    assert "cc_outbox_backlog_total" not in exported_names(page)
