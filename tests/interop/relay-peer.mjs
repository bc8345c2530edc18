// A real iroh 1.x endpoint (npm @number0/iroh) whose only relay is the one
// given, for testing `iron relay` with iroh clients. Events are JSON lines
// on stdout, as iron-node.mjs prints them.
//
//   node relay-peer.mjs --relay URL --bind ADDR:PORT [--serve]
//                       [--dial ID --bytes N]
//
//   --serve        accepts connections on ALPN iron-relay-test/1; each
//                  bidirectional stream is read to its end and answered
//                  with the SHA-256 of what arrived (event "received")
//   --dial ID      dials ID (hex) at an address holding only the relay URL,
//                  sends N random bytes on a stream, checks the hash that
//                  comes back (event "sent", then exits 0 when it matched)
//
// Events: ready {id, relay}, online, received {bytes, sha256},
// sent {bytes, ok, paths}, error {what, error}.
import { createRequire } from 'node:module'
import { createHash, randomBytes } from 'node:crypto'

const require = createRequire(import.meta.url)
const iroh = require('@number0/iroh')
const { Endpoint, EndpointAddr, EndpointId, RelayMode, presetMinimal } = iroh

const ALPN = [...Buffer.from('iron-relay-test/1')]

function emit(event, fields = {}) {
  process.stdout.write(JSON.stringify({ event, ...fields }) + '\n')
}
const firstLine = (e) => String(e).split('\n')[0]

const o = { bytes: 1 << 20 }
const argv = process.argv.slice(2)
for (let i = 0; i < argv.length; i++) {
  const v = () => argv[++i]
  switch (argv[i]) {
    case '--relay': o.relay = v(); break
    case '--bind': o.bind = v(); break
    case '--serve': o.serve = true; break
    case '--dial': o.dial = v(); break
    case '--bytes': o.bytes = Number(v()); break
    case '--log': iroh.setLogLevel(v()); break
    default: throw new Error(`unknown option ${argv[i]}`)
  }
}
if (!o.relay || !o.bind) throw new Error('--relay and --bind are required')

const builder = Endpoint.builder()
presetMinimal(builder)
builder.alpns([ALPN])
builder.relayMode(RelayMode.customFromUrls([o.relay]))
builder.bindAddr(o.bind)
const ep = await builder.bind()
const id = Buffer.from(ep.id().toBytes()).toString('hex')
emit('ready', { id, relay: o.relay })

// Connected to the home relay: the endpoint's address names it. Polled:
// iroh's watch* methods need a runtime Node's thread does not have.
const start = Date.now()
while (!ep.addr().relayUrl()) {
  if (Date.now() - start > 20000) {
    emit('error', { what: 'no home relay after 20 s' })
    process.exit(1)
  }
  await new Promise((r) => setTimeout(r, 100))
}
emit('online', { relay: ep.addr().relayUrl() })

if (o.serve) {
  for (;;) {
    const incoming = await ep.acceptNext()
    if (!incoming) break
    ;(async () => {
      try {
        const conn = await (await incoming.accept()).connect()
        for (;;) {
          const bi = await conn.acceptBi()
          const data = Buffer.from(await bi.recv.readToEnd(64 << 20))
          const sha256 = createHash('sha256').update(data).digest('hex')
          emit('received', { bytes: data.length, sha256 })
          await bi.send.writeAll([...Buffer.from(sha256)])
          await bi.send.finish()
        }
      } catch (e) {
        if (!/closed|reset/i.test(String(e))) emit('error', { what: 'serve', error: firstLine(e) })
      }
    })()
  }
}

if (o.dial) {
  try {
    const addr = new EndpointAddr(EndpointId.fromBytes([...Buffer.from(o.dial, 'hex')]), o.relay, [])
    const conn = await ep.connect(addr, ALPN)
    const data = randomBytes(o.bytes)
    const want = createHash('sha256').update(data).digest('hex')
    const bi = await conn.openBi()
    await bi.send.writeAll([...data])
    await bi.send.finish()
    const got = Buffer.from(await bi.recv.readToEnd(1024)).toString()
    const paths = conn.paths().map((p) => ({ relay: p.isRelay, ip: p.isIp, remote: p.remoteAddr, selected: p.isSelected }))
    emit('sent', { bytes: data.length, sha256: want, ok: got === want, paths })
    conn.close(0n, [])
    await ep.close()
    process.exit(got === want ? 0 : 1)
  } catch (e) {
    emit('error', { what: 'dial', error: firstLine(e) })
    process.exit(1)
  }
}
