// Sends UDP datagrams to an echo service and counts the echoes: a bounded
// throughput check through iron (no iperf3 on the iroh side).
//
// Usage: node udp-echo-load.mjs ADDR PORT [--count N] [--size BYTES]
//                               [--window N] [--timeout MS]
// Keeps at most --window datagrams unanswered, sends --count in all, and
// prints one JSON line: sent, received, seconds, mbit_s (payload bytes echoed
// per second, one direction), lost. Exits 0 when at least 95 % came back.

import dgram from 'node:dgram'

const [addr, portText, ...rest] = process.argv.slice(2)
const o = { count: 2000, size: 1200, window: 32, timeout: 20000 }
for (let i = 0; i < rest.length; i += 2) o[rest[i].replace(/^--/, '')] = Number(rest[i + 1])
const port = Number(portText)

const sock = dgram.createSocket('udp6')
let sent = 0
let received = 0
// Echoes given up on (after 200 ms of silence), so the window slides on.
let writtenOff = 0
const seen = new Set()
const start = process.hrtime.bigint()
let lastProgress = Date.now()

function pump() {
  while (sent < o.count && sent - received - writtenOff < o.window) {
    // A buffer each: send() reads it later, asynchronously.
    const payload = Buffer.alloc(o.size)
    payload.writeUInt32BE(sent, 0)
    sock.send(payload, port, addr)
    sent++
  }
}

function done() {
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  const mbit = (received * o.size * 8) / seconds / 1e6
  process.stdout.write(
    JSON.stringify({
      sent,
      received,
      lost: sent - received,
      seconds: Math.round(seconds * 1000) / 1000,
      mbit_s: Math.round(mbit * 10) / 10,
      size: o.size,
    }) + '\n',
  )
  sock.close()
  process.exit(received >= o.count * 0.95 ? 0 : 1)
}

sock.on('message', (msg) => {
  if (msg.length !== o.size) return
  const seq = msg.readUInt32BE(0)
  if (seq >= sent || seen.has(seq)) return
  seen.add(seq)
  received++
  lastProgress = Date.now()
  if (received === o.count) done()
  else pump()
})

setInterval(() => {
  if (Date.now() - lastProgress < 200) return
  if (sent === o.count) done()
  writtenOff = sent - received
  lastProgress = Date.now()
  pump()
}, 50)

setTimeout(done, o.timeout)
sock.bind(0, () => pump())
