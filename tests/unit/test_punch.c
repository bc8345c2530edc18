/* The hole-punching messages: candidates encode and parse back, exact
 * bytes, bad input refused, other versions and unknown kinds ignored, the
 * observed address; the probe. */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "iron/punch.h"
#include "iron/transport.h"

int main(void)
{
	struct punch_candidate c[3] = {
	    {.kind = PUNCH_REFLEXIVE}, {.kind = PUNCH_LOCAL}, {.kind = PUNCH_MAPPED}};
	struct punch_candidate out[PUNCH_MAX_CANDIDATES];
	uint8_t buf[128];
	struct netaddr seen, observed;
	CHECK_INT(netaddr_parse("203.0.113.1:4766", &c[0].addr), 0);
	CHECK_INT(netaddr_parse("[fd00::2]:4766", &c[1].addr), 0);
	CHECK_INT(netaddr_parse("198.51.100.7:1", &c[2].addr), 0);
	int len = punch_encode(c, 3, buf, sizeof(buf));
	CHECK_INT(len, 3 + 8 + 20 + 8);
	static const uint8_t head[] = {1, 1, 3, 2, 4, 203, 0, 113, 1, 0x12, 0x9e, 1, 6, 0xfd};
	CHECK(memcmp(buf, head, sizeof(head)) == 0);
	CHECK_INT(punch_parse(buf, (size_t)len, out, PUNCH_MAX_CANDIDATES, &seen), 3);
	CHECK(seen.sa.sa_family == AF_UNSPEC);
	for (int i = 0; i < 3; i++) {
		CHECK(out[i].kind == c[i].kind);
		CHECK(netaddr_equal(&out[i].addr.sa, &c[i].addr.sa));
	}
	/* At most max are kept; the rest is still checked. */
	CHECK_INT(punch_parse(buf, (size_t)len, out, 1, NULL), 1);
	/* Cut anywhere: malformed. */
	for (int cut = 0; cut < len; cut++)
		if (cut != 3)
			CHECK_INT(punch_parse(buf, (size_t)cut, out, PUNCH_MAX_CANDIDATES, NULL),
				  -EBADMSG);
	/* Trailing bytes are ignored. */
	buf[len] = 0xff;
	CHECK_INT(punch_parse(buf, (size_t)len + 1, out, PUNCH_MAX_CANDIDATES, NULL), 3);
	/* A newer version or another type: nothing, not an error. */
	uint8_t newer[] = {2, 1, 0}, other[] = {1, 9, 0};
	CHECK_INT(punch_parse(newer, 3, out, 4, NULL), 0);
	CHECK_INT(punch_parse(other, 3, out, 4, NULL), 0);
	/* A kind of a newer node is skipped. */
	uint8_t new_kind[] = {1, 1, 2, 7, 4, 1, 2, 3, 4, 0, 1, 1, 4, 1, 2, 3, 5, 0, 1};
	CHECK_INT(punch_parse(new_kind, sizeof(new_kind), out, 4, NULL), 1);
	CHECK(out[0].kind == PUNCH_LOCAL);
	/* The observed address after the candidates. */
	CHECK_INT(netaddr_parse("192.0.2.9:40001", &observed), 0);
	int olen = punch_append_observed(buf, (size_t)len, sizeof(buf), &observed.sa);
	CHECK_INT(olen, len + 1 + 1 + 4 + 2);
	CHECK_INT(buf[len], PUNCH_TAG_OBSERVED);
	CHECK_INT(punch_parse(buf, (size_t)olen, out, PUNCH_MAX_CANDIDATES, &seen), 3);
	CHECK(netaddr_equal(&seen.sa, &observed.sa));
	CHECK_INT(punch_parse(buf, (size_t)olen - 1, out, PUNCH_MAX_CANDIDATES, &seen), -EBADMSG);
	CHECK_INT(punch_append_observed(buf, (size_t)len, (size_t)len + 4, &observed.sa),
		  -EMSGSIZE);
	/* Unknown family, port 0, too many. */
	uint8_t bad_kind[] = {1, 1, 1, 7, 5, 1, 2, 3, 4, 0, 1};
	uint8_t bad_family[] = {1, 1, 1, 1, 5, 1, 2, 3, 4, 0, 1};
	uint8_t port0[] = {1, 1, 1, 1, 4, 1, 2, 3, 4, 0, 0};
	uint8_t many[] = {1, 1, PUNCH_MAX_CANDIDATES + 1};
	CHECK_INT(punch_parse(bad_kind, sizeof(bad_kind), out, 4, NULL), -EBADMSG);
	CHECK_INT(punch_parse(bad_family, sizeof(bad_family), out, 4, NULL), -EBADMSG);
	CHECK_INT(punch_parse(port0, sizeof(port0), out, 4, NULL), -EBADMSG);
	CHECK_INT(punch_parse(many, sizeof(many), out, 4, NULL), -EBADMSG);
	/* Limits of encoding. */
	CHECK_INT(punch_encode(c, 3, buf, 10), -EMSGSIZE);
	CHECK_INT(punch_encode(c, PUNCH_MAX_CANDIDATES + 1, buf, sizeof(buf)), -EMSGSIZE);
	/* The probe is an iron control datagram. */
	uint8_t probe[PUNCH_PROBE_LEN];
	punch_write_probe(probe);
	CHECK(transport_classify(probe, sizeof(probe)) == TRANSPORT_IRON);
	CHECK_STR(punch_kind_name(PUNCH_REFLEXIVE), "reflexive");
	return check_done();
}
