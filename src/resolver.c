/* c-ares on a libuv loop. c-ares tells us which sockets it wants watched
 * (sock_state_cb) and when it next needs a wake-up (ares_timeout); the loop
 * watches them with uv_poll_t and one uv_timer_t and hands events back with
 * ares_process_fd().
 *
 * Two things c-ares does not allow drive the structure:
 * - ares_destroy() must not run inside a c-ares callback, yet a user
 *   callback may call resolver_del(). The resolver counts the c-ares calls
 *   on the stack (depth) and destroys the channel when the outermost one
 *   returns.
 * - c-ares cannot cancel one query. A cancelled query is reported at once
 *   and its record stays, marked, until c-ares lets go of it.
 *
 * A query record is alive while its callback has not run or c-ares still
 * holds it; it is on the waiting list (c-ares working) or the ready list
 * (result kept for the idle handle to report) until its callback runs. */
#define LOG_MODULE "resolver"
#include <ares.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "iron/dns.h"
#include "iron/log.h"
#include "iron/resolver.h"

struct list_link {
	struct list_link *prev, *next;
};

static void list_init(struct list_link *head)
{
	head->prev = head->next = head;
}

static bool list_empty(const struct list_link *head)
{
	return head->next == head;
}

static void list_unlink(struct list_link *link)
{
	link->prev->next = link->next;
	link->next->prev = link->prev;
	link->prev = link->next = link;
}

static void list_append(struct list_link *head, struct list_link *link)
{
	link->prev = head->prev;
	link->next = head;
	head->prev->next = link;
	head->prev = link;
}

enum query_kind { QUERY_HOST, QUERY_RAW, QUERY_TXT };

struct resolver_query {
	struct list_link link; /* first: the lists hold this link */
	struct resolver *owner;
	enum query_kind kind;
	union {
		resolver_host_fn *host;
		resolver_answer_fn *answer;
		resolver_txt_fn *txt;
	} cb;
	void *user;
	uint16_t port;
	bool in_ares;  /* c-ares holds a pointer to it */
	bool reported; /* its callback has run (or is running) */
	bool starting; /* inside the function that starts it */
	/* The outcome, kept until reported. */
	int status;
	uint8_t *answer; /* QUERY_RAW, QUERY_TXT */
	size_t answer_len;
	struct netaddr *addrs; /* QUERY_HOST */
	size_t naddrs;
};

/* One c-ares socket watched by the loop. */
struct resolver_poll {
	uv_poll_t handle;
	ares_socket_t fd;
	struct resolver *owner;
	struct resolver_poll *next;
};

struct resolver {
	uv_loop_t *loop;
	ares_channel channel;
	uv_timer_t timer; /* c-ares' next timeout */
	uv_idle_t idle;	  /* reports the ready list */
	struct resolver_poll *polls;
	struct list_link waiting, ready;
	size_t alive, max_queries;
	unsigned depth;	   /* c-ares calls on the stack */
	unsigned handles;  /* libuv handles not yet closed */
	bool library_init; /* ares_library_init() to undo */
	bool closing;	   /* resolver_del() called */
	bool destroyed;	   /* channel gone, handles closing */
};

const char *resolver_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case -ENOENT:
		return "no such name (NXDOMAIN)";
	case -ENODATA:
		return "no record of that type";
	case -ETIMEDOUT:
		return "no answer in time";
	case -ECONNREFUSED:
		return "cannot reach the server";
	case -EREMOTEIO:
		return "server failure (SERVFAIL)";
	case -EACCES:
		return "the server refused the query (REFUSED)";
	case -EOPNOTSUPP:
		return "the server does not implement the query (NOTIMP)";
	case -EPROTO:
		return "the server could not read the query (FORMERR)";
	case -EBADMSG:
		return "malformed answer";
	case -ECONNRESET:
		return "the server closed the connection";
	case -EINVAL:
		return "not a valid name";
	case -EAGAIN:
		return "too many lookups in flight";
	case -ECANCELED:
		return "cancelled";
	case -ENOMEM:
		return "out of memory";
	default:
		return strerror(-err);
	}
}

/* Translates a c-ares status, logging c-ares' own text for the ones that
 * lose detail on the way. */
static int from_ares(int status)
{
	switch (status) {
	case ARES_SUCCESS:
		return 0;
	case ARES_ENODATA:
		return -ENODATA;
	case ARES_ENOTFOUND:
		return -ENOENT;
	case ARES_ETIMEOUT:
		return -ETIMEDOUT;
	case ARES_ECONNREFUSED:
		return -ECONNREFUSED;
	case ARES_ESERVFAIL:
		return -EREMOTEIO;
	case ARES_EREFUSED:
		return -EACCES;
	case ARES_ENOTIMP:
		return -EOPNOTSUPP;
	case ARES_EFORMERR:
		return -EPROTO;
	case ARES_EBADRESP:
		return -EBADMSG;
	case ARES_EOF:
		return -ECONNRESET;
	case ARES_ENOMEM:
		return -ENOMEM;
	case ARES_ECANCELLED:
	case ARES_EDESTRUCTION:
		return -ECANCELED;
	case ARES_EBADNAME:
	case ARES_EBADQUERY:
	case ARES_EBADSTR:
	case ARES_ENONAME:
	case ARES_EBADFAMILY:
	case ARES_EBADFLAGS:
	case ARES_EBADHINTS:
		log_debug("c-ares: %s", ares_strerror(status));
		return -EINVAL;
	default:
		log_debug("c-ares: %s", ares_strerror(status));
		return -EIO;
	}
}

/* The error of a reply's rcode (0 for NOERROR). */
static int from_rcode(unsigned rcode)
{
	switch (rcode) {
	case DNS_RCODE_NOERROR:
		return 0;
	case DNS_RCODE_FORMERR:
		return -EPROTO;
	case DNS_RCODE_SERVFAIL:
		return -EREMOTEIO;
	case DNS_RCODE_NXDOMAIN:
		return -ENOENT;
	case DNS_RCODE_NOTIMP:
		return -EOPNOTSUPP;
	case DNS_RCODE_REFUSED:
		return -EACCES;
	default:
		return -EIO;
	}
}

/* --- query records ------------------------------------------------------- */

static void query_free(struct resolver_query *q)
{
	q->owner->alive--;
	free(q->answer);
	free(q->addrs);
	free(q);
}

/* The TXT records of a response. On success *records and *storage are
 * allocated (the caller frees both). */
static int parse_txt(const uint8_t *answer, size_t len, struct resolver_txt **records, size_t *n,
		     uint8_t **storage)
{
	struct ares_txt_ext *list = NULL;
	struct resolver_txt *out = NULL;
	uint8_t *bytes = NULL;
	size_t count = 0, total = 0, used = 0;
	int rc;

	*records = NULL;
	*storage = NULL;
	*n = 0;
	if (len < DNS_HEADER_LEN)
		return -EBADMSG;
	if ((rc = from_rcode(answer[3] & 0x0f)) < 0)
		return rc;
	rc = ares_parse_txt_reply_ext(answer, (int)len, &list);
	if (rc != ARES_SUCCESS)
		return from_ares(rc);
	if (!list)
		return -ENODATA;
	for (struct ares_txt_ext *t = list; t; t = t->next) {
		if (t->record_start || t == list)
			count++;
		total += t->length;
	}
	rc = -ENOMEM;
	out = calloc(count, sizeof(*out));
	bytes = malloc(total ? total : 1);
	if (!out || !bytes)
		goto out;
	count = 0;
	for (struct ares_txt_ext *t = list; t; t = t->next) {
		if (t->record_start || t == list)
			out[count++].data = bytes + used;
		if (t->length)
			memcpy(bytes + used, t->txt, t->length);
		out[count - 1].len += t->length;
		used += t->length;
	}
	*records = out;
	*storage = bytes;
	*n = count;
	out = NULL;
	bytes = NULL;
	rc = 0;
out:
	free(bytes);
	free(out);
	ares_free_data(list);
	return rc;
}

/* Runs q's callback with status (q's own outcome or an error) and lets go
 * of q. Decides before the callback whether q can be freed: the callback
 * may call resolver_del(), which makes c-ares drop the queries it holds. */
static void report(struct resolver_query *q, int status)
{
	struct resolver_query done = *q;

	list_unlink(&q->link);
	q->reported = true;
	q->answer = NULL;
	q->addrs = NULL;
	if (!q->in_ares)
		query_free(q);
	if (status < 0) {
		free(done.answer);
		free(done.addrs);
		done.answer = NULL;
		done.addrs = NULL;
	}
	switch (done.kind) {
	case QUERY_HOST:
		done.cb.host(done.user, status, status < 0 ? NULL : done.addrs,
			     status < 0 ? 0 : done.naddrs);
		break;
	case QUERY_RAW:
		done.cb.answer(done.user, status, done.answer, status < 0 ? 0 : done.answer_len);
		break;
	case QUERY_TXT: {
		struct resolver_txt *records = NULL;
		uint8_t *storage = NULL;
		size_t n = 0;
		if (status == 0)
			status = parse_txt(done.answer, done.answer_len, &records, &n, &storage);
		done.cb.txt(done.user, status, records, n);
		free(records);
		free(storage);
		break;
	}
	}
	free(done.answer);
	free(done.addrs);
}

/* c-ares let go of q, with its outcome stored in it. */
static void query_ended(struct resolver_query *q)
{
	q->in_ares = false;
	if (q->reported) {
		query_free(q);
		return;
	}
	if (q->starting)
		return; /* the start function decides */
	report(q, q->status);
}

static void on_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct resolver_query *q = arg;
	(void)timeouts;

	if (!q->reported) {
		q->status = from_ares(status);
		if (q->status == 0 && (!abuf || alen < DNS_HEADER_LEN))
			q->status = -EBADMSG;
		if (q->status == 0) {
			q->answer = malloc((size_t)alen);
			if (q->answer) {
				memcpy(q->answer, abuf, (size_t)alen);
				q->answer_len = (size_t)alen;
			} else {
				q->status = -ENOMEM;
			}
		}
	}
	query_ended(q);
}

static void on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *result)
{
	struct resolver_query *q = arg;
	size_t n = 0;
	(void)timeouts;

	if (!q->reported) {
		q->status = from_ares(status);
		if (q->status == 0) {
			for (struct ares_addrinfo_node *node = result ? result->nodes : NULL; node;
			     node = node->ai_next)
				if (node->ai_family == AF_INET || node->ai_family == AF_INET6)
					n++;
			if (n > RESOLVER_ADDRS_MAX)
				n = RESOLVER_ADDRS_MAX;
			q->addrs = n ? calloc(n, sizeof(*q->addrs)) : NULL;
			if (n == 0)
				q->status = -ENODATA;
			else if (!q->addrs)
				q->status = -ENOMEM;
		}
		if (q->status == 0) {
			for (struct ares_addrinfo_node *node = result->nodes; node && q->naddrs < n;
			     node = node->ai_next) {
				struct netaddr *a = &q->addrs[q->naddrs];
				if (netaddr_set(a, node->ai_addr) != 0)
					continue;
				if (a->sa.sa_family == AF_INET)
					a->in.sin_port = htons(q->port);
				else
					a->in6.sin6_port = htons(q->port);
				q->naddrs++;
			}
		}
	}
	if (result)
		ares_freeaddrinfo(result);
	query_ended(q);
}

/* --- c-ares on the loop -------------------------------------------------- */

static void teardown(struct resolver *r);

/* One of r's handles is closed; the last one frees r. */
static void handle_closed(struct resolver *r)
{
	if (--r->handles > 0 || !r->destroyed)
		return;
	if (r->library_init)
		ares_library_cleanup();
	free(r);
}

static void on_handle_closed(uv_handle_t *handle)
{
	handle_closed(handle->data);
}

static void on_poll_closed(uv_handle_t *handle)
{
	struct resolver_poll *p = handle->data;
	struct resolver *r = p->owner;
	free(p);
	handle_closed(r);
}

static void close_poll(struct resolver *r, struct resolver_poll *p)
{
	struct resolver_poll **link = &r->polls;
	while (*link != p)
		link = &(*link)->next;
	*link = p->next;
	uv_poll_stop(&p->handle);
	uv_close((uv_handle_t *)&p->handle, on_poll_closed);
}

static void on_timer(uv_timer_t *timer);

/* Arms the timer for c-ares' next timeout, or stops it when none. */
static void schedule(struct resolver *r)
{
	struct timeval tv, *next;
	uint64_t ms;
	int rc;

	if (r->closing)
		return;
	next = ares_timeout(r->channel, NULL, &tv);
	if (!next) {
		uv_timer_stop(&r->timer);
		return;
	}
	/* Rounded up: waking early would only spin. */
	ms = (uint64_t)next->tv_sec * 1000 + ((uint64_t)next->tv_usec + 999) / 1000;
	if ((rc = uv_timer_start(&r->timer, on_timer, ms, 0)) < 0)
		log_warn("cannot arm the timeout timer: %s", uv_strerror(rc));
}

static void enter(struct resolver *r)
{
	r->depth++;
}

/* After a c-ares call: the deferred resolver_del(), or the next timeout. */
static void leave(struct resolver *r)
{
	if (--r->depth > 0)
		return;
	if (r->closing && !r->destroyed)
		teardown(r);
	else
		schedule(r);
}

static void on_timer(uv_timer_t *timer)
{
	struct resolver *r = timer->data;
	enter(r);
	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	leave(r);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
	struct resolver_poll *p = handle->data;
	struct resolver *r = p->owner;
	/* On a poll error let c-ares read, so it sees the socket's error. */
	ares_socket_t readable = status < 0 || (events & UV_READABLE) ? p->fd : ARES_SOCKET_BAD;
	ares_socket_t writable = status == 0 && (events & UV_WRITABLE) ? p->fd : ARES_SOCKET_BAD;

	enter(r);
	ares_process_fd(r->channel, readable, writable); /* may close p */
	leave(r);
}

static void on_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver *r = data;
	struct resolver_poll *p = r->polls;
	int rc;

	while (p && p->fd != fd)
		p = p->next;
	if (!readable && !writable) {
		/* c-ares closes the socket next: stop watching it first. */
		if (p)
			close_poll(r, p);
		return;
	}
	if (!p) {
		if (!(p = calloc(1, sizeof(*p)))) {
			log_warn("cannot watch a DNS socket: out of memory");
			return; /* its queries time out */
		}
		if ((rc = uv_poll_init_socket(r->loop, &p->handle, fd)) < 0) {
			log_warn("cannot watch DNS socket %d: %s", (int)fd, uv_strerror(rc));
			free(p);
			return;
		}
		p->fd = fd;
		p->owner = r;
		p->handle.data = p;
		p->next = r->polls;
		r->polls = p;
		r->handles++;
	}
	rc = uv_poll_start(&p->handle, (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0),
			   on_poll);
	if (rc < 0)
		log_warn("cannot watch DNS socket %d: %s", (int)fd, uv_strerror(rc));
}

static void on_idle(uv_idle_t *idle)
{
	struct resolver *r = idle->data;
	size_t n = 0;

	/* Only what is ready now: callbacks may add more for the next turn. */
	for (struct list_link *l = r->ready.next; l != &r->ready; l = l->next)
		n++;
	while (n-- > 0 && !list_empty(&r->ready)) {
		struct resolver_query *q = (struct resolver_query *)r->ready.next;
		report(q, q->status);
	}
	if (!r->destroyed && list_empty(&r->ready))
		uv_idle_stop(&r->idle);
}

/* Destroys the channel (ending the queries it holds, closing its sockets)
 * and closes the handles; the last close callback frees r. */
static void teardown(struct resolver *r)
{
	r->destroyed = true;
	if (r->channel) {
		ares_destroy(r->channel);
		r->channel = NULL;
	}
	while (r->polls)
		close_poll(r, r->polls);
	uv_close((uv_handle_t *)&r->timer, on_handle_closed);
	uv_close((uv_handle_t *)&r->idle, on_handle_closed);
}

/* --- the API --------------------------------------------------------------- */

static int set_servers(struct resolver *r, const struct resolver_options *options)
{
	struct ares_addr_port_node *nodes;
	int rc;

	nodes = calloc(options->nservers, sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	for (size_t i = 0; i < options->nservers; i++) {
		const struct netaddr *s = &options->servers[i];
		int port = netaddr_port(&s->sa) ? netaddr_port(&s->sa) : 53;
		nodes[i].next = i + 1 < options->nservers ? &nodes[i + 1] : NULL;
		nodes[i].family = s->sa.sa_family;
		nodes[i].udp_port = port;
		nodes[i].tcp_port = port;
		if (s->sa.sa_family == AF_INET)
			nodes[i].addr.addr4 = s->in.sin_addr;
		else
			memcpy(&nodes[i].addr.addr6, &s->in6.sin6_addr, sizeof(s->in6.sin6_addr));
	}
	rc = ares_set_servers_ports(r->channel, nodes);
	free(nodes);
	if (rc != ARES_SUCCESS) {
		log_error("c-ares: cannot set the servers: %s", ares_strerror(rc));
		return rc == ARES_ENOMEM ? -ENOMEM : -EIO;
	}
	return 0;
}

int resolver_new(uv_loop_t *loop, const struct resolver_options *options, struct resolver **out)
{
	static const struct resolver_options defaults;
	struct ares_options ao = {0};
	struct resolver *r;
	int mask = ARES_OPT_SOCK_STATE_CB, rc;

	*out = NULL;
	if (!options)
		options = &defaults;
	for (size_t i = 0; i < options->nservers; i++) {
		int family = options->servers[i].sa.sa_family;
		if (family != AF_INET && family != AF_INET6)
			return -EINVAL;
	}
	if (!(r = calloc(1, sizeof(*r))))
		return -ENOMEM;
	r->loop = loop;
	r->max_queries = options->max_queries ? options->max_queries : RESOLVER_MAX_QUERIES_DEFAULT;
	list_init(&r->waiting);
	list_init(&r->ready);

	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		log_error("c-ares: cannot initialize: %s", ares_strerror(rc));
		rc = rc == ARES_ENOMEM ? -ENOMEM : -EIO;
		goto fail;
	}
	r->library_init = true;
	ao.sock_state_cb = on_sock_state;
	ao.sock_state_cb_data = r;
	if (options->timeout_ms) {
		ao.timeout = (int)(options->timeout_ms > 3600000 ? 3600000 : options->timeout_ms);
		mask |= ARES_OPT_TIMEOUTMS;
	}
	if (options->tries) {
		ao.tries = (int)(options->tries > 100 ? 100 : options->tries);
		mask |= ARES_OPT_TRIES;
	}
	if (options->every_rcode) {
		ao.flags = ARES_FLAG_NOCHECKRESP;
		mask |= ARES_OPT_FLAGS;
	}
	if ((rc = ares_init_options(&r->channel, &ao, mask)) != ARES_SUCCESS) {
		log_error("c-ares: cannot initialize: %s", ares_strerror(rc));
		r->channel = NULL;
		rc = rc == ARES_ENOMEM ? -ENOMEM : -EIO;
		goto fail;
	}
	if (options->nservers > 0 && (rc = set_servers(r, options)) < 0)
		goto fail;
	if ((rc = uv_timer_init(loop, &r->timer)) < 0)
		goto fail;
	r->timer.data = r;
	r->handles++;
	if ((rc = uv_idle_init(loop, &r->idle)) < 0) {
		/* The timer must be closed, so r goes in its close callback. */
		r->destroyed = true;
		ares_destroy(r->channel);
		uv_close((uv_handle_t *)&r->timer, on_handle_closed);
		return rc;
	}
	r->idle.data = r;
	r->handles++;
	*out = r;
	return 0;
fail:
	if (r->channel)
		ares_destroy(r->channel);
	if (r->library_init)
		ares_library_cleanup();
	free(r);
	return rc;
}

void resolver_del(struct resolver *r)
{
	if (!r || r->closing)
		return;
	r->closing = true;
	while (!list_empty(&r->ready))
		report((struct resolver_query *)r->ready.next, -ECANCELED);
	while (!list_empty(&r->waiting))
		report((struct resolver_query *)r->waiting.next, -ECANCELED);
	if (r->depth == 0)
		teardown(r);
}

void resolver_cancel(struct resolver_query *q)
{
	if (q && !q->reported)
		report(q, -ECANCELED);
}

size_t resolver_pending(const struct resolver *r)
{
	return r->alive;
}

static struct resolver_query *query_new(struct resolver *r, enum query_kind kind, void *user,
					int *err)
{
	struct resolver_query *q;

	if (r->closing) {
		*err = -ECANCELED;
		return NULL;
	}
	if (r->alive >= r->max_queries) {
		*err = -EAGAIN;
		return NULL;
	}
	if (!(q = calloc(1, sizeof(*q)))) {
		*err = -ENOMEM;
		return NULL;
	}
	q->owner = r;
	q->kind = kind;
	q->user = user;
	q->starting = true;
	list_append(&r->waiting, &q->link);
	r->alive++;
	return q;
}

/* After the c-ares call that started q: an outcome c-ares gave at once is
 * an error to return, or a result for the next loop iteration. */
static int query_started(struct resolver_query *q, struct resolver_query **out)
{
	struct resolver *r = q->owner;
	int rc;

	q->starting = false;
	if (!q->in_ares) {
		if (q->status < 0) {
			rc = q->status;
			list_unlink(&q->link);
			query_free(q);
			return rc;
		}
		list_unlink(&q->link);
		list_append(&r->ready, &q->link);
		if ((rc = uv_idle_start(&r->idle, on_idle)) < 0)
			log_warn("cannot start the idle handle: %s", uv_strerror(rc));
	}
	if (out)
		*out = q;
	return 0;
}

int resolver_lookup_host(struct resolver *r, const char *host, uint16_t port, resolver_host_fn *cb,
			 void *user, struct resolver_query **out)
{
	struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC};
	struct netaddr numeric;
	struct resolver_query *q;
	int rc;

	if (out)
		*out = NULL;
	if (!(q = query_new(r, QUERY_HOST, user, &rc)))
		return rc;
	q->cb.host = cb;
	q->port = port;
	if (netaddr_parse_host(host, port, &numeric) == 0) {
		if (!(q->addrs = malloc(sizeof(*q->addrs)))) {
			list_unlink(&q->link);
			query_free(q);
			return -ENOMEM;
		}
		q->addrs[0] = numeric;
		q->naddrs = 1;
		return query_started(q, out);
	}
	q->in_ares = true;
	enter(r);
	ares_getaddrinfo(r->channel, host, NULL, &hints, on_addrinfo, q);
	rc = query_started(q, out);
	leave(r);
	return rc;
}

static int start_query(struct resolver *r, const char *name, uint16_t type,
		       struct resolver_query *q, struct resolver_query **out)
{
	unsigned char *packet = NULL;
	int len = 0, rc;

	/* Recursion desired: a forwarding server may pass it on. */
	rc = ares_create_query(name, DNS_CLASS_IN, type, 0, 1, &packet, &len, 0);
	if (rc != ARES_SUCCESS) {
		list_unlink(&q->link);
		query_free(q);
		return rc == ARES_ENOMEM ? -ENOMEM : -EINVAL;
	}
	q->in_ares = true;
	enter(r);
	ares_send(r->channel, packet, len, on_answer, q);
	ares_free_string(packet);
	rc = query_started(q, out);
	leave(r);
	return rc;
}

int resolver_query(struct resolver *r, const char *name, uint16_t type, resolver_answer_fn *cb,
		   void *user, struct resolver_query **out)
{
	struct resolver_query *q;
	int rc;

	if (out)
		*out = NULL;
	if (!(q = query_new(r, QUERY_RAW, user, &rc)))
		return rc;
	q->cb.answer = cb;
	return start_query(r, name, type, q, out);
}

int resolver_query_txt(struct resolver *r, const char *name, resolver_txt_fn *cb, void *user,
		       struct resolver_query **out)
{
	struct resolver_query *q;
	int rc;

	if (out)
		*out = NULL;
	if (!(q = query_new(r, QUERY_TXT, user, &rc)))
		return rc;
	q->cb.txt = cb;
	return start_query(r, name, DNS_TYPE_TXT, q, out);
}
