// npm pkarr (an independent pkarr implementation: bencode, dns-packet,
// sodium) on the packets iron signs, for pkarr_vector.sh:
//
//   node pkarr_vector.mjs verify PUBKEY PACKET_HEX
//       SignedPacket.fromBytes (signature check, DNS decode); prints JSON
//       {z32, ts, flags, id, questions, answers: [{name, type, class, ttl,
//       data: [strings]}]}; exits 1 with the error when it is refused
//   node pkarr_vector.mjs build SEED_HEX TS_US TTL STRING...
//       SignedPacket.fromPacket with one TXT record "_iroh" per string;
//       prints the signed packet (signature, timestamp, DNS) in hex
//
// PUBKEY is hex or z-base-32.
import { SignedPacket, generateKeyPair, z32 } from 'pkarr'

function publicKey (text) {
  return text.length === 64 ? Buffer.from(text, 'hex') : z32.decode(text)
}

const [mode, ...args] = process.argv.slice(2)
try {
  if (mode === 'verify') {
    const key = publicKey(args[0])
    const sp = SignedPacket.fromBytes(key, Buffer.from(args[1], 'hex'))
    const packet = sp.packet()
    console.log(JSON.stringify({
      z32: z32.encode(key),
      ts: sp.timestamp(),
      id: packet.id,
      flags: packet.flags,
      type: packet.type,
      questions: packet.questions.length,
      answers: packet.answers.map(rr => ({
        name: rr.name,
        type: rr.type,
        class: rr.class,
        ttl: rr.ttl,
        data: (Array.isArray(rr.data) ? rr.data : [rr.data]).map(b => Buffer.from(b).toString())
      }))
    }))
  } else if (mode === 'build') {
    const keypair = generateKeyPair(Buffer.from(args[0], 'hex'))
    const timestamp = Number(args[1])
    const ttl = Number(args[2])
    const packet = {
      type: 'response',
      id: 0,
      flags: 0,
      answers: args.slice(3).map(s => ({ type: 'TXT', name: '_iroh', class: 'IN', ttl, data: s }))
    }
    const sp = SignedPacket.fromPacket(keypair, packet, { timestamp })
    console.log(Buffer.from(sp.bytes()).toString('hex'))
  } else {
    console.error('usage: pkarr_vector.mjs verify PUBKEY HEX | build SEED TS TTL STRING...')
    process.exit(2)
  }
} catch (err) {
  console.error(`pkarr: ${err.message}`)
  process.exit(1)
}
