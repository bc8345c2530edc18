/* iron's pkarr codec from the command line, for tests/interop/pkarr_vector.sh
 * to hold against an independent implementation (npm pkarr):
 *
 *   pkarrtool id SEED_HEX
 *       prints the node ID as z-base-32 and as hex, one per line
 *   pkarrtool sign SEED_HEX TS_US [--relay URL] [--addr IP:PORT]...
 *       prints the signed packet (signature, timestamp, DNS packet) in hex
 *   pkarrtool parse ID PACKET_HEX
 *       verifies a signed packet against ID (z-base-32 or hex) and prints
 *       "ts N", "ttl N", "relay URL" and one "addr A" line per address
 *
 * Exit status: 0, 1 for a packet refused (reason on stderr), 2 for usage. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iron/encoding.h"
#include "iron/identity.h"
#include "iron/pkarr.h"

static int usage(void)
{
	fprintf(stderr, "usage: pkarrtool id SEED_HEX\n"
			"       pkarrtool sign SEED_HEX TS_US [--relay URL] [--addr IP:PORT]...\n"
			"       pkarrtool parse ID PACKET_HEX\n");
	return 2;
}

static int load_identity(const char *hex, struct iron_identity *identity)
{
	uint8_t seed[IDENTITY_SEED_LEN];
	if (encoding_hex_decode(hex, seed, sizeof(seed)) != 0) {
		fprintf(stderr, "pkarrtool: the seed must be 64 hex digits\n");
		return -EINVAL;
	}
	identity_from_seed(seed, identity);
	return 0;
}

static int cmd_id(int argc, char **argv)
{
	struct iron_identity identity;
	char z32[IRON_ID_BASE32_LEN + 1], hex[IRON_ID_HEX_LEN + 1];
	if (argc != 3 || load_identity(argv[2], &identity) != 0)
		return usage();
	encoding_zbase32_encode(identity.id.bytes, IRON_ID_LEN, z32, sizeof(z32));
	id_to_hex(&identity.id, hex);
	printf("%s\n%s\n", z32, hex);
	return 0;
}

static int cmd_sign(int argc, char **argv)
{
	struct iron_identity identity;
	struct pkarr_record rec;
	uint8_t dns[PKARR_MAX_DNS], signed_packet[PKARR_MAX_SIGNED];
	char hex[2 * PKARR_MAX_SIGNED + 1];

	if (argc < 4 || load_identity(argv[2], &identity) != 0)
		return usage();
	char *end;
	errno = 0;
	uint64_t ts = strtoull(argv[3], &end, 10);
	if (errno || *end || end == argv[3])
		return usage();
	memset(&rec, 0, sizeof(rec));
	for (int i = 4; i < argc; i += 2) {
		if (i + 1 >= argc)
			return usage();
		if (strcmp(argv[i], "--relay") == 0) {
			snprintf(rec.relay, sizeof(rec.relay), "%s", argv[i + 1]);
		} else if (strcmp(argv[i], "--addr") == 0 && rec.naddrs < PKARR_MAX_ADDRS) {
			if (netaddr_parse(argv[i + 1], &rec.addrs[rec.naddrs]) != 0) {
				fprintf(stderr, "pkarrtool: bad address %s\n", argv[i + 1]);
				return 2;
			}
			rec.naddrs++;
		} else {
			return usage();
		}
	}
	int n = pkarr_encode_dns(&identity.id, &rec, dns, sizeof(dns));
	if (n < 0) {
		fprintf(stderr, "pkarrtool: cannot encode the record: %s\n", strerror(-n));
		return 1;
	}
	int len = pkarr_sign(&identity, ts, dns, (size_t)n, signed_packet, sizeof(signed_packet));
	if (len < 0) {
		fprintf(stderr, "pkarrtool: cannot sign: %s\n", strerror(-len));
		return 1;
	}
	encoding_hex_encode(signed_packet, (size_t)len, hex, sizeof(hex));
	printf("%s\n", hex);
	identity_wipe(&identity);
	return 0;
}

static int cmd_parse(int argc, char **argv)
{
	struct iron_id id;
	static uint8_t packet[4 * PKARR_MAX_SIGNED];
	struct pkarr_record rec;

	if (argc != 4)
		return usage();
	if (strlen(argv[2]) == IRON_ID_BASE32_LEN) {
		if (encoding_zbase32_decode(argv[2], id.bytes, sizeof(id.bytes)) != 0)
			return usage();
	} else if (encoding_hex_decode(argv[2], id.bytes, sizeof(id.bytes)) != 0) {
		return usage();
	}
	size_t len = strlen(argv[3]) / 2;
	if (len > sizeof(packet) || encoding_hex_decode(argv[3], packet, len) != 0)
		return usage();
	uint64_t ts;
	const uint8_t *dns;
	size_t dns_len;
	int rc = pkarr_verify(&id, packet, len, &ts, &dns, &dns_len);
	if (rc != 0) {
		fprintf(stderr, "pkarrtool: packet refused: %s\n", strerror(-rc));
		return 1;
	}
	rc = pkarr_parse_dns(&id, dns, dns_len, &rec);
	if (rc != 0) {
		fprintf(stderr, "pkarrtool: record refused: %s\n", strerror(-rc));
		return 1;
	}
	printf("ts %" PRIu64 "\nttl %" PRIu32 "\n", ts, rec.ttl);
	if (rec.relay[0])
		printf("relay %s\n", rec.relay);
	for (size_t i = 0; i < rec.naddrs; i++) {
		char text[NETADDR_STR_SIZE];
		printf("addr %s\n", netaddr_format(&rec.addrs[i].sa, text, sizeof(text)));
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "id") == 0)
		return cmd_id(argc, argv);
	if (strcmp(argv[1], "sign") == 0)
		return cmd_sign(argc, argv);
	if (strcmp(argv[1], "parse") == 0)
		return cmd_parse(argc, argv);
	return usage();
}
