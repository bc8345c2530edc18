/* The control-socket commands of `iron serve` (docs/control.md): status,
 * peers, ping. They see the daemon through this narrow context, which the
 * daemon fills once its parts exist; every pointer is borrowed. */
#ifndef IRON_DAEMON_CTL_H
#define IRON_DAEMON_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "iron/config.h"
#include "iron/ctl.h"
#include "iron/dataplane.h"
#include "iron/dns_server.h"
#include "iron/identity.h"
#include "iron/locator.h"
#include "iron/peer.h"
#include "iron/pinger.h"
#include "iron/registry.h"
#include "iron/transport.h"
#include "iron/tun.h"

struct daemon_ctl {
	const struct iron_identity *identity;
	const struct daemon_config *config;
	struct tun_device *tun;
	struct transport *transport;
	struct peer_table *peers;
	struct locator *locator;
	struct registry *registry;
	struct dns_server *dns;
	struct pinger *pinger;
	struct dataplane *dataplane;
	uint64_t started_ns;
	bool stopping; /* refuse new requests */
};

/* The control server's request handler; user is a struct daemon_ctl. */
void daemon_ctl_handle(void *user, const struct ctl_request *req, struct ctl_reply *reply);

#endif
