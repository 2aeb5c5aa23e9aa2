"""An MPP client drip did not write (xrpl-mpp-client, PyPI) paying a drip
route over an XRPL session: open, vouchers, close. Run by
tests/tests/interop_mpp.rs; prints one JSON object with what it saw.

usage: mpp_pay.py URL RPC_URL PAYER_SEED RECIPIENT CA_PEM REQUESTS NETWORK
"""
import asyncio
import base64
import json
import ssl
import sys

import httpx
from xrpl.wallet import Wallet
from xrpl_mpp_client import XRPLPaymentPolicy, XRPLPaymentSigner, XRPLPaymentTransport


def receipt(response):
    header = response.headers.get("payment-receipt")
    if header is None:
        return None
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))


async def main(url, rpc_url, seed, recipient, ca, requests, network):
    payer = Wallet.from_seed(seed)
    signer = XRPLPaymentSigner(payer, network=network, rpc_url=rpc_url, allow_insecure_rpc=True)
    policy = XRPLPaymentPolicy(expected_recipients=recipient, max_amount="1000000", allowed_currencies=["XRP"])
    tls = httpx.AsyncHTTPTransport(verify=ssl.create_default_context(cafile=ca))
    transport = XRPLPaymentTransport(signer, base_transport=tls, payment_policy=policy)
    blob = await signer.sign_channel_create_async(destination=recipient, funding_amount="1000000", settle_delay=3600)
    transport.register_open_transaction(url, transaction=blob)
    seen = {"responses": [], "close": None}
    async with httpx.AsyncClient(transport=transport, timeout=30) as client:
        for _ in range(requests):
            r = await client.get(url)
            seen["responses"].append({"status": r.status_code, "receipt": receipt(r), "body": r.text})
    r = await transport.close_session(url)
    seen["close"] = {"status": r.status_code, "receipt": receipt(r)}
    print(json.dumps(seen))


if __name__ == "__main__":
    url, rpc_url, seed, recipient, ca, requests, network = sys.argv[1:8]
    asyncio.run(main(url, rpc_url, seed, recipient, ca, int(requests), network))
