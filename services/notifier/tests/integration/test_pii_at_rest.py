"""PII at rest: the database file holds no clear phone, e-mail, name or address,
and key rotation re-encrypts in batches."""

import base64
import os
from pathlib import Path

import pytest
from collections_core.contracts.corebanking.v1 import customers_pb2
from notifier.crypto import PiiCipher
from notifier.rotation import rotate_keys
from notifier.tables import contact_points
from sqlalchemy import select, text

pytestmark = pytest.mark.integration
PHONE, EMAIL, NAME, STREET = "+8613812345678", "wang.fang@example.cn", "王芳", "建国路88号"


def upserted(n: int):
    return customers_pb2.CustomerUpserted(
        customer_id=f"C-{n}", name=NAME, phone=PHONE, email=EMAIL, time_zone="Asia/Shanghai", language="zh-CN",
        address=customers_pb2.PostalAddress(lines=[STREET], city="北京", country="CN"))


async def test_the_database_holds_no_clear_contact_point(notifier_runtime, deliver, database_url):
    runtime = await notifier_runtime()
    await deliver(runtime, upserted(1), "C-1")
    if database_url.startswith("sqlite"):
        await runtime.database.dispose()  # checkpoints the WAL into the file
        path = Path(database_url.removeprefix("sqlite:///"))
        stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    else:
        async with runtime.database.reading() as connection:
            rows = (await connection.execute(text("SELECT contact_points::text FROM contact_points"))).scalars()
            stored = "".join(rows).encode()
    assert b"C-1" in stored, "the row is in the file"
    for clear in (PHONE, PHONE[3:], EMAIL, NAME, STREET):
        assert clear.encode() not in stored, clear
        assert clear.encode("utf-16-le") not in stored, clear


async def test_rotation_re_encrypts_every_contact_point_in_batches(notifier_runtime, deliver):
    old_key, new_key = base64.b64encode(os.urandom(32)).decode(), base64.b64encode(os.urandom(32)).decode()
    before = await notifier_runtime(pii_keys={"k1": old_key}, pii_active_key="k1")
    for n in range(5):
        await deliver(before, upserted(n), f"C-{n}")
    after = await notifier_runtime(pii_keys={"k1": old_key, "k2": new_key}, pii_active_key="k2")
    assert await rotate_keys(after, after.cipher, batch_size=2) == 5
    assert await rotate_keys(after, after.cipher, batch_size=2) == 0
    only_new = PiiCipher.from_settings({"k2": new_key}, "k2", after.notifier.settings.pii_lookup_key)
    async with after.database.reading() as connection:
        rows = (await connection.execute(select(contact_points))).all()
    assert {row.key_id for row in rows} == {"k2"}
    assert {only_new.decrypt(row.phone, row.customer_id, "phone") for row in rows} == {PHONE}
