"""An outside client of drip_devnet: xrpl-py, written by nobody here, drives the
devnet over JSON-RPC and WebSocket. If it works, the devnet's shapes are right.

Usage: client.py RPC_URL WS_URL   (run by tests/xrpl_py.rs)
"""

import sys

from xrpl.account import get_balance
from xrpl.clients import JsonRpcClient, WebsocketClient
from xrpl.constants import CryptoAlgorithm
from xrpl.core.binarycodec import encode_for_signing_claim
from xrpl.core.keypairs import sign
from xrpl.models.requests import (
    AccountChannels,
    AccountInfo,
    ChannelVerify,
    LedgerEntry,
    Subscribe,
    StreamParameter,
)
from xrpl.models.transactions import (
    Memo,
    Payment,
    PaymentChannelClaim,
    PaymentChannelCreate,
)
from xrpl.transaction import submit_and_wait
from xrpl.wallet import Wallet

GENESIS_SEED = "snoPBrXtMeMyMHUVTgbuqAfg1SUTb"


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what, flush=True)


def fund(client, genesis, wallet, drops):
    result = submit_and_wait(
        Payment(account=genesis.address, destination=wallet.address, amount=str(drops)),
        client,
        genesis,
    ).result
    check(result["meta"]["TransactionResult"] == "tesSUCCESS", f"funded {wallet.address}")


def channel_flow(client, label, payer_algorithm):
    genesis = Wallet.from_seed(GENESIS_SEED, algorithm=CryptoAlgorithm.SECP256K1)
    check(genesis.address == "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh", f"{label}: genesis address")
    payer = Wallet.create(algorithm=payer_algorithm)
    payee = Wallet.create(algorithm=CryptoAlgorithm.SECP256K1)
    fund(client, genesis, payer, 50_000_000)
    fund(client, genesis, payee, 20_000_000)
    check(get_balance(payer.address, client) == 50_000_000, f"{label}: payer balance")

    create = submit_and_wait(
        PaymentChannelCreate(
            account=payer.address,
            destination=payee.address,
            amount="10000000",
            settle_delay=86400,
            public_key=payer.public_key,
            destination_tag=7,
            memos=[Memo(memo_type="64726970", memo_data="70726f706f73616c2d31")],
        ),
        client,
        payer,
    ).result
    check(create["meta"]["TransactionResult"] == "tesSUCCESS", f"{label}: channel created")
    created = [
        n["CreatedNode"]
        for n in create["meta"]["AffectedNodes"]
        if "CreatedNode" in n and n["CreatedNode"]["LedgerEntryType"] == "PayChannel"
    ]
    check(len(created) == 1, f"{label}: one CreatedNode PayChannel in meta")
    channel_id = created[0]["LedgerIndex"]
    tx_json = create.get("tx_json", create)
    check(tx_json["Memos"][0]["Memo"]["MemoData"].upper() == "70726F706F73616C2D31", f"{label}: memo kept")

    channels = client.request(AccountChannels(account=payer.address, ledger_index="validated")).result["channels"]
    check([c["channel_id"] for c in channels] == [channel_id], f"{label}: account_channels lists it")
    check(channels[0]["amount"] == "10000000" and channels[0]["balance"] == "0", f"{label}: amounts")
    check(channels[0]["public_key_hex"] == payer.public_key.upper(), f"{label}: public key")
    check(channels[0]["destination_tag"] == 7, f"{label}: destination tag")

    node = client.request(LedgerEntry(payment_channel=channel_id, ledger_index="validated")).result["node"]
    check(node["LedgerEntryType"] == "PayChannel" and node["Amount"] == "10000000", f"{label}: ledger_entry")
    check(node["Destination"] == payee.address and node["SettleDelay"] == 86400, f"{label}: entry fields")

    amount = 2_500_000
    claim = encode_for_signing_claim({"channel": channel_id, "amount": str(amount)})
    signature = sign(bytes.fromhex(claim), payer.private_key)
    verified = client.request(
        ChannelVerify(channel_id=channel_id, amount=str(amount), public_key=payer.public_key, signature=signature)
    ).result
    check(verified["signature_verified"] is True, f"{label}: channel_verify accepts xrpl-py's claim")

    before = get_balance(payee.address, client)
    redeem = submit_and_wait(
        PaymentChannelClaim(
            account=payee.address,
            channel=channel_id,
            balance=str(amount),
            amount=str(amount),
            signature=signature,
            public_key=payer.public_key,
        ),
        client,
        payee,
    ).result
    check(redeem["meta"]["TransactionResult"] == "tesSUCCESS", f"{label}: claim redeemed")
    fee = int(redeem.get("tx_json", redeem)["Fee"])
    after = get_balance(payee.address, client)
    check(after == before + amount - fee, f"{label}: payee gained the claim minus the fee")

    info = client.request(AccountInfo(account=payer.address, ledger_index="validated")).result
    check(info["account_data"]["OwnerCount"] == 1, f"{label}: channel counts toward the owner reserve")


def main():
    rpc_url, ws_url = sys.argv[1], sys.argv[2]
    channel_flow(JsonRpcClient(rpc_url), "json-rpc", CryptoAlgorithm.ED25519)
    with WebsocketClient(ws_url) as ws:
        channel_flow(ws, "websocket", CryptoAlgorithm.SECP256K1)
        ws.send(Subscribe(streams=[StreamParameter.LEDGER]))
        seen = 0
        for message in ws:
            if message.get("type") == "ledgerClosed":
                seen += 1
                if seen == 2:
                    break
        check(seen == 2, "websocket: ledger stream delivers ledgerClosed messages")
    print("xrpl-py client: all checks passed", flush=True)


if __name__ == "__main__":
    main()
