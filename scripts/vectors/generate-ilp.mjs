// Writes drip_ilp/tests/fixtures/js.json: BTP, ILPv4 and IL-DCP packets as
// the JavaScript libraries the asymmetric XRP plugins use write them
// (btp-packet, ilp-packet, ilp-protocol-ildcp), for drip_ilp's Rust codecs
// to reproduce byte for byte. Includes the published btp-packet test
// objects. Run through ./generate.sh.
import { createRequire } from 'node:module'
import { writeFileSync } from 'node:fs'
import crypto from 'node:crypto'

const require = createRequire(process.env.NODE_MODULES + '/')
const Btp = require('btp-packet')
const Ilp = require('ilp-packet')
const Ildcp = require('ilp-protocol-ildcp')

const hex = (b) => Buffer.from(b).toString('hex')
const pd = (list) => list.map(([name, contentType, data]) => ({
  protocolName: name, contentType, data: Buffer.from(data),
}))
const pdJson = (list) => list.map(([name, contentType, data]) => ({
  name, content_type: contentType, data: hex(Buffer.from(data)),
}))

// btp-packet's own test objects (test/index.spec.ts).
const specData = [['ilp', 0, ''], ['foo', 0, 'bar'], ['beep', 1, 'boop'], ['json', 2, '{}']]
const long = 'x'.repeat(300)
const many = Array.from({ length: 130 }, (_, i) => [`p${i}`, i % 3, String(i)])
const auth = [['auth', 0, ''], ['auth_username', 1, ''], ['auth_token', 1, 'secret-token']]
const claim = [['claim', 2, JSON.stringify({ amount: '1234567', signature: 'AB'.repeat(64) })]]

const btp = []
const message = (requestId, list) => btp.push({
  kind: 'message', request_id: requestId, protocol_data: pdJson(list),
  hex: hex(Btp.serialize({ type: Btp.TYPE_MESSAGE, requestId, data: { protocolData: pd(list) } })),
})
const response = (requestId, list) => btp.push({
  kind: 'response', request_id: requestId, protocol_data: pdJson(list),
  hex: hex(Btp.serialize({ type: Btp.TYPE_RESPONSE, requestId, data: { protocolData: pd(list) } })),
})
const transfer = (requestId, amount, list) => btp.push({
  kind: 'transfer', request_id: requestId, amount, protocol_data: pdJson(list),
  hex: hex(Btp.serialize({ type: Btp.TYPE_TRANSFER, requestId, data: { amount, protocolData: pd(list) } })),
})
const error = (requestId, code, name, at, data, list) => btp.push({
  kind: 'error', request_id: requestId, code, name, data: hex(Buffer.from(data)), protocol_data: pdJson(list),
  hex: hex(Btp.serialize({
    type: Btp.TYPE_ERROR, requestId,
    data: { code, name, triggeredAt: new Date(at), data, protocolData: pd(list) },
  })),
})
response(1, specData)
message(1, specData)
transfer(1, '100', specData)
error(1, 'L13', 'errorName', '2017-08-28T18:32:00.000Z', 'boo', specData)
message(0xffffffff, auth)
message(7, [['info', 0, '\u0002']])
message(8, [['ilp', 0, long]])
response(9, many)
response(10, [])
transfer(11, '18446744073709551615', claim)
transfer(12, '0', [])
error(13, 'F00', 'NotAcceptedError', '2026-11-22T08:00:00.123Z', JSON.stringify({ message: 'invalid auth_token' }), [])

const ilp = []
const prepare = (amount, expiresAt, condition, destination, data) => ilp.push({
  kind: 'prepare', amount, expires_at: expiresAt, condition, destination, data: hex(data),
  hex: hex(Ilp.serializeIlpPrepare({
    amount, expiresAt: new Date(expiresAt), executionCondition: Buffer.from(condition, 'hex'),
    destination, data: Buffer.from(data),
  })),
})
const fulfill = (fulfillment, data) => ilp.push({
  kind: 'fulfill', fulfillment, data: hex(data),
  hex: hex(Ilp.serializeIlpFulfill({ fulfillment: Buffer.from(fulfillment, 'hex'), data: Buffer.from(data) })),
})
const reject = (code, triggeredBy, message, data) => ilp.push({
  kind: 'reject', code, triggered_by: triggeredBy, message, data: hex(data),
  hex: hex(Ilp.serializeIlpReject({ code, triggeredBy, message, data: Buffer.from(data) })),
})
prepare('107', '2017-12-23T01:21:40.549Z', '117b434f1a54e9044f4f54923b2cff9e4a6d420ae281d5025d7bb040c4b4c04a', 'example.alice', Buffer.from('hello'))
prepare('18446744073709551615', '2099-01-01T00:00:00.000Z', '00'.repeat(32), 'g.server.client_-~', Buffer.alloc(1000, 7))
prepare('0', '2026-11-22T08:00:00.001Z', 'ff'.repeat(32), 'test3.a.b.c', Buffer.alloc(0))
fulfill('117b434f1a54e9044f4f54923b2cff9e4a6d420ae281d5025d7bb040c4b4c04a', Buffer.from('world'))
fulfill('00'.repeat(32), Buffer.alloc(200, 1))
reject('F99', 'example.bob', 'missing something', Buffer.from([1, 2, 3]))
reject('T04', '', 'Insufficient bandwidth', Buffer.alloc(0))
reject('F08', 'g.server', 'Packet size is too large.', Buffer.concat([Buffer.from('0000000000000064', 'hex'), Buffer.from('000000000000000a', 'hex')]))
reject('R00', 'test.x', 'Ünïcödé message', Buffer.alloc(0))

const ildcp = []
for (const [clientAddress, assetScale, assetCode] of [['test.server.abc', 6, 'XRP'], ['g.x.' + 'y'.repeat(200), 9, ''], ['private.a', 0, 'USD']]) {
  ildcp.push({ client_address: clientAddress, asset_scale: assetScale, asset_code: assetCode, hex: hex(Ildcp.serializeIldcpResponse({ clientAddress, assetScale, assetCode })) })
}
const ildcpRequest = hex(Ildcp.serializeIldcpRequest({ expiresAt: new Date('2026-11-22T08:01:00.000Z') }))

// The asymmetric plugins' derivations, with Node's crypto as they use it
// (ilp-plugin-xrp-paychan-shared, ilp-plugin-mini-accounts), and Node's
// base64 reading of ILP addresses in the ownership proof.
const hmac = (key, msg) => crypto.createHmac('sha256', key).update(msg).digest()
const asym = {
  node: process.version,
  account_names: ['secret-token', '', 'a'.repeat(100)].map((token) => ({
    token, name: crypto.createHash('sha256').update(token).digest('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_'),
  })),
  server_channel_secrets: [['server-secret', 'acct1'], ['sn3nxiW7v8KXzPzAqzyHXbSSKNuN9', 'x'.repeat(43)]].map(([secret, account]) => ({
    secret, account, hex: hex(hmac(secret, 'ilp-plugin-multi-xrp-paychan-channel-keys' + account)),
  })),
  client_channel_secrets: [['sn3nxiW7v8KXzPzAqzyHXbSSKNuN9', 'rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh']].map(([secret, server]) => ({
    secret, server_address: server, hex: hex(hmac(secret, 'ilp-plugin-xrp-stateless' + server)),
  })),
  default_tokens: [['localhost:7768', '', 'sn3nxiW7v8KXzPzAqzyHXbSSKNuN9'], ['example.com:443', 'bob', 'snoPBrXtMeMyMHUVTgbuqAfg1SUTb']].map(([host, user, secret]) => ({
    host, username: user, secret, token: hex(hmac(hmac('parent_btp_uri', host + user), secret)),
  })),
  base64: ['g.x.35YywQ-3GYiO3MM4tvfaSGhty9NZELIBO3kmilL0Wak', 'test.server.abc', 'test.x.ab', 'test.x.abc', 'test.x.a',
    'private.moneyd.local.Ab~_-9', 'g.a=b.c', 'example.a+b/c-d_e', 'test.' + 'Zz9'.repeat(50)].map((address) => ({
    address, hex: hex(Buffer.from(address, 'base64')),
  })),
}

writeFileSync(process.argv[2], JSON.stringify({
  generator: 'scripts/vectors/generate-ilp.mjs',
  versions: { 'btp-packet': '2.2.1', 'ilp-packet': '3.1.3', 'ilp-protocol-ildcp': '2.2.3' },
  btp, ilp, ildcp, asym, ildcp_request: { expires_at: '2026-11-22T08:01:00.000Z', hex: ildcpRequest },
}, null, 1) + '\n')
