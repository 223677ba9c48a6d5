"""Reading the services' /metrics from outside."""

from card_simulator.observe import by_labels, parse_metrics, total

EXPOSITION = """# HELP cc_events_consumed_total Events handled
# TYPE cc_events_consumed_total counter
cc_events_consumed_total{service="notifier",topic="t",type="a"} 3.0
cc_events_consumed_total{service="notifier",topic="u",type="b"} 4.0
cc_events_consumed_created{service="notifier",topic="t",type="a"} 1.7e+09
notifier_contacts_total{channel="sms",outcome="sent"} 2.0
notifier_contacts_total{channel="sms",outcome="sent",extra="x"} 1.0
notifier_pending_contacts 5.0
"""


def test_samples_are_summed_by_name_and_labels():
    samples = parse_metrics(EXPOSITION)
    assert total(samples, "cc_events_consumed_total") == 7.0
    assert total(samples, "cc_events_consumed_total", topic="u") == 4.0
    assert total(samples, "notifier_pending_contacts") == 5.0
    assert by_labels(samples, "notifier_contacts_total", "channel", "outcome") == {("sms", "sent"): 3.0}
