/* The control socket (SPEC section 9, docs/control.md): a Unix stream
 * socket on which the CLI (`iron status`, `peers`, `ping`) talks to the
 * daemon. Three parts, each with its own header:
 *   ctl_proto.h   the protocol as pure code: socket path, requests, replies;
 *   ctl_server.h  the daemon's server on its libuv loop;
 *   ctl_client.h  the CLI's blocking client.
 * This header includes all three for callers that use several. */
#ifndef IRON_CTL_H
#define IRON_CTL_H

#include "iron/ctl_proto.h"
#include "iron/ctl_server.h"
#include "iron/ctl_client.h"

#endif
