/*
 * admit.c — who may open a connection: at most --max-connections over the server and
 * --max-per-client from one client address (IPv4 address, or IPv6 address), whatever
 * the front end, so one client (a slowloris, a runaway peer) cannot hold every slot.
 * The per-address counts sit in a small open hash table under one mutex; connections
 * open and close far less often than requests arrive. Also the TCP listener and peer
 * names every TCP front end needs.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "service.h"

struct addr_count {
	unsigned char key[17]; /* family byte + 16 address bytes; all zero: empty */
	unsigned count;
};

struct eird_admit {
	pthread_mutex_t lock;
	struct addr_count *tab;
	size_t cap, used; /* used: entries with count > 0 or tombstones */
};

struct eird_admit *eird_admit_new(void)
{
	struct eird_admit *a = calloc(1, sizeof *a);
	if (!a)
		return NULL;
	a->cap = 1024;
	a->tab = calloc(a->cap, sizeof *a->tab);
	if (!a->tab) {
		free(a);
		return NULL;
	}
	pthread_mutex_init(&a->lock, NULL);
	return a;
}

void eird_admit_free(struct eird_admit *a)
{
	if (!a)
		return;
	pthread_mutex_destroy(&a->lock);
	free(a->tab);
	free(a);
}

static bool addr_key(const struct sockaddr *sa, unsigned char key[17])
{
	memset(key, 0, 17);
	if (sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		key[0] = 6;
		memcpy(key + 1, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
		return true;
	}
	return false;
}

static size_t key_hash(const unsigned char key[17])
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (int i = 0; i < 17; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return (size_t)h;
}

/* The entry of key (found or a free one to take); NULL when the table is full. Linear
 * probing; entries whose count fell to 0 keep their key (reused by the same address)
 * until the table is rebuilt. */
static struct addr_count *find(struct eird_admit *a, const unsigned char key[17], bool create)
{
	size_t mask = a->cap - 1, i = key_hash(key) & mask;
	struct addr_count *reuse = NULL;
	for (size_t n = 0; n < a->cap; n++, i = (i + 1) & mask) {
		struct addr_count *e = &a->tab[i];
		if (e->key[0] == 0)
			return !create ? NULL : reuse ? reuse : e;
		if (memcmp(e->key, key, 17) == 0)
			return e;
		if (e->count == 0 && !reuse)
			reuse = e;
	}
	return create ? reuse : NULL;
}

/* Rebuild at twice the size (or the same, to drop zero entries) when 3/4 full. */
static void maybe_grow(struct eird_admit *a)
{
	if (a->used * 4 < a->cap * 3)
		return;
	size_t live = 0;
	for (size_t i = 0; i < a->cap; i++)
		live += a->tab[i].count > 0;
	size_t cap = live * 2 >= a->cap ? a->cap * 2 : a->cap;
	struct addr_count *tab = calloc(cap, sizeof *tab);
	if (!tab)
		return; /* keep the old one: probing still works while it has room */
	struct addr_count *old = a->tab;
	size_t oldcap = a->cap;
	a->tab = tab;
	a->cap = cap;
	a->used = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].count > 0) {
			struct addr_count *e = find(a, old[i].key, true);
			*e = old[i];
			a->used++;
		}
	free(old);
}

bool eird_conn_admit(struct eird_worker *w, const struct sockaddr *addr)
{
	struct eird_server *srv = w->srv;
	eird_inc(&w->m.conns_accepted);
	if (atomic_fetch_add(&srv->conns_total, 1) >= srv->cfg.max_connections) {
		atomic_fetch_sub(&srv->conns_total, 1);
		eird_inc(&w->m.conns_rejected);
		return false;
	}
	unsigned char key[17];
	if (addr_key(addr, key) && srv->admit) {
		struct eird_admit *a = srv->admit;
		bool ok = true;
		pthread_mutex_lock(&a->lock);
		maybe_grow(a);
		struct addr_count *e = find(a, key, true);
		if (!e) {
			ok = false; /* the table is full and cannot grow: refuse rather than not count */
		} else {
			if (memcmp(e->key, key, 17) != 0) { /* a free slot, or one left at 0 by another address */
				a->used += e->key[0] == 0;
				memcpy(e->key, key, 17);
				e->count = 0;
			}
			if (e->count >= srv->cfg.max_per_client)
				ok = false;
			else
				e->count++;
		}
		pthread_mutex_unlock(&a->lock);
		if (!ok) {
			atomic_fetch_sub(&srv->conns_total, 1);
			eird_inc(&w->m.conns_rejected);
			return false;
		}
	}
	w->nconns++;
	atomic_store_explicit(&w->m.conns_open, w->nconns, memory_order_relaxed);
	return true;
}

void eird_conn_closed(struct eird_worker *w, const struct sockaddr *addr)
{
	struct eird_server *srv = w->srv;
	unsigned char key[17];
	if (addr_key(addr, key) && srv->admit) {
		pthread_mutex_lock(&srv->admit->lock);
		struct addr_count *e = find(srv->admit, key, false);
		if (e && e->count > 0)
			e->count--;
		pthread_mutex_unlock(&srv->admit->lock);
	}
	atomic_fetch_sub(&srv->conns_total, 1);
	w->nconns--;
	atomic_store_explicit(&w->m.conns_open, w->nconns, memory_order_relaxed);
	if (w->stopping && w->nconns == 0)
		ev_break(w->loop, EVBREAK_ONE);
}

void eird_peer_name(const struct sockaddr *sa, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN] = "?";
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		inet_ntop(AF_INET, &in->sin_addr, addr, sizeof addr);
		snprintf(buf, len, "%s:%u", addr, (unsigned)ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		inet_ntop(AF_INET6, &in6->sin6_addr, addr, sizeof addr);
		snprintf(buf, len, "[%s]:%u", addr, (unsigned)ntohs(in6->sin6_port));
	} else {
		snprintf(buf, len, "-");
	}
}

int eird_listen_tcp(struct eird_server *srv, const char *host, const char *port, char *bound, size_t blen,
                    char *bound_port, size_t plen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	int rv = getaddrinfo(host, port, &hints, &res);
	if (rv != 0) {
		eird_logf(srv, "cannot resolve %s: %s", host, gai_strerror(rv));
		return -1;
	}
	int fd = -1, saved = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		eird_logf(srv, "cannot listen on %s:%s: %s", host, port, strerror(saved));
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char h[NI_MAXHOST], p[NI_MAXSERV];
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p, NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
		snprintf(bound_port, plen, "%s", p);
		snprintf(bound, blen, strchr(h, ':') ? "[%s]:%s" : "%s:%s", h, p);
	} else {
		snprintf(bound_port, plen, "%s", port);
		snprintf(bound, blen, "%s:%s", host, port);
	}
	return fd;
}
