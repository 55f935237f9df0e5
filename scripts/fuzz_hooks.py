"""Schemathesis hooks for scripts/fuzz-api.

- A client uses a new Idempotency-Key for every new request (API.md "Idempotency"); a
  fuzzer's examples repeat values, and a key reused for another request is rightly refused
  (422 idempotency_key_reused). So each call carries a fresh key, still within the schema.
- Two rules span fields of a body, which OpenAPI cannot state: a booking names each slot
  once, and a coupon is valid from one instant until a later one. The service answers a
  body that breaks them 422, as the contract says; generated bodies are brought within
  them before they are sent (every phase, the coverage one included), so that a 422 the
  fuzzer sees is one the schema should have prevented.
"""

import uuid
from datetime import datetime, timedelta

import schemathesis


def _each_slot_once(body):
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return
    seen = set()
    for n, item in enumerate(items):
        slot = item.get("slot_id") if isinstance(item, dict) else None
        if not isinstance(slot, str):
            continue
        while slot in seen:
            suffix = f"-{n}"
            slot = (slot[: 64 - len(suffix)] + suffix) if slot else f"s{n}"
            n += 1
        seen.add(slot)
        item["slot_id"] = slot


def _window(body):
    if not isinstance(body, dict):
        return
    try:
        start = datetime.fromisoformat(body["valid_from"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(body["valid_until"].replace("Z", "+00:00"))
    except (KeyError, TypeError, AttributeError, ValueError):
        return
    if start >= end:
        try:
            body["valid_until"] = (start + timedelta(days=1)).isoformat()
        except OverflowError:
            body["valid_from"] = (end - timedelta(days=1)).isoformat()


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = f"fuzz-{uuid.uuid4()}"
    if case.method.upper() == "POST" and case.operation.path == "/v1/bookings":
        _each_slot_once(case.body)
    if case.method.upper() == "POST" and case.operation.path == "/v1/coupons":
        _window(case.body)
