/* LAN discovery's mDNS codec on arbitrary bytes. mdns_parse() returns
 * -EBADMSG or a count within its room; every node it gives has a valid
 * key, a distinct ID, 1..LAN_MAX_ADDRS distinct addresses each with a
 * port, a printable relay; written back with mdns_encode_announce() it
 * parses to the same node. A service query gets no nodes from
 * mdns_parse() and a unicast reply that echoes its ID and parses back. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "iron/lan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROOM 4

static bool same_addrs(const struct lan_node *a, const struct lan_node *b)
{
	if (a->naddrs != b->naddrs)
		return false;
	for (size_t i = 0; i < a->naddrs; i++) {
		bool found = false;
		for (size_t j = 0; j < b->naddrs && !found; j++)
			found = netaddr_equal(&a->addrs[i].sa, &b->addrs[j].sa);
		if (!found)
			return false;
	}
	return true;
}

static void check_node(const struct lan_node *node)
{
	if (!id_is_valid(&node->id) || node->port == 0 || node->naddrs == 0 ||
	    node->naddrs > LAN_MAX_ADDRS)
		abort();
	for (size_t i = 0; i < node->naddrs; i++) {
		int family = node->addrs[i].sa.sa_family;
		if ((family != AF_INET && family != AF_INET6) ||
		    netaddr_port(&node->addrs[i].sa) == 0)
			abort();
		for (size_t j = 0; j < i; j++)
			if (netaddr_equal(&node->addrs[i].sa, &node->addrs[j].sa))
				abort();
	}
	size_t n = strnlen(node->relay, sizeof(node->relay));
	if (n == sizeof(node->relay))
		abort();
	for (size_t i = 0; i < n; i++)
		if (node->relay[i] <= 0x20 || node->relay[i] >= 0x7f)
			abort();

	/* Written back, read again: the same node. */
	static uint8_t buf[4096];
	struct lan_node again[2];
	int len = mdns_encode_announce(node, buf, sizeof(buf));
	if (len <= 0 || mdns_parse(buf, (size_t)len, again, 2) != 1 ||
	    memcmp(again[0].id.bytes, node->id.bytes, IRON_ID_LEN) != 0 ||
	    !same_addrs(node, &again[0]) || strcmp(again[0].relay, node->relay) != 0 ||
	    again[0].ttl != node->ttl || mdns_is_service_query(buf, (size_t)len))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lan_node nodes[ROOM], again[ROOM];
	int n = mdns_parse(data, size, nodes, ROOM);
	if (n != -EBADMSG && (n < 0 || n > ROOM))
		abort();
	/* Deterministic, and a smaller room takes a prefix of the nodes. */
	if (mdns_parse(data, size, again, ROOM) != n)
		abort();
	if (n > 0 && (mdns_parse(data, size, again, 1) != 1 ||
		      memcmp(again[0].id.bytes, nodes[0].id.bytes, IRON_ID_LEN) != 0))
		abort();
	for (int i = 0; i < n; i++) {
		check_node(&nodes[i]);
		for (int j = 0; j < i; j++)
			if (id_equal(&nodes[i].id, &nodes[j].id))
				abort();
	}

	if (!mdns_is_service_query(data, size))
		return 0;
	if (n != 0)
		abort(); /* a query announces nothing */
	struct lan_node self;
	memset(&self, 0, sizeof(self));
	memset(self.id.bytes, 0, IRON_ID_LEN);
	self.id.bytes[0] = 0x01; /* not checked by the encoder */
	self.port = 4766;
	self.ttl = 120;
	netaddr_parse("10.0.0.1:4766", &self.addrs[0]);
	self.naddrs = 1;
	static uint8_t reply[4096];
	int len = mdns_encode_unicast_reply(&self, data, size, reply, sizeof(reply));
	if (len == -EMSGSIZE)
		return 0;
	if (len < 12 || reply[0] != data[0] || reply[1] != data[1] || (reply[2] & 0x80) == 0 ||
	    reply[4] != 0 || reply[5] != 1 || mdns_parse(reply, (size_t)len, again, ROOM) < 0)
		abort();
	return 0;
}
