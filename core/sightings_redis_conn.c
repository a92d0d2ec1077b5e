/*
 * sightings_redis_conn.c — pipelined Redis exchanges with deadlines, TLS and Redis Cluster
 * redirects (sightings_redis_conn.h says why this is not hiredis's own redisContext: Debian 12's
 * hiredis 0.14 has no TLS and no cluster support). hiredis formats every command and
 * parses every reply; this file connects, moves bytes and routes by hash slot.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sightings_redis_conn.h"
#include "tls_lib.h"

#define NSLOTS 16384
#define MAX_NODES 64
#define MAX_REDIRECTS 5

struct rnode {
	char host[256];
	int port;
	int fd;
	SSL *ssl;
	const struct imei_tls_lib *tls; /* the connection object's (TLS: loaded) */
	redisReader *rd;
	char *out;
	size_t olen, ocap, opos;
	int *expect; /* command index per expected reply, -1: ASKING or a prelude reply */
	size_t nexp, capexp, rpos;
	int64_t down_until; /* monotonic ms; before it the node is not tried */
	char why[128];
};

struct rc {
	struct imei_redis_cfg cfg;
	struct imei_tls_lib tls; /* libssl, loaded when cfg.tls (tls_lib.h) */
	SSL_CTX *ctx;
	struct rnode nodes[MAX_NODES];
	size_t nnodes;
	uint8_t *slots; /* node per slot (cluster), 0xFF: unknown */
	bool need_map;
	int64_t map_retry; /* monotonic ms: a failed CLUSTER SLOTS is not retried before this */
	atomic_uint_fast64_t redirects, reconnects, failures;
	char name[300];
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* CRC16-CCITT (XModem), the hash of Redis Cluster's key slots. */
static uint16_t crc16(const char *p, size_t n)
{
	uint16_t crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)((unsigned char)p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = crc & 0x8000 ? (uint16_t)(crc << 1 ^ 0x1021) : (uint16_t)(crc << 1);
	}
	return crc;
}

unsigned imei_redis_slot(const char *key, size_t len)
{
	const char *o = memchr(key, '{', len);
	if (o) {
		const char *c = memchr(o + 1, '}', len - (size_t)(o + 1 - key));
		if (c && c > o + 1)
			return crc16(o + 1, (size_t)(c - o - 1)) & (NSLOTS - 1);
	}
	return crc16(key, len) & (NSLOTS - 1);
}

int imei_redis_cmd(struct imei_redis_cmd *c, const char *key, int argc, const char **argv, const size_t *lens)
{
	memset(c, 0, sizeof *c);
	c->node = -1;
	c->slot = key ? imei_redis_slot(key, strlen(key)) : RC_NO_SLOT;
	int len = redisFormatCommandArgv(&c->buf, argc, argv, lens);
	if (len < 0) {
		c->buf = NULL;
		return -1;
	}
	c->len = (size_t)len;
	return 0;
}

void imei_redis_cmd_clear(struct imei_redis_cmd *c)
{
	if (c->buf)
		redisFreeCommand(c->buf);
	if (c->reply)
		freeReplyObject(c->reply);
	c->buf = NULL;
	c->reply = NULL;
}

static void node_close(struct rnode *n)
{
	if (n->ssl) {
		n->tls->SSL_free(n->ssl);
		n->ssl = NULL;
	}
	if (n->fd >= 0)
		close(n->fd);
	n->fd = -1;
	if (n->rd)
		redisReaderFree(n->rd);
	n->rd = NULL;
	n->olen = n->opos = n->nexp = n->rpos = 0;
}

static void node_down(struct rc *rc, struct rnode *n, const char *why)
{
	node_close(n);
	snprintf(n->why, sizeof n->why, "%s", why);
	n->down_until = now_ms() + rc->cfg.retry_ms;
	atomic_fetch_add(&rc->failures, 1);
	if (rc->cfg.cluster)
		rc->need_map = true; /* a failover may have moved its slots */
}

static const char *node_name(const struct rc *rc, const struct rnode *n, char *buf, size_t len)
{
	if (rc->cfg.unix_path[0])
		snprintf(buf, len, "%s", rc->cfg.unix_path);
	else
		snprintf(buf, len, "%s:%d", n->host, n->port);
	return buf;
}

static int add_node(struct rc *rc, const char *host, int port)
{
	for (size_t i = 0; i < rc->nnodes; i++)
		if (rc->nodes[i].port == port && strcmp(rc->nodes[i].host, host) == 0)
			return (int)i;
	if (rc->nnodes == MAX_NODES)
		return -1;
	struct rnode *n = &rc->nodes[rc->nnodes];
	memset(n, 0, sizeof *n);
	snprintf(n->host, sizeof n->host, "%s", host);
	n->port = port;
	n->fd = -1;
	n->tls = &rc->tls;
	return (int)rc->nnodes++;
}

struct rc *imei_redis_new(const struct imei_redis_cfg *cfg, char *msg, size_t msglen)
{
	struct rc *rc = calloc(1, sizeof *rc);
	if (!rc) {
		snprintf(msg, msglen, "out of memory");
		return NULL;
	}
	rc->cfg = *cfg;
	for (size_t i = 0; i < cfg->nseeds; i++)
		add_node(rc, cfg->seeds[i].host, cfg->seeds[i].port);
	if (cfg->unix_path[0] && rc->nnodes == 0)
		add_node(rc, "", 0);
	if (cfg->cluster) {
		rc->slots = malloc(NSLOTS);
		if (!rc->slots) {
			free(rc);
			snprintf(msg, msglen, "out of memory");
			return NULL;
		}
		memset(rc->slots, 0xFF, NSLOTS);
		rc->need_map = true;
	}
	if (cfg->tls) {
		const struct imei_tls_lib *t = &rc->tls;
		if (imei_tls_lib_open(&rc->tls, msg, msglen) != 0) {
			imei_redis_free(rc);
			return NULL;
		}
		rc->ctx = t->SSL_CTX_new(t->TLS_client_method());
		const char *bad = NULL;
		if (!rc->ctx)
			bad = "cannot create a TLS context";
		else if (cfg->tls_ca[0] && t->SSL_CTX_load_verify_locations(rc->ctx, cfg->tls_ca, NULL) != 1)
			bad = "tls_ca: cannot load the CA file";
		else if (!cfg->tls_ca[0] && t->SSL_CTX_set_default_verify_paths(rc->ctx) != 1)
			bad = "cannot load the system's CA certificates";
		else if (cfg->tls_cert[0] && t->SSL_CTX_use_certificate_chain_file(rc->ctx, cfg->tls_cert) != 1)
			bad = "tls_cert: cannot load the client certificate";
		else if (cfg->tls_key[0] && t->SSL_CTX_use_PrivateKey_file(rc->ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1)
			bad = "tls_key: cannot load the client key";
		if (bad) {
			snprintf(msg, msglen, "%s (%s)", bad, t->ERR_reason_error_string(t->ERR_get_error()));
			imei_redis_free(rc);
			return NULL;
		}
		t->SSL_CTX_set_verify(rc->ctx, cfg->tls_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
		/* SSL_CTX_set_min_proto_version, a macro of this call */
		t->SSL_CTX_ctrl(rc->ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, TLS1_2_VERSION, NULL);
	}
	if (cfg->unix_path[0])
		snprintf(rc->name, sizeof rc->name, "%s", cfg->unix_path);
	else if (cfg->cluster)
		snprintf(rc->name, sizeof rc->name, "cluster %s:%d", cfg->seeds[0].host, cfg->seeds[0].port);
	else
		snprintf(rc->name, sizeof rc->name, "%s:%d", cfg->seeds[0].host, cfg->seeds[0].port);
	return rc;
}

void imei_redis_free(struct rc *rc)
{
	if (!rc)
		return;
	for (size_t i = 0; i < rc->nnodes; i++) {
		node_close(&rc->nodes[i]);
		free(rc->nodes[i].out);
		free(rc->nodes[i].expect);
	}
	if (rc->ctx)
		rc->tls.SSL_CTX_free(rc->ctx);
	imei_tls_lib_close(&rc->tls);
	free(rc->slots);
	free(rc);
}

const char *imei_redis_name(const struct rc *rc)
{
	return rc->name;
}

void imei_redis_counters(const struct rc *rc, struct imei_redis_counters *out)
{
	out->redirects = atomic_load(&((struct rc *)rc)->redirects);
	out->reconnects = atomic_load(&((struct rc *)rc)->reconnects);
	out->failures = atomic_load(&((struct rc *)rc)->failures);
}

/* ---- bytes ---------------------------------------------------------------------------- */

static int out_add(struct rnode *n, const char *p, size_t len)
{
	if (n->olen + len > n->ocap) {
		size_t cap = n->ocap ? n->ocap : 4096;
		while (cap < n->olen + len)
			cap *= 2;
		char *o = realloc(n->out, cap);
		if (!o)
			return -1;
		n->out = o;
		n->ocap = cap;
	}
	memcpy(n->out + n->olen, p, len);
	n->olen += len;
	return 0;
}

static int expect_add(struct rnode *n, int idx)
{
	if (n->nexp == n->capexp) {
		size_t cap = n->capexp ? n->capexp * 2 : 64;
		int *e = realloc(n->expect, cap * sizeof *e);
		if (!e)
			return -1;
		n->expect = e;
		n->capexp = cap;
	}
	n->expect[n->nexp++] = idx;
	return 0;
}

/* 1 progress, 0 would block, -1 failed (why set). */
static int node_write(struct rnode *n, const char **why)
{
	while (n->opos < n->olen) {
		size_t left = n->olen - n->opos;
		if (n->ssl) {
			int w = n->tls->SSL_write(n->ssl, n->out + n->opos, left > 1 << 30 ? 1 << 30 : (int)left);
			if (w <= 0) {
				int e = n->tls->SSL_get_error(n->ssl, w);
				if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
					return 0;
				*why = "TLS write failed";
				return -1;
			}
			n->opos += (size_t)w;
		} else {
			ssize_t w = send(n->fd, n->out + n->opos, left, MSG_NOSIGNAL);
			if (w < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					return 0;
				*why = strerror(errno);
				return -1;
			}
			n->opos += (size_t)w;
		}
	}
	return 1;
}

static int node_read(struct rnode *n, const char **why)
{
	char buf[16384];
	for (;;) {
		ssize_t r;
		if (n->ssl) {
			int k = n->tls->SSL_read(n->ssl, buf, sizeof buf);
			if (k <= 0) {
				int e = n->tls->SSL_get_error(n->ssl, k);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					return 0;
				*why = e == SSL_ERROR_ZERO_RETURN ? "the server closed the connection" : "TLS read failed";
				return -1;
			}
			r = k;
		} else {
			r = recv(n->fd, buf, sizeof buf, 0);
			if (r < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					return 0;
				*why = strerror(errno);
				return -1;
			}
			if (r == 0) {
				*why = "the server closed the connection";
				return -1;
			}
		}
		if (redisReaderFeed(n->rd, buf, (size_t)r) != REDIS_OK) {
			*why = "out of memory for a reply";
			return -1;
		}
		if ((size_t)r < sizeof buf && !(n->ssl && n->tls->SSL_pending(n->ssl)))
			return 1;
	}
}

/* Wait for fd until deadline. 1 ready, 0 timeout, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -1 : r > 0;
	}
}

/* ---- connecting ----------------------------------------------------------------------- */

static int sock_connect(struct rc *rc, struct rnode *n, int64_t deadline, char *why, size_t wlen)
{
	int fd = -1, err = 0;
	if (rc->cfg.unix_path[0]) {
		struct sockaddr_un sa;
		memset(&sa, 0, sizeof sa);
		sa.sun_family = AF_UNIX;
		snprintf(sa.sun_path, sizeof sa.sun_path, "%s", rc->cfg.unix_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS &&
		               errno != EAGAIN)) {
			snprintf(why, wlen, "%s", strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
	} else {
		struct addrinfo hints, *res = NULL;
		char port[16];
		memset(&hints, 0, sizeof hints);
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		snprintf(port, sizeof port, "%d", n->port);
		int g = getaddrinfo(n->host, port, &hints, &res);
		if (g != 0) {
			snprintf(why, wlen, "cannot resolve: %s", gai_strerror(g));
			return -1;
		}
		fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || (connect(fd, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS)) {
			snprintf(why, wlen, "%s", strerror(errno));
			if (fd >= 0)
				close(fd);
			freeaddrinfo(res);
			return -1;
		}
		freeaddrinfo(res);
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	int w = wait_fd(fd, POLLOUT, deadline);
	socklen_t elen = sizeof err;
	if (w <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
		snprintf(why, wlen, "%s", w == 0 ? "connect timed out" : strerror(err ? err : errno));
		close(fd);
		return -1;
	}
	n->fd = fd;
	return 0;
}

static int tls_handshake(struct rc *rc, struct rnode *n, int64_t deadline, char *why, size_t wlen)
{
	const struct imei_tls_lib *t = &rc->tls;
	n->ssl = t->SSL_new(rc->ctx);
	if (!n->ssl || t->SSL_set_fd(n->ssl, n->fd) != 1) {
		snprintf(why, wlen, "cannot start TLS");
		return -1;
	}
	const char *sni = rc->cfg.tls_sni[0] ? rc->cfg.tls_sni : n->host;
	if (sni[0] && !rc->cfg.unix_path[0]) {
		/* SSL_set_tlsext_host_name, a macro of this call */
		t->SSL_ctrl(n->ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, (void *)sni);
		if (rc->cfg.tls_verify)
			t->SSL_set1_host(n->ssl, sni);
	}
	for (;;) {
		t->ERR_clear_error();
		int r = t->SSL_connect(n->ssl);
		if (r == 1)
			return 0;
		int e = t->SSL_get_error(n->ssl, r);
		short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
		if (!ev) {
			long v = t->SSL_get_verify_result(n->ssl);
			const char *reason = t->ERR_reason_error_string(t->ERR_peek_last_error());
			snprintf(why, wlen, "TLS handshake failed: %s",
			         v != X509_V_OK ? t->X509_verify_cert_error_string(v)
			                        : reason ? reason : "the peer closed the connection");
			return -1;
		}
		if (wait_fd(n->fd, ev, deadline) <= 0) {
			snprintf(why, wlen, "TLS handshake timed out");
			return -1;
		}
	}
}

static int pump(struct rc *rc, struct imei_redis_cmd *cmds, int64_t deadline, int only);

/* Connect node i (and AUTH/SELECT) unless it is up, or down until later; within
 * connect_timeout_ms and before limit. */
static int node_up(struct rc *rc, int i, int64_t limit)
{
	struct rnode *n = &rc->nodes[i];
	char why[160];
	if (n->fd >= 0)
		return 0;
	if (n->down_until && now_ms() < n->down_until)
		return -1;
	int64_t deadline = now_ms() + rc->cfg.connect_timeout_ms;
	if (deadline > limit)
		deadline = limit;
	atomic_fetch_add(&rc->reconnects, 1);
	if (sock_connect(rc, n, deadline, why, sizeof why) < 0 ||
	    (rc->ctx && tls_handshake(rc, n, deadline, why, sizeof why) < 0)) {
		node_down(rc, n, why);
		return -1;
	}
	n->rd = redisReaderCreate();
	if (!n->rd) {
		node_down(rc, n, "out of memory");
		return -1;
	}
	/* the prelude: AUTH and SELECT, answered before anything else */
	struct imei_redis_cmd pre[2];
	size_t np = 0;
	char db[16];
	if (rc->cfg.pass[0]) {
		const char *av[3] = { "AUTH", rc->cfg.user, rc->cfg.pass };
		const char *ap[2] = { "AUTH", rc->cfg.pass };
		if (rc->cfg.user[0] ? imei_redis_cmd(&pre[np], NULL, 3, av, NULL) : imei_redis_cmd(&pre[np], NULL, 2, ap, NULL)) {
			node_down(rc, n, "out of memory");
			return -1;
		}
		np++;
	}
	if (rc->cfg.db && !rc->cfg.cluster) {
		snprintf(db, sizeof db, "%d", rc->cfg.db);
		const char *av[2] = { "SELECT", db };
		if (imei_redis_cmd(&pre[np], NULL, 2, av, NULL)) {
			node_down(rc, n, "out of memory");
			return -1;
		}
		np++;
	}
	if (np == 0)
		return 0;
	for (size_t k = 0; k < np; k++)
		if (out_add(n, pre[k].buf, pre[k].len) < 0 || expect_add(n, (int)k) < 0) {
			for (size_t j = 0; j < np; j++)
				imei_redis_cmd_clear(&pre[j]);
			node_down(rc, n, "out of memory");
			return -1;
		}
	pump(rc, pre, deadline, i);
	int rc_ = 0;
	for (size_t k = 0; k < np; k++) {
		if (rc_ == 0 && !pre[k].reply) {
			node_down(rc, n, pre[k].err[0] ? pre[k].err : "no answer to AUTH/SELECT");
			rc_ = -1;
		} else if (rc_ == 0 && pre[k].reply->type == REDIS_REPLY_ERROR) {
			snprintf(why, sizeof why, "%s: %.100s", k == 0 && rc->cfg.pass[0] ? "AUTH" : "SELECT",
			         pre[k].reply->str);
			node_down(rc, n, why);
			rc_ = -1;
		}
		imei_redis_cmd_clear(&pre[k]);
	}
	return rc_;
}

/* Drive every node with bytes to send or replies to read until done or the deadline.
 * Replies go to cmds[expect]; a failing node is closed and its unanswered commands get
 * the reason in err. */
static int pump(struct rc *rc, struct imei_redis_cmd *cmds, int64_t deadline, int only)
{
	struct pollfd pf[MAX_NODES];
	int idx[MAX_NODES];
	for (;;) {
		size_t np = 0;
		for (size_t i = 0; i < rc->nnodes; i++) {
			struct rnode *n = &rc->nodes[i];
			if ((only >= 0 && (size_t)only != i) || n->fd < 0 || (n->opos == n->olen && n->rpos == n->nexp))
				continue;
			pf[np] = (struct pollfd){ .fd = n->fd, .events = (short)(POLLIN | (n->opos < n->olen ? POLLOUT : 0)) };
			idx[np++] = (int)i;
		}
		if (np == 0)
			return 0;
		int64_t left = deadline - now_ms();
		int r = left > 0 ? poll(pf, np, (int)left) : 0;
		if (r < 0 && errno == EINTR)
			continue;
		for (size_t k = 0; k < np; k++) {
			struct rnode *n = &rc->nodes[idx[k]];
			const char *why = NULL;
			char name[300], msg[160];
			if (r <= 0) {
				why = r == 0 ? "timed out" : strerror(errno);
			} else {
				if ((pf[k].revents & (POLLOUT | POLLERR | POLLHUP)) && n->opos < n->olen && node_write(n, &why) < 0)
					goto failed;
				if ((pf[k].revents & (POLLIN | POLLERR | POLLHUP)) || (n->ssl && n->tls->SSL_pending(n->ssl))) {
					if (node_read(n, &why) < 0)
						goto failed;
					void *rep;
					while (n->rpos < n->nexp) {
						if (redisReaderGetReply(n->rd, &rep) != REDIS_OK) {
							why = "a reply that is not RESP";
							goto failed;
						}
						if (!rep)
							break;
						int c = n->expect[n->rpos++];
						if (c >= 0)
							cmds[c].reply = rep;
						else
							freeReplyObject(rep);
					}
					if (n->rpos == n->nexp && n->opos == n->olen) {
						n->olen = n->opos = n->nexp = n->rpos = 0;
					}
				}
				continue;
			}
		failed:
			snprintf(msg, sizeof msg, "redis %.100s: %.50s", node_name(rc, n, name, sizeof name), why);
			for (size_t e = n->rpos; e < n->nexp; e++)
				if (n->expect[e] >= 0)
					snprintf(cmds[n->expect[e]].err, sizeof cmds[0].err, "%s", msg);
			node_down(rc, n, why);
		}
	}
}

/* ---- cluster map ---------------------------------------------------------------------- */

/* The slot map from the first node that answers CLUSTER SLOTS before deadline. */
static void load_map(struct rc *rc, int64_t deadline)
{
	if (now_ms() < rc->map_retry)
		return;
	rc->map_retry = now_ms() + rc->cfg.retry_ms;
	for (size_t i = 0; i < rc->nnodes && now_ms() < deadline; i++) {
		if (node_up(rc, (int)i, deadline) < 0)
			continue;
		struct imei_redis_cmd c;
		const char *av[2] = { "CLUSTER", "SLOTS" };
		if (imei_redis_cmd(&c, NULL, 2, av, NULL) < 0)
			return;
		struct rnode *n = &rc->nodes[i];
		if (out_add(n, c.buf, c.len) < 0 || expect_add(n, 0) < 0) {
			imei_redis_cmd_clear(&c);
			return;
		}
		pump(rc, &c, deadline, (int)i);
		redisReply *r = c.reply;
		if (r && r->type == REDIS_REPLY_ARRAY) {
			memset(rc->slots, 0xFF, NSLOTS);
			for (size_t k = 0; k < r->elements; k++) {
				redisReply *e = r->element[k];
				if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || e->element[2]->type != REDIS_REPLY_ARRAY ||
				    e->element[2]->elements < 2)
					continue;
				redisReply *h = e->element[2]->element[0], *p = e->element[2]->element[1];
				long long a = e->element[0]->integer, b = e->element[1]->integer;
				if (h->type != REDIS_REPLY_STRING || p->type != REDIS_REPLY_INTEGER || a < 0 || b >= NSLOTS || a > b)
					continue;
				int node = add_node(rc, h->len ? h->str : n->host, (int)p->integer);
				if (node < 0)
					continue;
				memset(rc->slots + a, node, (size_t)(b - a + 1));
			}
			rc->need_map = false;
			rc->map_retry = 0;
			imei_redis_cmd_clear(&c);
			return;
		}
		imei_redis_cmd_clear(&c);
	}
}

static int route(struct rc *rc, const struct imei_redis_cmd *c)
{
	if (c->node >= 0)
		return c->node;
	if (!rc->cfg.cluster || c->slot == RC_NO_SLOT)
		return 0;
	uint8_t s = rc->slots[c->slot];
	return s == 0xFF ? -1 : s;
}

size_t imei_redis_nodes(struct rc *rc, int *nodes, size_t max, char *msg, size_t msglen)
{
	size_t k = 0;
	if (!rc->cfg.cluster) {
		nodes[0] = 0;
		return 1;
	}
	if (rc->need_map)
		load_map(rc, now_ms() + rc->cfg.timeout_ms);
	for (unsigned s = 0; s < NSLOTS; s++) {
		if (rc->slots[s] == 0xFF)
			continue;
		size_t j = 0;
		while (j < k && nodes[j] != rc->slots[s])
			j++;
		if (j == k && k < max)
			nodes[k++] = rc->slots[s];
	}
	if (k == 0)
		snprintf(msg, msglen, "redis %.100s: no slot map (CLUSTER SLOTS answered by no node)", rc->name);
	return k;
}

/* "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381": the target node, or -1. */
static int redirect(struct rc *rc, const char *s, bool *ask, unsigned *slot)
{
	*ask = strncmp(s, "ASK ", 4) == 0;
	if (!*ask && strncmp(s, "MOVED ", 6) != 0)
		return -1;
	const char *p = strchr(s, ' ') + 1;
	char *end;
	unsigned long sl = strtoul(p, &end, 10);
	if (*end != ' ' || sl >= NSLOTS)
		return -1;
	const char *addr = end + 1, *colon = strrchr(addr, ':');
	if (!colon)
		return -1;
	char host[256];
	size_t hl = (size_t)(colon - addr);
	if (hl >= sizeof host)
		return -1;
	memcpy(host, addr, hl);
	host[hl] = 0;
	*slot = (unsigned)sl;
	return add_node(rc, hl ? host : rc->cfg.seeds[0].host, atoi(colon + 1));
}

size_t imei_redis_exchange(struct rc *rc, struct imei_redis_cmd *cmds, size_t n)
{
	int64_t deadline = now_ms() + rc->cfg.timeout_ms;
	static const char asking[] = "*1\r\n$6\r\nASKING\r\n";
	bool *todo = calloc(n ? n : 1, sizeof *todo);
	if (!todo) {
		for (size_t i = 0; i < n; i++)
			snprintf(cmds[i].err, sizeof cmds[i].err, "out of memory");
		return n;
	}
	for (size_t i = 0; i < n; i++)
		todo[i] = true;
	for (int round = 0; round <= MAX_REDIRECTS; round++) {
		if (rc->cfg.cluster && rc->need_map)
			load_map(rc, deadline);
		size_t sent = 0;
		for (size_t i = 0; i < n; i++) {
			if (!todo[i])
				continue;
			struct imei_redis_cmd *c = &cmds[i];
			int node = route(rc, c);
			c->err[0] = 0;
			if (node < 0) {
				snprintf(c->err, sizeof c->err, "redis %.100s: no node serves slot %u", rc->name, c->slot);
				continue;
			}
			if (node_up(rc, node, deadline) < 0) {
				char name[300];
				struct rnode *nd = &rc->nodes[node];
				snprintf(c->err, sizeof c->err, "redis %.100s: unavailable (%.40s)", node_name(rc, nd, name, sizeof name),
				         nd->why);
				continue;
			}
			struct rnode *nd = &rc->nodes[node];
			if ((c->asking && (out_add(nd, asking, sizeof asking - 1) < 0 || expect_add(nd, -1) < 0)) ||
			    out_add(nd, c->buf, c->len) < 0 || expect_add(nd, (int)i) < 0) {
				snprintf(c->err, sizeof c->err, "out of memory");
				continue;
			}
			sent++;
		}
		if (sent)
			pump(rc, cmds, deadline, -1);
		bool again = false;
		for (size_t i = 0; i < n; i++) {
			struct imei_redis_cmd *c = &cmds[i];
			if (!todo[i])
				continue;
			todo[i] = false;
			c->asking = false;
			if (!c->reply || c->reply->type != REDIS_REPLY_ERROR || !rc->cfg.cluster)
				continue;
			bool ask;
			unsigned slot;
			int to = redirect(rc, c->reply->str, &ask, &slot);
			if (to < 0)
				continue;
			atomic_fetch_add(&rc->redirects, 1);
			if (round == MAX_REDIRECTS) {
				snprintf(c->err, sizeof c->err, "redis %.60s: too many redirects (%.60s)", rc->name, c->reply->str);
				freeReplyObject(c->reply);
				c->reply = NULL;
				continue;
			}
			freeReplyObject(c->reply);
			c->reply = NULL;
			if (ask) {
				c->asking = true;
				c->node = to;
			} else {
				rc->slots[slot] = (uint8_t)to;
				rc->need_map = true;
				c->node = -1;
			}
			todo[i] = again = true;
		}
		if (!again)
			break;
	}
	free(todo);
	size_t missing = 0;
	for (size_t i = 0; i < n; i++) {
		if (!cmds[i].reply) {
			missing++;
			if (!cmds[i].err[0])
				snprintf(cmds[i].err, sizeof cmds[i].err, "redis %.100s: no answer", rc->name);
		}
	}
	/* a node left with unread replies is out of step: close it (it is retried later) */
	for (size_t i = 0; i < rc->nnodes; i++) {
		struct rnode *nd = &rc->nodes[i];
		if (nd->fd >= 0 && (nd->rpos != nd->nexp || nd->opos != nd->olen))
			node_down(rc, nd, "timed out");
	}
	return missing;
}
