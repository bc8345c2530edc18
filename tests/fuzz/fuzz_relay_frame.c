/* relay_frame_decode() on arbitrary bytes. A frame it accepts must encode
 * back to the same bytes (a STATUS to its first two: iroh ignores the
 * rest), decode again to the same fields, and split into packets that
 * cover its data exactly; exact-size output buffers let AddressSanitizer
 * see an overrun, and one byte less must be refused. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iron/relay_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_fields(const struct relay_frame *a, const struct relay_frame *b)
{
	if (a->type != b->type || memcmp(a->challenge, b->challenge, sizeof(a->challenge)) ||
	    memcmp(a->key, b->key, sizeof(a->key)) ||
	    memcmp(a->signature, b->signature, sizeof(a->signature)) || a->ecn != b->ecn ||
	    a->segment_size != b->segment_size || a->data_len != b->data_len ||
	    (a->data_len && memcmp(a->data, b->data, a->data_len)) ||
	    memcmp(a->ping, b->ping, sizeof(a->ping)) || a->reconnect_in_ms != b->reconnect_in_ms ||
	    a->try_for_ms != b->try_for_ms || a->status != b->status)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct relay_frame f, g;
	int rc = relay_frame_decode(data, size, &f);
	if (rc == -ENOTSUP) {
		/* Only types beyond ours, in a well-formed varint. */
		if (size == 0 || (data[0] < 0x40 && data[0] <= RELAY_STATUS))
			abort();
		return 0;
	}
	if (rc != 0) {
		if (rc != -EBADMSG)
			abort();
		return 0;
	}
	if (f.data && (f.data < data || f.data + f.data_len > data + size))
		abort();

	size_t want = f.type == RELAY_STATUS ? 2 : size;
	uint8_t *out = malloc(want);
	if (!out)
		return 0;
	ssize_t n = relay_frame_encode(&f, out, want);
	if (n != (ssize_t)want || memcmp(out, data, want) != 0)
		abort();
	if (relay_frame_encode(&f, out, want - 1) != -ENOBUFS)
		abort();
	if (relay_frame_decode(out, want, &g) != 0)
		abort();
	if (f.data)
		g.data = g.data - out + data; /* compare where each points */
	same_fields(&f, &g);

	if (f.type >= RELAY_CLIENT_TO_RELAY_DATAGRAM &&
	    f.type <= RELAY_RELAY_TO_CLIENT_DATAGRAM_BATCH) {
		uint8_t head[RELAY_DATAGRAM_HEAD_MAX];
		size_t h = relay_datagram_head(head, f.type, f.key, f.ecn, f.segment_size);
		if (h + f.data_len != size || memcmp(head, data, h) != 0)
			abort();
		const uint8_t *pkt;
		size_t len, total = 0, i = 0;
		while (relay_frame_packet(&f, i, &pkt, &len)) {
			if (pkt != f.data + total || (len == 0 && f.segment_size))
				abort();
			if (f.segment_size && len > f.segment_size)
				abort();
			total += len;
			i++;
		}
		if (total != f.data_len || (i == 0 && !f.segment_size))
			abort();
	}
	free(out);
	return 0;
}
