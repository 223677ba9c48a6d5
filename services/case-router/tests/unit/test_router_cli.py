"""`case-router strategy check FILE`: exit status and the errors an analyst sees."""

import pytest

from case_router.domain.strategy import DEFAULT_STRATEGY
from case_router.main import run


def test_a_valid_strategy_checks_clean(capsys):
    with pytest.raises(SystemExit) as exited:
        run(["strategy", "check", str(DEFAULT_STRATEGY)])
    assert exited.value.code == 0
    assert "strategy default version 1" in capsys.readouterr().out


def test_a_broken_strategy_fails_with_file_line_and_field(tmp_path, capsys):
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: s\nversion: 1\nrules:\n  - id: a\n    stage: field\n    actions:\n"
                      "      - {kind: field-visit, collectors: 1}\n")
    with pytest.raises(SystemExit) as exited:
        run(["strategy", "check", str(broken)])
    assert exited.value.code == 1
    assert f"{broken}:7: rules[0].actions[0].collectors:" in capsys.readouterr().err


def test_a_missing_file_is_reported(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        run(["strategy", "check", str(tmp_path / "absent.yaml")])
    assert exited.value.code == 1 and "absent.yaml:0" in capsys.readouterr().err
