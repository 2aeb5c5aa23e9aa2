// Drives drip's ILP server with the real JavaScript ilp-plugin-btp: auth,
// a Message round trip (IL-DCP), channels registered with their ownership
// proofs (as the asym client sends them), an ILP Prepare routed to a second
// client and fulfilled, a Reject, and a refused token. Prints one JSON
// object; tests/tests/interop_js.rs checks it. Usage: node btp_client.mjs
// HOST:PORT [ws|wss] (for wss, NODE_EXTRA_CA_CERTS names the server's
// certificate; ALICE_CHANNEL and ALICE_CHANNEL_SIGNATURE, hex, Alice's
// channel and its proof, BOB_CHANNEL and BOB_CHANNEL_SIGNATURE Bob's)
import { createRequire } from 'node:module'
import crypto from 'node:crypto'

const require = createRequire(process.env.NODE_MODULES + '/')
const BtpPlugin = require('ilp-plugin-btp')
const BtpPacket = require('btp-packet')
const IlpPacket = require('ilp-packet')
const ILDCP = require('ilp-protocol-ildcp')

const host = process.argv[2]
const scheme = process.argv[3] || 'ws'
const plugin = (user, token) => new BtpPlugin({ server: `btp+${scheme}://${user}:${token}@${host}`, reconnectInterval: 60000 })
const within = (ms, p) => Promise.race([p, new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), ms))])

const out = {}
const alice = plugin('', 'alice-js-token')
const bob = plugin('', 'bob-js-token')
await within(10000, alice.connect())
await within(10000, bob.connect())
out.connected = alice.isConnected() && bob.isConnected()

const a = await ILDCP.fetch(alice.sendData.bind(alice))
const b = await ILDCP.fetch(bob.sendData.bind(bob))
out.alice = a.clientAddress
out.bob = b.clientAddress
out.asset = [a.assetScale, a.assetCode]

// Each proves its channel: only a client with one sends packets or is sent
// them.
const octets = (name, hex) => ({ protocolName: name, contentType: BtpPacket.MIME_APPLICATION_OCTET_STREAM, data: Buffer.from(hex, 'hex') })
const prove = (client, channel, signature) => client._call('', {
  type: BtpPacket.TYPE_MESSAGE,
  requestId: crypto.randomBytes(4).readUInt32BE(),
  data: { protocolData: [octets('channel', channel), octets('channel_signature', signature)] },
})
await prove(alice, process.env.ALICE_CHANNEL, process.env.ALICE_CHANNEL_SIGNATURE)
await prove(bob, process.env.BOB_CHANNEL, process.env.BOB_CHANNEL_SIGNATURE)

const fulfillment = Buffer.alloc(32, 7)
const condition = crypto.createHash('sha256').update(fulfillment).digest()
bob.registerDataHandler(async (data) => {
  const p = IlpPacket.deserializeIlpPrepare(data)
  return IlpPacket.serializeIlpFulfill({ fulfillment, data: Buffer.from('thanks for ' + p.data.toString()) })
})
const prepare = (amount) => IlpPacket.serializeIlpPrepare({
  amount, destination: b.clientAddress + '.shop', executionCondition: condition,
  expiresAt: new Date(Date.now() + 10000), data: Buffer.from('tea'),
})
const fulfilled = IlpPacket.deserializeIlpPacket(await alice.sendData(prepare('0')))
out.fulfill = { type: fulfilled.type, fulfillment: fulfilled.data.fulfillment.toString('hex'), data: fulfilled.data.data.toString() }
// Money no claim covers is refused.
const rejected = IlpPacket.deserializeIlpReject(await alice.sendData(prepare('5')))
out.reject = { code: rejected.code, triggeredBy: rejected.triggeredBy, message: rejected.message }

// An account is held by the token that first used it (while it is
// connected; for good once it proves a channel).
const carol = plugin('carol', 'carol-token-1')
await within(10000, carol.connect())
const mallory = plugin('carol', 'carol-token-2')
try {
  await within(5000, mallory.connect())
  out.refused = false
} catch (e) {
  out.refused = true
  out.refusal = String(e && e.message)
}
await Promise.allSettled([alice.disconnect(), bob.disconnect(), carol.disconnect(), mallory.disconnect()])
console.log(JSON.stringify(out))
process.exit(0)
