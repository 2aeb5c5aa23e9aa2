"""Claims for drip_pg's golden SQL files (drip_pg/tests/pg_regress/sql/flow.sql),
signed by xrpl-py so the files do not depend on drip's own signer.

Run: target/xrpl-py/bin/python scripts/vectors/golden_claims.py
"""
from xrpl.core.binarycodec import encode_for_signing_claim
from xrpl.core.keypairs import derive_keypair, sign
from xrpl.core.keypairs import generate_seed
from xrpl import CryptoAlgorithm

CHANNEL = "5D" * 32
seed = generate_seed(entropy="51" * 16, algorithm=CryptoAlgorithm.ED25519)
public, private = derive_keypair(seed)
print(f"-- public key {public}")
for amount in (40000, 30000, 60000, 2000001):
    message = encode_for_signing_claim({"channel": CHANNEL, "amount": str(amount)})
    print(f"-- {amount}: {sign(bytes.fromhex(message), private)}")
