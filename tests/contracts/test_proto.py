"""The event contracts: generated Python is current, buf lint and breaking pass."""

from __future__ import annotations

import subprocess
import sys

from support import ROOT

BUF = ROOT / "proto" / "node_modules" / ".bin" / "buf"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT / "proto", capture_output=True, text=True)


def test_generated_python_is_not_stale():
    result = run(sys.executable, "generate.py", "--check")
    assert result.returncode == 0, result.stderr


def test_buf_lint_passes():
    assert BUF.exists(), "buf is missing: `make tools` installs it from proto/package.json"
    result = run(str(BUF), "lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_breaking_change_against_the_released_baseline():
    result = run(str(BUF), "breaking", "--against", "buf-baseline.binpb")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_design_event_type_is_declared():
    from collections_core.codec import TypeRegistry

    declared = set(TypeRegistry.of_contracts().by_type)
    design = {
        "corebanking.v1.CustomerUpserted", "corebanking.v1.AccountOpened", "corebanking.v1.AccountStatusChanged",
        "corebanking.v1.StatementIssued", "corebanking.v1.PaymentPosted", "corebanking.v1.PaymentReversed",
        "corebanking.v1.BusinessDayClosed",
        "collections.v1.AccountBecameDelinquent", "collections.v1.DelinquencyUpdated", "collections.v1.AccountCured",
        "collections.v1.ContactRequested", "collections.v1.ContactCancelled", "collections.v1.ContactSent",
        "collections.v1.ContactDelivered", "collections.v1.ContactFailed", "collections.v1.ContactDeferred",
        "collections.v1.ContactBlocked", "collections.v1.OptOutRecorded", "collections.v1.PlacementRequested",
        "collections.v1.RecallRequested", "collections.v1.PlacementAccepted", "collections.v1.PartnerActivityReported",
        "collections.v1.PlacementReturned", "collections.v1.PlacementRecalled", "collections.v1.CaseOpened",
        "collections.v1.StageChanged", "collections.v1.CaseClosed", "collections.v1.CreditBureauReportRequested",
        "collections.v1.CreditBehaviourRecorded",
    }
    assert design <= declared, design - declared
