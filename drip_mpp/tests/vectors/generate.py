#!/usr/bin/env python3
"""Cross-check vectors for drip_mpp, written by the Python reference stack.

Produces mpp_core.json next to this file with encodings computed by
xrpl-mpp-core 0.2.0 (the library xrpl-mpp-client 0.2.0 pays with):

- session request objects and their JCS text and base64url (its
  ``jcs_dumps`` / ``encode_json_to_base64url``, each object first validated by
  its strict ``XRPLSessionRequest`` model);
- challenges: the id from ``build_challenge_id`` for a fixed key and fixed
  parameters, and the header from ``render_payment_challenge``;
- receipts from ``encode_payment_receipt``;
- credentials from ``build_payment_authorization_value``.

drip_mpp/tests/vectors.rs asserts drip_mpp writes the same bytes.

Run (needs xrpl-mpp-core==0.2.0):
    python3 drip_mpp/tests/vectors/generate.py
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

from xrpl_mpp_core.did import build_xrpl_did
from xrpl_mpp_core.helpers import (
    build_challenge_id,
    build_payment_authorization_value,
    encode_json_to_base64url,
    encode_payment_receipt,
    jcs_dumps,
    render_payment_challenge,
)
from xrpl_mpp_core.models import PaymentChallenge, PaymentCredential, PaymentReceipt
from xrpl_mpp_core.paychannel import XRPLSessionRequest, validate_session_payload

# 32 ASCII bytes: the library keys HMAC with the secret's UTF-8 bytes.
KEY = "drip-mpp-vector-key-0123456789ab"
assert len(KEY.encode("utf-8")) == 32

RECIPIENT = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh"
PAYER = "rG31cLyErnqeVj2eomEjBZtq7PYaupGYzL"
CHANNEL = "C008A7B1E4C3A6B2D5F0E9C8B7A6D5E4F3C2B1A0918273645546372819A0B1C2"
TX_HASH = "5DB01B7FFED6B67E6B0414DED11E051D2EE2B7619CE0EAA6286D67A3A4D5BDB3"
EXPIRES = "2026-12-08T02:58:40Z"
TIMESTAMP = "2026-12-08T02:57:40Z"

REQUESTS = {
    "minimal_open": {
        "amount": "1",
        "channelId": "",
        "currency": "XRP",
        "recipient": RECIPIENT,
    },
    "open_devnet": {
        "amount": "1000",
        "channelId": "",
        "currency": "XRP",
        "recipient": RECIPIENT,
        "methodDetails": {"network": "devnet", "cumulativeAmount": "0"},
    },
    "voucher_testnet": {
        "amount": "250",
        "channelId": CHANNEL,
        "currency": "XRP",
        "recipient": PAYER,
        "methodDetails": {"cumulativeAmount": "3000", "network": "testnet"},
    },
    "network_only": {
        "recipient": RECIPIENT,
        "currency": "XRP",
        "channelId": CHANNEL,
        "amount": "9223372036854775807",
        "methodDetails": {"network": "mainnet"},
    },
    "escaped_description": {
        "amount": "5",
        "channelId": "",
        "currency": "XRP",
        "description": 'Paid "API" \\ / caf\u00e9 \u20ac \U0001f600 \u0001\t\n\b\f\r\u001f\u007f end',
        "recipient": RECIPIENT,
        "methodDetails": {"cumulativeAmount": "18446744073"},
    },
}


def request_vectors() -> list[dict]:
    out = []
    for name, obj in REQUESTS.items():
        XRPLSessionRequest.model_validate(obj)  # what the client would accept
        out.append(
            {
                "name": name,
                "object": obj,
                "jcs": jcs_dumps(obj),
                "base64url": encode_json_to_base64url(obj),
            }
        )
    return out


def challenge_vectors() -> list[dict]:
    out = []
    for request_name, description in [
        ("voucher_testnet", 'Paid "API" \\ access'),
        ("open_devnet", None),
    ]:
        request_b64 = encode_json_to_base64url(REQUESTS[request_name])
        params = {
            "realm": "api.example.com",
            "method": "xrpl",
            "intent": "session",
            "request": request_b64,
            "expires": EXPIRES,
        }
        challenge_id = build_challenge_id(
            secret=KEY,
            realm=params["realm"],
            method=params["method"],
            intent=params["intent"],
            request_b64=request_b64,
            expires=EXPIRES,
        )
        challenge = PaymentChallenge(id=challenge_id, description=description, **params)
        out.append(
            {
                "key": KEY,
                "request_name": request_name,
                "realm": params["realm"],
                "expires": EXPIRES,
                "description": description,
                "id": challenge_id,
                "header": render_payment_challenge(challenge),
            }
        )
    return out


def receipt_vectors(challenge_id: str) -> list[dict]:
    bodies = [
        {
            "action": "voucher",
            "channelId": CHANNEL,
            "cumulative": "3250",
            "reference": f"{CHANNEL}:3250",
        },
        {
            "action": "close",
            "channelId": CHANNEL,
            "cumulative": "3500",
            "reference": f"{CHANNEL}:3500",
        },
        {
            "action": "open",
            "channelId": CHANNEL,
            "cumulative": "1000",
            "reference": f"open:{CHANNEL}:{TX_HASH}",
            "txHash": TX_HASH,
        },
    ]
    out = []
    for body in bodies:
        obj = {
            "status": "success",
            "method": "xrpl",
            "timestamp": TIMESTAMP,
            "challengeId": challenge_id,
            **body,
        }
        out.append({"object": obj, "base64url": encode_payment_receipt(PaymentReceipt(**obj))})
    return out


def credential_vectors(challenge: dict) -> list[dict]:
    request_b64 = encode_json_to_base64url(REQUESTS[challenge["request_name"]])
    echoed = PaymentChallenge(
        id=challenge["id"],
        realm=challenge["realm"],
        method="xrpl",
        intent="session",
        request=request_b64,
        expires=challenge["expires"],
        description=challenge["description"],
    )
    source = build_xrpl_did(network="testnet", address=PAYER)
    payloads = [
        {"action": "voucher", "channelId": CHANNEL.lower(), "amount": "3250", "signature": "66C6" * 16},
        {"action": "close", "channelId": CHANNEL, "amount": "3500", "signature": "3045" + "AB" * 67},
        {"action": "open", "transaction": "12000D2200000000" * 8, "amount": "1000", "signature": "1876" * 16},
    ]
    out = []
    for payload in payloads:
        validate_session_payload(payload)
        credential = PaymentCredential(challenge=echoed, payload=payload, source=source)
        out.append(
            {
                "payload": payload,
                "source": source,
                "header": build_payment_authorization_value(credential),
            }
        )
    return out


def main() -> None:
    challenges = challenge_vectors()
    vectors = {
        "generator": f"xrpl-mpp-core {version('xrpl-mpp-core')} via drip_mpp/tests/vectors/generate.py",
        "requests": request_vectors(),
        "challenges": challenges,
        "receipts": receipt_vectors(challenges[0]["id"]),
        "credentials": credential_vectors(challenges[0]),
    }
    path = Path(__file__).with_name("mpp_core.json")
    path.write_text(json.dumps(vectors, indent=2, ensure_ascii=True) + "\n", encoding="utf-8")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
