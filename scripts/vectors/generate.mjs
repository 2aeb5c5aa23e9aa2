// Writes drip_core/tests/fixtures/xrpljs.json: vectors made by xrpl.js (not by
// drip), which drip's Rust and SQL tests must reproduce byte for byte.
// Run through ./generate.sh, which installs xrpl.js under target/.
import { createRequire } from 'node:module'
import { writeFileSync, readFileSync } from 'node:fs'

const require = createRequire(process.env.XRPL_NODE_MODULES + '/')
const xrpl = require('xrpl')
const keypairs = require('ripple-keypairs')
const codec = require('ripple-binary-codec')
const definitions = JSON.parse(
  readFileSync(require.resolve('ripple-binary-codec/dist/enums/definitions.json'), 'utf8'),
)

const ALGOS = { secp256k1: 'ecdsa-secp256k1', ed25519: 'ed25519' }
const ENTROPIES = [
  '00000000000000000000000000000000',
  '0102030405060708090A0B0C0D0E0F10',
  'CF2DE378FBDD7E2EE87D486DFB5A7BFF',
  'FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF',
]

const keys = []
for (const entropy of ENTROPIES) {
  for (const [keyType, algorithm] of Object.entries(ALGOS)) {
    const seed = xrpl.encodeSeed(Buffer.from(entropy, 'hex'), algorithm)
    const pair = keypairs.deriveKeypair(seed)
    keys.push({
      key_type: keyType,
      entropy,
      seed,
      public_key: pair.publicKey,
      private_key: pair.privateKey,
      public_key_base58: xrpl.encodeAccountPublic(Buffer.from(pair.publicKey, 'hex')),
      address: keypairs.deriveAddress(pair.publicKey),
    })
  }
}
// rippled's stand-alone genesis account.
{
  const seed = 'snoPBrXtMeMyMHUVTgbuqAfg1SUTb'
  const pair = keypairs.deriveKeypair(seed)
  keys.push({
    key_type: 'secp256k1',
    entropy: Buffer.from(xrpl.decodeSeed(seed).bytes).toString('hex').toUpperCase(),
    seed,
    public_key: pair.publicKey,
    private_key: pair.privateKey,
    public_key_base58: xrpl.encodeAccountPublic(Buffer.from(pair.publicKey, 'hex')),
    address: keypairs.deriveAddress(pair.publicKey),
  })
}

const payer = { secp256k1: keys[2], ed25519: keys[3] }
const merchant = keys[8]

const channels = [0, 1, 7, 4294967295].map((sequence) => ({
  source: payer.secp256k1.address,
  destination: merchant.address,
  sequence,
  channel_id: xrpl.hashes.hashPaymentChannel(payer.secp256k1.address, merchant.address, sequence),
}))

const AMOUNTS = ['1', '1000000', '9223372036854775807', '18446744073709551615']
const claims = []
for (const [keyType, key] of Object.entries(payer)) {
  for (const channel of channels.slice(0, 2)) {
    for (const amount of AMOUNTS) {
      const message = codec.encodeForSigningClaim({ channel: channel.channel_id, amount })
      claims.push({
        key_type: keyType,
        public_key: key.public_key,
        channel_id: channel.channel_id,
        amount,
        message,
        signature: keypairs.sign(message, key.private_key),
      })
    }
  }
}

const memo = (text) => ({
  Memo: { MemoType: xrpl.convertStringToHex('drip/proposal'), MemoData: xrpl.convertStringToHex(text) },
})
const transactions = []
for (const [keyType, key] of Object.entries(payer)) {
  const wallet = xrpl.Wallet.fromSeed(key.seed, { algorithm: ALGOS[keyType] })
  const channel = xrpl.hashes.hashPaymentChannel(key.address, merchant.address, 5)
  const claimSig = keypairs.sign(
    codec.encodeForSigningClaim({ channel, amount: '2500000' }),
    key.private_key,
  )
  const txs = [
    {
      TransactionType: 'PaymentChannelCreate',
      Account: key.address,
      Destination: merchant.address,
      Amount: '10000000',
      SettleDelay: 86400,
      PublicKey: key.public_key,
      CancelAfter: 833000000,
      DestinationTag: 42,
      Sequence: 5,
      Fee: '12',
      Flags: 0,
      LastLedgerSequence: 123,
      Memos: [memo('5f3c0e8a-proposal')],
    },
    {
      TransactionType: 'PaymentChannelFund',
      Account: key.address,
      Channel: channel,
      Amount: '5000000',
      Expiration: 833086400,
      Sequence: 6,
      Fee: '12',
    },
    {
      TransactionType: 'PaymentChannelClaim',
      Account: key.address,
      Channel: channel,
      Balance: '2500000',
      Amount: '2500000',
      Signature: claimSig,
      PublicKey: key.public_key,
      Flags: 0x00020000,
      Sequence: 7,
      Fee: '12',
    },
    {
      TransactionType: 'Payment',
      Account: key.address,
      Destination: merchant.address,
      Amount: '1',
      DestinationTag: 4294967295,
      Sequence: 8,
      Fee: '10',
    },
    {
      TransactionType: 'AccountSet',
      Account: key.address,
      SetFlag: 1,
      Sequence: 9,
      Fee: '10',
    },
  ]
  for (const tx of txs) {
    const signed = wallet.sign(tx)
    transactions.push({
      key_type: keyType,
      seed: key.seed,
      tx_json: tx,
      signing_data: codec.encodeForSigning({ ...tx, SigningPubKey: key.public_key }),
      tx_blob: signed.tx_blob,
      hash: signed.hash,
      signed_json: codec.decode(signed.tx_blob),
    })
  }
}

const typeCodes = definitions.TYPES
const fields = {}
for (const [name, info] of definitions.FIELDS) {
  fields[name] = { type: info.type, type_code: typeCodes[info.type], nth: info.nth, signing: info.isSigningField }
}

const out = {
  generator: 'scripts/vectors/generate.mjs with xrpl.js ' + require('xrpl/package.json').version,
  keys,
  channels,
  claims,
  transactions,
  definitions: {
    fields,
    transaction_types: definitions.TRANSACTION_TYPES,
    ledger_entry_types: definitions.LEDGER_ENTRY_TYPES,
  },
}
writeFileSync(process.argv[2], JSON.stringify(out, null, 1) + '\n')
console.log(`wrote ${process.argv[2]}: ${keys.length} keys, ${claims.length} claims, ${transactions.length} transactions`)
