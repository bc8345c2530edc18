// An "original iron" node on a real iroh 1.x endpoint (npm @number0/iroh),
// without a TUN: it speaks iron's wire protocols as SPEC section 10 says and
// plays the host behind the tunnel itself, answering ICMPv6 echo requests
// (and UDP to the echo port) addressed to its derived overlay address.
//
//   iron/packet/0  one IPv6 packet per bidirectional stream, then FIN; the
//                  receiver reads the stream to its end and finishes its own
//                  half empty. Only the dialling side sends packets: replies
//                  go on a connection this node dials itself.
//   iron/packet/1  one IPv6 packet per DATAGRAM frame, either direction.
//
// Events are printed on stdout as JSON lines for the test scripts:
//   ready, accepted, dialled, refused, closed, spoofed, echo-request,
//   reply, too-large, ping-done, connect-failed, connect-ok, error.
//
// Usage: node --no-deprecation iron-node.mjs [options]
//   --key FILE          32-byte secret key (iron's key file); default random
//   --save-key FILE     writes the endpoint's secret key there (mode 0600)
//   --bind ADDR:PORT    socket address of the endpoint (required)
//   --alpn NAME         protocol accepted (repeatable); the first is also
//                       the one dialled with (default iron/packet/0)
//   --peer ID@ADDR:PORT where a peer is (repeatable); peers that connect in
//                       are also remembered at the address they came from
//   --ping ID           sends --count ICMPv6 echo requests to ID's overlay
//                       address, then prints ping-done and exits (0 when
//                       every request got its reply)
//   --count N           echo requests for --ping (default 10)
//   --interval MS       between echo requests (default 100)
//   --connect ID        only dials ID with the first --alpn, prints
//                       connect-ok or connect-failed and exits
//   --echo-port N       UDP port answered as an echo service (default 7)
//   --relay URL         use this relay (RelayMode.customFromUrls) instead of
//                       none; a --peer may then be ID@URL (reached through
//                       that relay only)
//   --n0                iroh's N0 preset (applyN0: its address lookup by
//                       DNS through /etc/resolv.conf, TXT
//                       _iroh.<z32>.dns.iroh.link); then a peer needs no
//                       address (--ping ID, --peer ID) and iroh looks it up
//   --log LEVEL         iroh's own log (Off, Error, ..., Trace), on stdout
//                       between the events

import { createRequire } from 'node:module'
import { readFileSync, writeFileSync } from 'node:fs'

const require = createRequire(import.meta.url)
const iroh = require('@number0/iroh')
const { Endpoint, EndpointAddr, EndpointId, RelayMode, SecretKey, presetMinimal } = iroh

const MAX_PACKET = 1500
const NEXT_ICMPV6 = 58
const NEXT_UDP = 17
const ICMP_ECHO_REQUEST = 128
const ICMP_ECHO_REPLY = 129

// iroh's errors carry a Rust backtrace; the first line says what happened.
function firstLine(e) {
  return String(e).split('\n')[0]
}

const round3 = (x) => Math.round(x * 1000) / 1000

function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n')
}

function parseArgs(argv) {
  const o = { alpns: [], peers: [], count: 10, interval: 100, echoPort: 7 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`)
      return argv[++i]
    }
    switch (a) {
      case '--key': o.key = v(); break
      case '--save-key': o.saveKey = v(); break
      case '--bind': o.bind = v(); break
      case '--alpn': o.alpns.push(v()); break
      case '--peer': o.peers.push(v()); break
      case '--ping': o.ping = v(); break
      case '--count': o.count = Number(v()); break
      case '--interval': o.interval = Number(v()); break
      case '--connect': o.connect = v(); break
      case '--echo-port': o.echoPort = Number(v()); break
      case '--log': o.log = v(); break
      case '--relay': o.relay = v(); break
      case '--n0': o.n0 = true; break
      default: throw new Error(`unknown option ${a}`)
    }
  }
  if (!o.bind) throw new Error('--bind is required')
  if (o.alpns.length === 0) o.alpns.push('iron/packet/0')
  return o
}

// RFC 4648 base32, lowercase, unpadded: iron's form of a node ID.
const B32 = 'abcdefghijklmnopqrstuvwxyz234567'
function base32(bytes) {
  let out = ''
  let acc = 0
  let bits = 0
  for (const b of bytes) {
    acc = (acc << 8) | b
    bits += 8
    while (bits >= 5) {
      out += B32[(acc >>> (bits - 5)) & 31]
      bits -= 5
    }
    acc &= 0xff
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31]
  return out
}

function unbase32(text) {
  const s = text.toLowerCase()
  const out = []
  let acc = 0
  let bits = 0
  for (const c of s) {
    const v = B32.indexOf(c)
    if (v < 0) throw new Error(`not base32: ${text}`)
    acc = ((acc << 5) | v) & 0xffff
    bits += 5
    if (bits >= 8) {
      out.push((acc >>> (bits - 8)) & 0xff)
      bits -= 8
    }
  }
  return out
}

// A node ID in any of iron's encodings (base32, hex, <base32>.iron).
function parseId(text) {
  const t = text.replace(/\.iron\.?$/i, '')
  const bytes = /^[0-9a-f]{64}$/i.test(t) ? [...Buffer.from(t, 'hex')] : unbase32(t)
  if (bytes.length !== 32) throw new Error(`not a node ID: ${text}`)
  return bytes
}

// SPEC section 3: fd69:726f:0:0 followed by the last 8 bytes of the ID.
function overlayAddr(idBytes) {
  return Buffer.from([0xfd, 0x69, 0x72, 0x6f, 0, 0, 0, 0, ...idBytes.slice(24, 32)])
}

function formatAddr(buf) {
  const groups = []
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(i).toString(16))
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')
}

function checksum(src, dst, next, payload) {
  let sum = 0
  const add16 = (buf) => {
    for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i)
    if (buf.length & 1) sum += buf[buf.length - 1] << 8
  }
  add16(src)
  add16(dst)
  sum += (payload.length >>> 16) + (payload.length & 0xffff) + next
  add16(payload)
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

// An IPv6 packet (no extension headers) from src to dst.
function ipv6Packet(src, dst, next, payload) {
  const hdr = Buffer.alloc(40)
  hdr.writeUInt32BE(0x60000000, 0)
  hdr.writeUInt16BE(payload.length, 4)
  hdr[6] = next
  hdr[7] = 64
  src.copy(hdr, 8)
  dst.copy(hdr, 24)
  return Buffer.concat([hdr, payload])
}

function icmpEcho(type, src, dst, ident, seq, data) {
  const icmp = Buffer.alloc(8 + data.length)
  icmp[0] = type
  icmp.writeUInt16BE(ident, 4)
  icmp.writeUInt16BE(seq, 6)
  data.copy(icmp, 8)
  icmp.writeUInt16BE(checksum(src, dst, NEXT_ICMPV6, icmp), 2)
  return ipv6Packet(src, dst, NEXT_ICMPV6, icmp)
}

// Parses the parts of an IPv6 packet this node cares about; null if it is
// not a well-formed IPv6 packet.
function parsePacket(buf) {
  if (buf.length < 40 || buf[0] >> 4 !== 6) return null
  const plen = buf.readUInt16BE(4)
  if (40 + plen > buf.length) return null
  return {
    next: buf[6],
    src: buf.subarray(8, 24),
    dst: buf.subarray(24, 40),
    payload: buf.subarray(40, 40 + plen),
  }
}

const opts = parseArgs(process.argv.slice(2))
if (opts.log) iroh.setLogLevel(opts.log)
const enc = (s) => [...Buffer.from(s, 'utf8')]
const dec = (a) => Buffer.from(a).toString('utf8')

let secret
if (opts.key) {
  const bytes = readFileSync(opts.key)
  if (bytes.length !== 32) throw new Error(`${opts.key}: not a 32-byte key`)
  secret = [...bytes]
} else {
  secret = SecretKey.generate().toBytes()
}

const builder = Endpoint.builder()
if (opts.n0) builder.applyN0()
else presetMinimal(builder)
builder.secretKey(secret)
builder.alpns(opts.alpns.map(enc))
builder.relayMode(opts.relay ? RelayMode.customFromUrls([opts.relay]) : RelayMode.disabled())
builder.bindAddr(opts.bind)
const ep = await builder.bind()

if (opts.saveKey) writeFileSync(opts.saveKey, Buffer.from(ep.secretKey().toBytes()), { mode: 0o600 })

const myId = ep.id().toBytes()
const myAddr = overlayAddr(myId)
const dialAlpn = opts.alpns[0]

// Peers by base32 ID: where they are, and the connections we have.
const peers = new Map()
function peerOf(id) {
  const key = base32(id)
  let p = peers.get(key)
  if (!p) {
    p = { id, key, addr: null, outgoing: null, datagramConn: null }
    peers.set(key, p)
  }
  return p
}
for (const spec of opts.peers) {
  const at = spec.lastIndexOf('@')
  if (at < 0 && opts.n0) peerOf(parseId(spec)) // found by iroh's lookup
  else if (at < 0) throw new Error(`--peer wants ID@ADDR:PORT: ${spec}`)
  else peerOf(parseId(spec.slice(0, at))).addr = spec.slice(at + 1)
}

function dial(p, alpn) {
  if (!p.addr && opts.n0) return ep.connect(new EndpointAddr(EndpointId.fromBytes(p.id), null, []), enc(alpn))
  if (!p.addr) throw new Error(`no address for ${p.key}`)
  const viaRelay = /^https?:\/\//.test(p.addr)
  const target = viaRelay
    ? new EndpointAddr(EndpointId.fromBytes(p.id), p.addr, [])
    : new EndpointAddr(EndpointId.fromBytes(p.id), null, [p.addr])
  return ep.connect(target, enc(alpn))
}

// The connection packets to p go on: on /1 any connection with p, on /0
// one this node dialled (SPEC section 10).
function outgoing(p) {
  if (dialAlpn === 'iron/packet/1' && p.datagramConn) return Promise.resolve(p.datagramConn)
  if (!p.outgoing) {
    const promise = dial(p, dialAlpn).then(
      (conn) => {
        emit('dialled', { peer: base32(conn.remoteId().toBytes()), alpn: dec(conn.alpn()) })
        if (dec(conn.alpn()) === 'iron/packet/1') {
          p.datagramConn = conn
          readDatagrams(p, conn)
        }
        conn.closed().then((reason) => {
          emit('closed', { peer: p.key, side: 'dialled', reason })
          if (p.outgoing === promise) p.outgoing = null
          if (p.datagramConn === conn) p.datagramConn = null
        })
        return conn
      },
      (err) => {
        if (p.outgoing === promise) p.outgoing = null
        throw err
      },
    )
    p.outgoing = promise
  }
  return p.outgoing
}

async function sendPacket(p, pkt) {
  const conn = await outgoing(p)
  if (dec(conn.alpn()) === 'iron/packet/1') {
    try {
      conn.sendDatagram([...pkt])
    } catch (e) {
      // Say how large a datagram may be now (it grows with path MTU
      // discovery), for the tests' record of iroh's limits.
      emit('too-large', { len: pkt.length, max_datagram: conn.maxDatagramSize(), error: firstLine(e) })
      throw e
    }
    return
  }
  const bi = await conn.openBi()
  await bi.send.writeAll([...pkt])
  await bi.send.finish()
  // The receiver finishes its half empty; read it so the stream is done.
  bi.recv.readToEnd(0).catch(() => {})
}

const pings = new Map() // seq -> send time (ns)
let pingIdent = 0
let pingReplies = 0
const rtts = []

// A packet arrived from authenticated peer p.
function receivePacket(p, bytes) {
  const pkt = parsePacket(Buffer.from(bytes))
  if (!pkt) {
    emit('error', { what: 'not an IPv6 packet', len: bytes.length })
    return
  }
  if (!pkt.src.equals(overlayAddr(p.id)) || !pkt.dst.equals(myAddr)) {
    emit('spoofed', { peer: p.key, src: formatAddr(pkt.src), dst: formatAddr(pkt.dst) })
    return
  }
  if (pkt.next === NEXT_ICMPV6 && pkt.payload.length >= 8) {
    const icmp = pkt.payload
    if (checksum(pkt.src, pkt.dst, NEXT_ICMPV6, icmp) !== 0) {
      emit('error', { what: 'bad ICMPv6 checksum' })
      return
    }
    const ident = icmp.readUInt16BE(4)
    const seq = icmp.readUInt16BE(6)
    if (icmp[0] === ICMP_ECHO_REQUEST) {
      emit('echo-request', { peer: p.key, ident, seq, len: bytes.length })
      const reply = icmpEcho(ICMP_ECHO_REPLY, myAddr, pkt.src, ident, seq, icmp.subarray(8))
      sendPacket(p, reply).catch((e) => emit('error', { what: 'reply', len: reply.length, error: firstLine(e) }))
    } else if (icmp[0] === ICMP_ECHO_REPLY && ident === pingIdent && pings.has(seq)) {
      const rtt = Number(process.hrtime.bigint() - pings.get(seq)) / 1e6
      pings.delete(seq)
      pingReplies++
      rtts.push(rtt)
      emit('reply', { peer: p.key, seq, rtt_ms: round3(rtt) })
    }
    return
  }
  if (pkt.next === NEXT_UDP && pkt.payload.length >= 8) {
    const udp = pkt.payload
    if (udp.readUInt16BE(2) !== opts.echoPort) return
    const out = Buffer.from(udp)
    out.writeUInt16BE(udp.readUInt16BE(2), 0)
    out.writeUInt16BE(udp.readUInt16BE(0), 2)
    out.writeUInt16BE(0, 6)
    out.writeUInt16BE(checksum(myAddr, pkt.src, NEXT_UDP, out) || 0xffff, 6)
    sendPacket(p, ipv6Packet(myAddr, pkt.src, NEXT_UDP, out)).catch(() => {})
  }
}

async function readStreams(p, conn) {
  for (;;) {
    let bi
    try {
      bi = await conn.acceptBi()
    } catch {
      return // connection closed
    }
    ;(async () => {
      try {
        const data = await bi.recv.readToEnd(MAX_PACKET)
        await bi.send.finish()
        receivePacket(p, data)
      } catch (e) {
        emit('error', { what: 'stream', error: firstLine(e) })
      }
    })()
  }
}

async function readDatagrams(p, conn) {
  for (;;) {
    let d
    try {
      d = await conn.readDatagram()
    } catch {
      return
    }
    receivePacket(p, d)
  }
}

async function acceptLoop() {
  for (;;) {
    const incoming = await ep.acceptNext()
    if (!incoming) return
    ;(async () => {
      let remote = null
      try {
        const ra = await incoming.remoteAddr()
        remote = ra.addr ?? null
        const accepting = await incoming.accept()
        const conn = await accepting.connect()
        const id = conn.remoteId().toBytes()
        const alpn = dec(conn.alpn())
        const p = peerOf(id)
        if (!p.addr && remote) p.addr = remote
        emit('accepted', { peer: p.key, alpn, remote, max_datagram: conn.maxDatagramSize() })
        if (process.env.IRON_NODE_WATCH_MTU)
          setInterval(() => emit('mtu', { max_datagram: conn.maxDatagramSize(), paths: conn.paths().map((x) => x.stats.currentMtu) }), 1000)
        conn.closed().then((reason) => {
          emit('closed', { peer: p.key, side: 'accepted', reason })
          if (p.datagramConn === conn) p.datagramConn = null
        })
        if (alpn === 'iron/packet/1') {
          p.datagramConn = conn
          readDatagrams(p, conn)
        } else {
          readStreams(p, conn)
        }
      } catch (e) {
        emit('refused', { remote, error: firstLine(e) })
      }
    })()
  }
}

async function ping(target) {
  const p = peerOf(parseId(target))
  const dst = overlayAddr(p.id)
  pingIdent = (process.pid & 0xffff) || 1
  const data = Buffer.alloc(56)
  for (let i = 0; i < data.length; i++) data[i] = i
  for (let seq = 1; seq <= opts.count; seq++) {
    pings.set(seq, process.hrtime.bigint())
    try {
      await sendPacket(p, icmpEcho(ICMP_ECHO_REQUEST, myAddr, dst, pingIdent, seq, data))
    } catch (e) {
      emit('error', { what: 'send', seq, error: firstLine(e) })
    }
    await new Promise((r) => setTimeout(r, opts.interval))
  }
  const deadline = Date.now() + 3000
  while (pingReplies < opts.count && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20))
  const avg = rtts.length ? rtts.reduce((a, b) => a + b, 0) / rtts.length : null
  emit('ping-done', {
    sent: opts.count,
    received: pingReplies,
    rtt_avg_ms: avg && round3(avg),
    rtt_min_ms: rtts.length ? round3(Math.min(...rtts)) : null,
    rtt_median_ms: rtts.length ? round3([...rtts].sort((x, y) => x - y)[rtts.length >> 1]) : null,
    rtt_max_ms: rtts.length ? round3(Math.max(...rtts)) : null,
  })
  return pingReplies === opts.count
}

emit('ready', {
  id: base32(myId),
  hex: Buffer.from(myId).toString('hex'),
  iroh_id: ep.id().toString(),
  addr: formatAddr(myAddr),
  bound: ep.boundSockets(),
  alpns: opts.alpns,
})

let code = 0
if (opts.connect) {
  const p = peerOf(parseId(opts.connect))
  try {
    const conn = await dial(p, dialAlpn)
    emit('connect-ok', { peer: base32(conn.remoteId().toBytes()), alpn: dec(conn.alpn()) })
    conn.close(0n, [])
  } catch (e) {
    emit('connect-failed', { error: firstLine(e) })
    code = 1
  }
} else {
  acceptLoop()
  if (opts.ping) {
    code = (await ping(opts.ping)) ? 0 : 1
  } else {
    await new Promise((resolve) => {
      process.on('SIGTERM', resolve)
      process.on('SIGINT', resolve)
    })
  }
}
await ep.close()
process.exit(code)
