/* Node ID encodings and overlay addresses: the known-answer triple of SPEC
 * section 2 in every direction, and round trips over random keys. */
#include <arpa/inet.h>
#include <errno.h>
#include <sodium.h>

#include "check.h"
#include "iron/addr.h"
#include "iron/encoding.h"
#include "iron/id.h"
#include "iron/identity.h"

static const char kat_hex[] = "197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d61";
static const char kat_b32[] = "df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq";
static const char kat_ip[] = "fd69:726f::39b:fa8b:3d36:8d61";

static void test_known_answer(void)
{
	struct iron_id a, b, c;
	enum id_form form;
	char hex[IRON_ID_HEX_LEN + 1], b32[IRON_ID_BASE32_LEN + 1], dom[IRON_ID_DOMAIN_SIZE];
	char ip[ADDR_STR_SIZE];
	struct in6_addr addr;

	CHECK_INT(id_parse(kat_hex, &a, &form), 0);
	CHECK_INT(form, ID_FORM_HEX);
	CHECK_INT(id_parse(kat_b32, &b, &form), 0);
	CHECK_INT(form, ID_FORM_BASE32);
	CHECK_MEM(a.bytes, b.bytes, 32);
	CHECK_INT(id_parse("DF7WWI7BNSCTFRVLZA4PVTK6U6E34DDWWKJAGNADTP5IWPJWRVQQ.IRON.", &c, &form),
		  0);
	CHECK_INT(form, ID_FORM_DOMAIN);
	CHECK_MEM(a.bytes, c.bytes, 32);
	id_to_hex(&b, hex);
	CHECK_STR(hex, kat_hex);
	id_to_base32(&a, b32);
	CHECK_STR(b32, kat_b32);
	id_to_domain(&a, dom);
	CHECK_STR(dom, "df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq.iron");
	addr_from_id(&a, &addr);
	CHECK_STR(addr_format(&addr, ip), kat_ip);
	CHECK(addr_is_node(&addr));
	CHECK(addr_in_overlay(&addr_dns));
	CHECK(!addr_is_node(&addr_dns));
	CHECK_STR(addr_format(&addr_dns, ip), "fd69:726f:0:1::53");
}

static void test_rejects(void)
{
	struct iron_id id;
	/* '=' padding, non-zero trailing bits, bad characters, wrong lengths. */
	CHECK_INT(id_parse("df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq====", &id, NULL),
		  -EINVAL);
	CHECK_INT(id_parse("df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqr", &id, NULL),
		  -EINVAL);
	CHECK_INT(id_parse("df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvq1", &id, NULL),
		  -EINVAL);
	CHECK_INT(id_parse("df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvq", &id, NULL),
		  -EINVAL);
	CHECK_INT(
	    id_parse("197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d6g", &id, NULL),
	    -EINVAL);
	CHECK_INT(
	    id_parse("197f6b23e16c8532c6abc838facd5ea789be0c76b2920334039bfa8b3d368d6", &id, NULL),
	    -EINVAL);
	CHECK_INT(id_parse("df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq.irob", &id, NULL),
		  -EINVAL);
	CHECK_INT(
	    id_parse("x.df7wwi7bnsctfrvlza4pvtk6u6e34ddwwkjagnadtp5iwpjwrvqq.iron", &id, NULL),
	    -EINVAL);
	CHECK_INT(id_parse("", &id, NULL), -EINVAL);
	/* 32 bytes that are not a point on the curve: y = 2 has no x. */
	CHECK_INT(
	    id_parse("0200000000000000000000000000000000000000000000000000000000000000", &id, NULL),
	    -EINVAL);
}

static void test_round_trips(void)
{
	for (int i = 0; i < 2000; i++) {
		struct iron_identity ident;
		struct iron_id back;
		char hex[IRON_ID_HEX_LEN + 1], b32[IRON_ID_BASE32_LEN + 1],
		    dom[IRON_ID_DOMAIN_SIZE];
		char b64[ENCODING_BASE64_LEN(32) + 1];
		uint8_t seed[32];
		identity_generate(&ident);
		id_to_hex(&ident.id, hex);
		id_to_base32(&ident.id, b32);
		id_to_domain(&ident.id, dom);
		CHECK(b32[51] == 'a' || b32[51] == 'q');
		CHECK(id_parse(hex, &back, NULL) == 0 && id_equal(&back, &ident.id));
		CHECK(id_parse(b32, &back, NULL) == 0 && id_equal(&back, &ident.id));
		CHECK(id_parse(dom, &back, NULL) == 0 && id_equal(&back, &ident.id));
		CHECK_INT(encoding_base64_encode(ident.seed, 32, b64, sizeof(b64)), 0);
		CHECK_INT(encoding_base64_decode(b64, seed, 32), 0);
		CHECK_MEM(seed, ident.seed, 32);
		char z[ENCODING_BASE32_LEN(32) + 1];
		CHECK_INT(encoding_zbase32_encode(ident.id.bytes, 32, z, sizeof(z)), 0);
		CHECK_INT(encoding_zbase32_decode(z, back.bytes, 32), 0);
		CHECK_MEM(back.bytes, ident.id.bytes, 32);
	}
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	test_known_answer();
	test_rejects();
	test_round_trips();
	return check_done();
}
