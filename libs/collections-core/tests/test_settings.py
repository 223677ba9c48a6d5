import pytest
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from collections_core.settings import ServiceSettings


class DetectorLike(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TESTSVC_", extra="ignore", frozen=True)
    service_name: str = "overdue-detector"


def test_reads_its_own_prefix(monkeypatch):
    monkeypatch.setenv("TESTSVC_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    monkeypatch.setenv("TESTSVC_HTTP_PORT", "8101")
    monkeypatch.setenv("OTHER_HTTP_PORT", "9999")
    settings = DetectorLike()
    assert settings.kafka_bootstrap_servers == "127.0.0.1:19092"
    assert settings.http_port == 8101


def test_derived_names_follow_the_service():
    settings = DetectorLike()
    assert settings.dead_letter_topic == "overdue-detector.dlq.v1"
    assert settings.source == "/card-collections/overdue-detector"
    assert settings.group_id == "overdue-detector"
    assert settings.effective_database_url == "sqlite:///var/overdue-detector.db"


def test_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("TESTSVC_HTTP_PORT", "70000")
    with pytest.raises(ValidationError):
        DetectorLike()
