/*
 * http_conn.c — the N5g-eir front end's connections (http.h): the listener on each
 * worker's loop, non-blocking socket I/O, the choice of protocol by the first bytes (the
 * HTTP/2 client connection preface, RFC 9113 §3.4, means h2 with prior knowledge;
 * anything else is HTTP/1.1), and the glue to the two protocol libraries: nghttp2 for
 * HTTP/2 and Node's http_parser for HTTP/1.1 (RFC 9112). No HTTP syntax is parsed here.
 *
 * Bounds, each against one way a client can hold the server's resources:
 *  - admission: --max-connections in all, --max-per-client from one address (admit.c);
 *  - time: a request (HTTP/1.1 header block and body; an HTTP/2 stream up to its end)
 *    must arrive within --header-timeout, else 408 (HTTP/1.1, then close) or
 *    RST_STREAM (HTTP/2): a slowloris or a half-open stream holds nothing for long;
 *    idle connections close after --idle-timeout;
 *  - size: target (414), header fields (431), body (413);
 *  - HTTP/2 state: SETTINGS_MAX_CONCURRENT_STREAMS, SETTINGS_HEADER_TABLE_SIZE,
 *    SETTINGS_MAX_HEADER_LIST_SIZE, and every byte nghttp2 and the streams allocate
 *    counted against a cap per connection (--h2-memory) and one over all connections
 *    (--h2-memory-total): over either, the connection ends (GOAWAY);
 *  - output: answers wait in a buffer of at most --max-output per connection, over
 *    which reading stops until the client reads; the kernel's send and receive buffers
 *    are fixed (SO_SNDBUF, SO_RCVBUF) so a client that does not read pins little memory.
 * A malformed HTTP/1.1 request gets a 400 and the connection is closed; a broken
 * HTTP/2 connection gets nghttp2's GOAWAY.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <nghttp2/nghttp2.h>

#include "http.h"

#define SOCK_BUF (64 * 1024) /* SO_SNDBUF / SO_RCVBUF of a connection */

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN 24

enum proto { P_UNKNOWN, P_H1, P_H2 };

struct http_conn;

struct h2_stream {
	int32_t id;
	struct http_conn *c;
	struct h2_stream *prev, *next;
	double started; /* ev_now when its HEADERS began */
	char method[16];
	size_t method_len;
	struct ebuf path;
	size_t path_charged; /* bytes of path counted in the connection's HTTP/2 memory */
	size_t header_bytes, body_bytes;
	int forced;
	bool responded;
	struct ebuf body;
	size_t body_off;
};

struct http_conn {
	struct http_worker *hw;
	struct http_conn *prev, *next;
	int fd;
	struct sockaddr_storage addr;
	ev_io rio, wio;
	ev_timer timer; /* idle and request deadlines */
	ev_tstamp last;  /* last traffic */
	ev_tstamp req_started; /* HTTP/1.1: the request in progress began; 0: none */
	enum proto proto;
	char peer[64];
	char pre[PREFACE_LEN];
	size_t npre;
	struct ebuf out;
	size_t out_off;
	bool want_close;  /* close once the output is written */
	bool peer_closed; /* the client sent FIN */
	bool read_paused;
	/* HTTP/1.1 */
	http_parser parser;
	bool in_message;
	bool head; /* the request being answered is HEAD (for the watchdog's answer) */
	struct ebuf url;
	char method[16];
	size_t method_len;
	size_t header_bytes, body_bytes;
	int forced;
	/* HTTP/2 */
	nghttp2_session *h2;
	struct h2_stream *streams;
	size_t h2_mem; /* bytes nghttp2 and the streams hold */
	bool h2_nomem;
};

static void conn_after_io(struct http_conn *c);
static void conn_free(struct http_conn *c);

static const struct eird_http_config *cfg_of(const struct http_conn *c)
{
	return &c->hw->hf->cfg;
}

static size_t pending(const struct http_conn *c)
{
	return c->out.len - c->out_off;
}

/* ---- HTTP/2 memory: every allocation of the session and its streams, counted ------- */

struct mem_hdr {
	size_t size;
	size_t pad; /* keeps the payload 16-byte aligned */
};

/* Count n more bytes against the connection's cap and the one over all connections;
 * false (nothing counted) when either would be passed. The total is shared by the
 * workers, so each worker reserves it in 64 KiB steps and counts within its reserve
 * without touching the shared counter on every allocation. */
#define H2_RESERVE_STEP ((size_t)64 * 1024)

static bool h2_charge(struct http_conn *c, size_t n)
{
	struct http_worker *hw = c->hw;
	struct http_front *hf = hw->hf;
	if (n > hf->cfg.h2_memory || c->h2_mem + n > hf->cfg.h2_memory) {
		c->h2_nomem = true;
		return false;
	}
	if (hw->h2_used + n > hw->h2_reserved) {
		size_t want = n + H2_RESERVE_STEP;
		if (atomic_fetch_add(&hf->h2_total, want) + want > hf->h2_total_cap) {
			atomic_fetch_sub(&hf->h2_total, want);
			c->h2_nomem = true;
			return false;
		}
		hw->h2_reserved += want;
	}
	hw->h2_used += n;
	c->h2_mem += n;
	atomic_store_explicit(&hw->h2_used_pub, hw->h2_used, memory_order_relaxed);
	return true;
}

static void h2_uncharge(struct http_conn *c, size_t n)
{
	struct http_worker *hw = c->hw;
	c->h2_mem -= n;
	hw->h2_used -= n;
	if (hw->h2_reserved - hw->h2_used > 2 * H2_RESERVE_STEP) { /* give back all but one step */
		size_t give = hw->h2_reserved - hw->h2_used - H2_RESERVE_STEP;
		atomic_fetch_sub(&hw->hf->h2_total, give);
		hw->h2_reserved -= give;
	}
	atomic_store_explicit(&hw->h2_used_pub, hw->h2_used, memory_order_relaxed);
}

static void *h2_malloc(size_t size, void *ud)
{
	struct http_conn *c = ud;
	if (size > SIZE_MAX - sizeof(struct mem_hdr) || !h2_charge(c, size))
		return NULL;
	struct mem_hdr *h = malloc(sizeof *h + size);
	if (!h) {
		h2_uncharge(c, size);
		c->h2_nomem = true;
		return NULL;
	}
	h->size = size;
	return h + 1;
}

static void h2_free(void *p, void *ud)
{
	if (!p)
		return;
	struct mem_hdr *h = (struct mem_hdr *)p - 1;
	h2_uncharge(ud, h->size);
	free(h);
}

static void *h2_calloc(size_t n, size_t size, void *ud)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	void *p = h2_malloc(n * size, ud);
	if (p)
		memset(p, 0, n * size);
	return p;
}

static void *h2_realloc(void *p, size_t size, void *ud)
{
	if (!p)
		return h2_malloc(size, ud);
	if (size == 0) {
		h2_free(p, ud);
		return NULL;
	}
	struct mem_hdr *h = (struct mem_hdr *)p - 1;
	void *q = h2_malloc(size, ud);
	if (!q)
		return NULL;
	memcpy(q, p, h->size < size ? h->size : size);
	h2_free(p, ud);
	return q;
}

/* ---- lifetime ----------------------------------------------------------------------- */

static void h2_stream_free(struct http_conn *c, struct h2_stream *st)
{
	if (st->prev)
		st->prev->next = st->next;
	else
		c->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	if (st->path_charged)
		h2_uncharge(c, st->path_charged);
	ebuf_free(&st->path);
	ebuf_free(&st->body);
	h2_free(st, c);
}

static void conn_free(struct http_conn *c)
{
	struct http_worker *hw = c->hw;
	struct eird_worker *w = hw->w;
	ev_io_stop(w->loop, &c->rio);
	ev_io_stop(w->loop, &c->wio);
	ev_timer_stop(w->loop, &c->timer);
	close(c->fd);
	if (c->h2)
		nghttp2_session_del(c->h2); /* calls no callbacks: streams are freed below */
	while (c->streams)
		h2_stream_free(c, c->streams);
	ebuf_free(&c->out);
	ebuf_free(&c->url);
	if (c->prev)
		c->prev->next = c->next;
	else
		hw->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	struct sockaddr_storage addr = c->addr;
	free(c);
	eird_conn_closed(w, (struct sockaddr *)&addr);
}

/* ---- the watchdog's answer to a hung check (on the watchdog thread) ----------------- */

static void write_fully(int fd, const void *p, size_t n)
{
	const char *s = p;
	/* bounded: the socket is non-blocking; what does not fit is lost with the connection */
	for (int tries = 0; n > 0 && tries < 100; tries++) {
		ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
		if (k > 0) {
			s += k;
			n -= (size_t)k;
		} else if (k < 0 && errno != EINTR && errno != EAGAIN) {
			return;
		} else if (k < 0 && errno == EAGAIN) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
	}
}

static void h1_hang_answer(void *ctx, const struct imei_verdict *v)
{
	struct http_conn *c = ctx;
	struct ebuf body, msg;
	ebuf_init(&body);
	ebuf_init(&msg);
	int status;
	eird_http_status_body(&body, v, true, &c->hw->hf->cfg, &status);
	ebuf_add(&msg, c->out.data + c->out_off, pending(c)); /* answers already due, in order */
	ebuf_printf(&msg, "HTTP/1.1 %d %s\r\nServer: imei-eird\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	                  "Connection: close\r\n\r\n",
	            status, eird_reason_phrase(status), status == 200 ? "application/json" : "application/problem+json",
	            body.len);
	if (!c->head)
		ebuf_add(&msg, body.data, body.len);
	if (!msg.failed)
		write_fully(c->fd, msg.data, msg.len);
	shutdown(c->fd, SHUT_RDWR);
	ebuf_free(&body);
	ebuf_free(&msg);
}

/* HPACK without the dynamic table (RFC 7541 §6.2.2 literal without indexing, indexed
 * name), so the answer needs none of the session's state. */
static void hpack_literal(struct ebuf *b, unsigned static_index, const char *value, size_t len)
{
	unsigned char h[2] = { 0x0f, (unsigned char)(static_index - 15) }; /* 4-bit prefix, index >= 15 */
	ebuf_add(b, h, 2);
	unsigned char l = (unsigned char)len; /* values here are < 127 bytes */
	ebuf_add(b, &l, 1);
	ebuf_add(b, value, len);
}

static void h2_frame_header(struct ebuf *b, size_t len, unsigned type, unsigned flags, uint32_t id)
{
	unsigned char h[9] = { (unsigned char)(len >> 16), (unsigned char)(len >> 8), (unsigned char)len,
		               (unsigned char)type, (unsigned char)flags, (unsigned char)(id >> 24 & 0x7f),
		               (unsigned char)(id >> 16), (unsigned char)(id >> 8), (unsigned char)id };
	ebuf_add(b, h, 9);
}

static void h2_hang_answer(void *ctx, const struct imei_verdict *v)
{
	struct h2_stream *st = ctx;
	struct http_conn *c = st->c;
	struct ebuf body, hdr, msg;
	ebuf_init(&body);
	ebuf_init(&hdr);
	ebuf_init(&msg);
	int status;
	eird_http_status_body(&body, v, true, &c->hw->hf->cfg, &status);
	bool head = st->method_len == 4 && memcmp(st->method, "HEAD", 4) == 0;
	unsigned char s = status == 200 ? 0x88 : status == 404 ? 0x8d : 0x8e; /* :status 200/404/500, static table */
	ebuf_add(&hdr, &s, 1);
	const char *ct = status == 200 ? "application/json" : "application/problem+json";
	hpack_literal(&hdr, 31, ct, strlen(ct)); /* content-type */
	char len[24];
	int ll = snprintf(len, sizeof len, "%zu", body.len);
	hpack_literal(&hdr, 28, len, (size_t)ll); /* content-length */
	ebuf_add(&msg, c->out.data + c->out_off, pending(c));
	h2_frame_header(&msg, hdr.len, 0x1, head ? 0x5 : 0x4, (uint32_t)st->id); /* HEADERS, END_HEADERS */
	ebuf_add(&msg, hdr.data, hdr.len);
	if (!head) {
		h2_frame_header(&msg, body.len, 0x0, 0x1, (uint32_t)st->id); /* DATA, END_STREAM */
		ebuf_add(&msg, body.data, body.len);
	}
	unsigned char goaway[8] = { (unsigned char)((uint32_t)st->id >> 24 & 0x7f), (unsigned char)(st->id >> 16),
		                    (unsigned char)(st->id >> 8), (unsigned char)st->id, 0, 0, 0, 0 };
	h2_frame_header(&msg, 8, 0x7, 0, 0); /* GOAWAY, NO_ERROR */
	ebuf_add(&msg, goaway, 8);
	if (!msg.failed)
		write_fully(c->fd, msg.data, msg.len);
	shutdown(c->fd, SHUT_RDWR);
	ebuf_free(&body);
	ebuf_free(&hdr);
	ebuf_free(&msg);
}

/* ---- HTTP/1.1 ----------------------------------------------------------------------- */

static void h1_reset(struct http_conn *c)
{
	c->url.len = 0;
	c->url.failed = false;
	c->method_len = 0;
	c->header_bytes = c->body_bytes = 0;
	c->forced = 0;
}

static enum eird_method method_of(const char *m, size_t n)
{
	if (n == 3 && memcmp(m, "GET", 3) == 0)
		return EIRD_GET;
	if (n == 4 && memcmp(m, "HEAD", 4) == 0)
		return EIRD_HEAD;
	return EIRD_OTHER;
}

/* Serialise a reply as an HTTP/1.1 response into c->out. */
const char *eird_http_date(struct http_worker *hw)
{
	long now = (long)ev_now(hw->w->loop);
	if (now != hw->date_sec) {
		time_t t = (time_t)now;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(hw->date, sizeof hw->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		hw->date_sec = now;
	}
	return hw->date;
}

static void h1_write_reply(struct http_conn *c, const struct eird_reply *rp, bool head, bool close_after)
{
	struct http_worker *hw = c->hw;
	char retry[40] = ""; /* a 503's Retry-After (RFC 9110 §10.2.3) */
	if (rp->retry_after)
		snprintf(retry, sizeof retry, "Retry-After: %u\r\n", rp->retry_after);
	ebuf_printf(&c->out,
	            "HTTP/1.1 %d %s\r\nServer: imei-eird\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s%s\r\n",
	            rp->status, eird_reason_phrase(rp->status), eird_http_date(hw), rp->content_type, rp->body.len,
	            rp->allow ? "Allow: " : "", rp->allow ? rp->allow : "", rp->allow ? "\r\n" : "", retry,
	            close_after ? "Connection: close\r\n" : "");
	if (!head)
		ebuf_add(&c->out, rp->body.data, rp->body.len);
}

static void h1_answer(struct http_conn *c, enum eird_method m, int forced, bool keep_alive)
{
	struct eird_request rq = {
		.method = m,
		.method_name = c->method,
		.method_len = c->method_len,
		.target = c->url.data,
		.target_len = c->url.len,
		.proto = 0,
		.peer = c->peer,
		.forced_status = forced,
	};
	struct eird_reply rp;
	struct eird_worker *w = c->hw->w;
	c->head = m == EIRD_HEAD;
	eird_check_on_hang(w, h1_hang_answer, c);
	bool answered = eird_http_handle(c->hw, &rq, &rp);
	w->hang.answer = NULL;
	if (!answered) { /* the watchdog answered and shut the socket down */
		c->want_close = true;
		return;
	}
	bool close_after = !keep_alive || w->stopping;
	h1_write_reply(c, &rp, m == EIRD_HEAD, close_after);
	ebuf_free(&rp.body);
	if (close_after)
		c->want_close = true;
}

static int h1_on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;
	if (c->want_close)
		return -1; /* after a "Connection: close" answer: read nothing more */
	h1_reset(c);
	c->in_message = true;
	if (c->req_started == 0)
		c->req_started = ev_now(c->hw->w->loop);
	return 0;
}

static int h1_on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;
	if (c->url.len + len > cfg_of(c)->max_target) {
		c->forced = 414;
		return -1;
	}
	ebuf_add(&c->url, at, len);
	return c->url.failed ? -1 : 0;
}

static int h1_on_header(http_parser *p, const char *at, size_t len)
{
	(void)at;
	struct http_conn *c = p->data;
	c->header_bytes += len;
	if (c->header_bytes > cfg_of(c)->max_header_bytes) {
		c->forced = 431;
		return -1;
	}
	return 0;
}

static int h1_on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	const char *m = http_method_str((enum http_method)p->method);
	c->method_len = strlen(m) < sizeof c->method ? strlen(m) : sizeof c->method - 1;
	memcpy(c->method, m, c->method_len);
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > cfg_of(c)->max_body) {
		c->forced = 413;
		return -1; /* http_parser: an error stops the parse (HPE_CB_headers_complete) */
	}
	return 0;
}

static int h1_on_body(http_parser *p, const char *at, size_t len)
{
	(void)at;
	struct http_conn *c = p->data;
	c->body_bytes += len;
	if (c->body_bytes > cfg_of(c)->max_body) {
		c->forced = 413;
		return -1;
	}
	return 0;
}

static int h1_on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	c->in_message = false;
	c->req_started = 0;
	h1_answer(c, method_of(c->method, c->method_len), 0, http_should_keep_alive(p));
	return 0;
}

static const http_parser_settings h1_settings = {
	.on_message_begin = h1_on_message_begin,
	.on_url = h1_on_url,
	.on_header_field = h1_on_header,
	.on_header_value = h1_on_header,
	.on_headers_complete = h1_on_headers_complete,
	.on_body = h1_on_body,
	.on_message_complete = h1_on_message_complete,
};

/* Answer once with status (a bound crossed, a malformed request, the deadline), then close. */
static void h1_fail(struct http_conn *c, int status)
{
	if (c->method_len == 0 && c->forced) {
		const char *m = http_method_str((enum http_method)c->parser.method);
		c->method_len = strlen(m) < sizeof c->method ? strlen(m) : sizeof c->method - 1;
		memcpy(c->method, m, c->method_len);
	}
	if (status == 400 || status == 408)
		c->url.len = 0; /* do not log a half-parsed target as if it were one */
	h1_answer(c, EIRD_GET, status, false);
	c->in_message = false;
	c->req_started = 0;
}

static void h1_feed(struct http_conn *c, const char *data, size_t len)
{
	while (len > 0 && !c->want_close) {
		size_t n = http_parser_execute(&c->parser, &h1_settings, data, len);
		enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
		if (err != HPE_OK) {
			if (c->want_close)
				return; /* the stop after a closing answer, not an error */
			/* Malformed or over a bound: answer once, then close. */
			h1_fail(c, c->forced ? c->forced : 400);
			return;
		}
		if (n == 0)
			return;
		/* n < len only after an Upgrade request (h2c, WebSocket) that was answered
		 * in HTTP/1.1 as if the header were absent: go on parsing HTTP/1.1. */
		data += n;
		len -= n;
	}
}

/* ---- HTTP/2 ------------------------------------------------------------------------- */

static int h2_on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct http_conn *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct h2_stream *st = h2_calloc(1, sizeof *st, c);
	if (!st)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM for this one */
	st->id = f->hd.stream_id;
	st->c = c;
	st->started = ev_now(c->hw->w->loop);
	st->next = c->streams;
	if (c->streams)
		c->streams->prev = st;
	c->streams = st;
	nghttp2_session_set_stream_user_data(s, st->id, st);
	return 0;
}

static int h2_on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                        const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	(void)flags;
	struct http_conn *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct h2_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!st || st->forced)
		return 0;
	const struct eird_http_config *cfg = cfg_of(c);
	st->header_bytes += namelen + valuelen + 32; /* RFC 7541 §4.1 entry size */
	if (st->header_bytes > cfg->max_header_bytes + cfg->max_target) {
		st->forced = 431;
		return 0;
	}
	if (namelen == 7 && memcmp(name, ":method", 7) == 0) {
		st->method_len = valuelen < sizeof st->method ? valuelen : sizeof st->method - 1;
		memcpy(st->method, value, st->method_len);
	} else if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
		if (valuelen > cfg->max_target) {
			st->forced = 414;
			return 0;
		}
		if (st->path_charged) {
			h2_uncharge(c, st->path_charged);
			st->path_charged = 0;
		}
		if (!h2_charge(c, valuelen)) {
			c->h2_nomem = false; /* this stream is refused, the connection goes on */
			eird_inc(&c->hw->h2_refused_streams);
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* over --h2-memory: RST_STREAM */
		}
		st->path_charged = valuelen;
		st->path.len = 0;
		ebuf_add(&st->path, value, valuelen);
	} else if (namelen > 0 && name[0] != ':' && st->header_bytes > cfg->max_header_bytes) {
		st->forced = 431;
	}
	return 0;
}

static int h2_on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *ud)
{
	(void)flags;
	(void)data;
	struct http_conn *c = ud;
	struct h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
	if (!st)
		return 0;
	st->body_bytes += len;
	if (st->body_bytes > cfg_of(c)->max_body && !st->forced)
		st->forced = 413;
	return 0;
}

static ssize_t h2_read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                            nghttp2_data_source *src, void *ud)
{
	(void)s;
	(void)id;
	(void)ud;
	struct h2_stream *st = src->ptr;
	size_t left = st->body.len - st->body_off;
	size_t n = left < length ? left : length;
	if (n)
		memcpy(buf, st->body.data + st->body_off, n);
	st->body_off += n;
	if (st->body_off == st->body.len)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

#define NV(n, v, vl) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE }

/* false: the watchdog took the check over (the connection is dead) */
static bool h2_respond(struct http_conn *c, struct h2_stream *st)
{
	st->responded = true;
	enum eird_method m = method_of(st->method, st->method_len);
	struct eird_request rq = {
		.method = m,
		.method_name = st->method,
		.method_len = st->method_len,
		.target = st->path.data,
		.target_len = st->path.failed ? 0 : st->path.len,
		.proto = 1,
		.peer = c->peer,
		.forced_status = st->forced ? st->forced : st->path.failed ? 500 : 0,
	};
	struct eird_reply rp;
	struct eird_worker *w = c->hw->w;
	eird_check_on_hang(w, h2_hang_answer, st);
	bool answered = eird_http_handle(c->hw, &rq, &rp);
	w->hang.answer = NULL;
	if (!answered) {
		c->want_close = true;
		return false;
	}
	st->body = rp.body; /* the stream owns the body until it closes */
	st->body_off = 0;
	char status[12], length[24], retry[16];
	snprintf(status, sizeof status, "%03d", rp.status % 1000);
	int ll = snprintf(length, sizeof length, "%zu", st->body.len);
	const char *date = eird_http_date(c->hw); /* RFC 9113 §8.3 leaves Date to the server, as in HTTP/1.1 */
	nghttp2_nv nva[7] = {
		NV(":status", status, 3),
		NV("content-type", rp.content_type, strlen(rp.content_type)),
		NV("content-length", length, (size_t)ll),
		NV("server", "imei-eird", 9),
		NV("date", date, strlen(date)),
	};
	size_t n = 5;
	if (rp.allow)
		nva[n++] = (nghttp2_nv)NV("allow", rp.allow, strlen(rp.allow));
	if (rp.retry_after) {
		int rl = snprintf(retry, sizeof retry, "%u", rp.retry_after);
		nva[n++] = (nghttp2_nv)NV("retry-after", retry, (size_t)rl);
	}
	nghttp2_data_provider prd = { .source.ptr = st, .read_callback = h2_read_body };
	/* A failure means the stream is gone (reset by the client): nothing to answer. */
	nghttp2_submit_response(c->h2, st->id, nva, n, m == EIRD_HEAD ? NULL : &prd);
	return true;
}

static int h2_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct http_conn *c = ud;
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		struct h2_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
		if (st && !st->responded && !h2_respond(c, st))
			return NGHTTP2_ERR_CALLBACK_FAILURE; /* stop: the worker is being given up */
	}
	return 0;
}

static int h2_on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	(void)code;
	struct http_conn *c = ud;
	struct h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
	if (st)
		h2_stream_free(c, st);
	return 0;
}

static nghttp2_session_callbacks *h2_callbacks(void)
{
	nghttp2_session_callbacks *cb;
	if (nghttp2_session_callbacks_new(&cb) != 0)
		return NULL;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, h2_on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, h2_on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, h2_on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, h2_on_stream_close);
	return cb;
}

static bool h2_start(struct http_conn *c)
{
	const struct eird_http_config *cfg = cfg_of(c);
	nghttp2_session_callbacks *cb = h2_callbacks();
	if (!cb)
		return false;
	nghttp2_option *opt;
	if (nghttp2_option_new(&opt) != 0) {
		nghttp2_session_callbacks_del(cb);
		return false;
	}
	nghttp2_option_set_no_closed_streams(opt, 1); /* closed streams are not kept for priorities */
	nghttp2_option_set_max_deflate_dynamic_table_size(opt, cfg->h2_header_table);
	nghttp2_option_set_max_settings(opt, 32);
	nghttp2_option_set_max_outbound_ack(opt, 100);
	nghttp2_mem mem = { c, h2_malloc, h2_free, h2_calloc, h2_realloc };
	int rv = nghttp2_session_server_new3(&c->h2, cb, c, opt, &mem);
	nghttp2_session_callbacks_del(cb);
	nghttp2_option_del(opt);
	if (rv != 0) {
		c->h2 = NULL;
		return false;
	}
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, cfg->h2_max_streams },
		{ NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, (uint32_t)cfg->h2_header_table },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, (uint32_t)(cfg->max_header_bytes + cfg->max_target) },
	};
	if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0)
		return false;
	/* the server's preface into the output now, before any request is handled: an
	 * answer the watchdog writes for a hung first request must come after it */
	const uint8_t *data;
	ssize_t n;
	while ((n = nghttp2_session_mem_send(c->h2, &data)) > 0)
		ebuf_add(&c->out, data, (size_t)n);
	return n == 0 && !c->out.failed;
}

static void h2_feed(struct http_conn *c, const char *data, size_t len)
{
	ssize_t r = nghttp2_session_mem_recv(c->h2, (const uint8_t *)data, len);
	if (r < 0) {
		if (c->h2_nomem)
			eird_inc(&c->hw->h2_memory_closes);
		c->want_close = true; /* nghttp2 queued a GOAWAY where it could: send it, close */
	}
}

/* ---- I/O ---------------------------------------------------------------------------- */

static void feed(struct http_conn *c, const char *data, size_t len)
{
	if (c->proto == P_UNKNOWN) {
		size_t take = PREFACE_LEN - c->npre < len ? PREFACE_LEN - c->npre : len;
		if (memcmp(data, PREFACE + c->npre, take) == 0) {
			memcpy(c->pre + c->npre, data, take);
			c->npre += take;
			if (c->npre < PREFACE_LEN)
				return; /* a prefix of the preface: wait for more */
			c->proto = P_H2;
			c->req_started = 0; /* from now on the streams have deadlines */
			if (!h2_start(c)) {
				c->want_close = true;
				return;
			}
			h2_feed(c, c->pre, PREFACE_LEN);
			if (len > take && !c->want_close)
				h2_feed(c, data + take, len - take);
			return;
		}
		c->proto = P_H1;
		c->req_started = 0;
		http_parser_init(&c->parser, HTTP_REQUEST);
		c->parser.data = c;
		if (c->npre)
			h1_feed(c, c->pre, c->npre);
		if (!c->want_close)
			h1_feed(c, data, len);
		return;
	}
	if (c->proto == P_H1)
		h1_feed(c, data, len);
	else
		h2_feed(c, data, len);
}

static void on_read(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	(void)revents;
	struct http_conn *c = io->data;
	struct http_worker *hw = c->hw;
	for (int round = 0; round < 4 && !c->want_close; round++) {
		if (pending(c) > cfg_of(c)->max_output)
			break;
		ssize_t n = recv(c->fd, hw->rbuf, sizeof hw->rbuf, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				c->peer_closed = true;
				c->out.len = c->out_off = 0; /* the peer is gone: nothing can be sent */
			}
			break;
		}
		if (n == 0) {
			c->peer_closed = true;
			break;
		}
		c->last = ev_now(hw->w->loop);
		feed(c, hw->rbuf, (size_t)n);
		if (atomic_load_explicit(&hw->w->abandoned, memory_order_relaxed))
			break;
		if ((size_t)n < sizeof hw->rbuf)
			break;
	}
	conn_after_io(c);
}

static void on_write(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	(void)revents;
	conn_after_io(io->data);
}

/* Produce HTTP/2 output, write what the socket takes, pause or resume reading, and close
 * when done. c may be freed here: callers return right after. */
static void conn_after_io(struct http_conn *c)
{
	struct ev_loop *loop = c->hw->w->loop;
	size_t max_output = cfg_of(c)->max_output;
	for (;;) {
		if (c->h2) {
			while (pending(c) < max_output) {
				const uint8_t *data;
				ssize_t n = nghttp2_session_mem_send(c->h2, &data);
				if (n < 0) {
					if (c->h2_nomem)
						eird_inc(&c->hw->h2_memory_closes);
					c->want_close = true;
					break;
				}
				if (n == 0)
					break;
				ebuf_add(&c->out, data, (size_t)n);
			}
			if (c->out.failed) {
				conn_free(c);
				return;
			}
		}
		while (pending(c) > 0) {
			ssize_t n = send(c->fd, c->out.data + c->out_off, pending(c), MSG_NOSIGNAL);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				conn_free(c); /* EPIPE, ECONNRESET: the client is gone */
				return;
			}
			c->out_off += (size_t)n;
			c->last = ev_now(loop);
		}
		if (pending(c) == 0) {
			c->out.len = c->out_off = 0;
			if (c->out.cap > 4 * max_output)
				ebuf_free(&c->out);
			/* more HTTP/2 frames may be waiting (flow control, the max_output cut) */
			if (c->h2 && !c->want_close && nghttp2_session_want_write(c->h2))
				continue;
		} else if (c->out_off > max_output) {
			/* keep the buffer from creeping: move what is left to the front */
			memmove(c->out.data, c->out.data + c->out_off, pending(c));
			c->out.len = pending(c);
			c->out_off = 0;
		}
		break;
	}
	if (c->out.failed) {
		conn_free(c);
		return;
	}
	bool done = false;
	if (c->proto == P_H2 && c->h2)
		done = !nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2);
	if ((c->want_close || c->peer_closed || done) && pending(c) == 0) {
		conn_free(c);
		return;
	}
	if (pending(c) > 0)
		ev_io_start(loop, &c->wio);
	else
		ev_io_stop(loop, &c->wio);
	bool stop_reading = c->want_close || c->peer_closed || pending(c) > max_output;
	if (stop_reading && !c->read_paused) {
		ev_io_stop(loop, &c->rio);
		c->read_paused = true;
		if (pending(c) > max_output)
			eird_inc(&c->hw->read_pauses);
	} else if (!stop_reading && c->read_paused) {
		ev_io_start(loop, &c->rio);
		c->read_paused = false;
	}
}

/* HTTP/2: reset every stream that has not ended within the deadline; the earliest start
 * of those left (0: none). */
static double h2_expire_streams(struct http_conn *c, double now, double limit)
{
	double earliest = 0;
	for (struct h2_stream *st = c->streams; st; st = st->next) {
		if (st->responded)
			continue;
		if (now - st->started >= limit) {
			st->responded = true; /* never answered now: the reset ends it */
			nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
			eird_inc(&c->hw->header_timeouts);
		} else if (earliest == 0 || st->started < earliest) {
			earliest = st->started;
		}
	}
	return earliest;
}

/* One timer per connection for both deadlines: idle (no traffic) and request (a request
 * or stream begun and not complete). */
static void on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)revents;
	struct http_conn *c = t->data;
	const struct eird_http_config *cfg = cfg_of(c);
	double now = ev_now(loop);
	if (c->proto != P_H2 && c->req_started > 0 && now - c->req_started >= cfg->header_timeout) {
		eird_inc(&c->hw->header_timeouts);
		if (c->proto == P_H1 && !c->want_close)
			h1_fail(c, 408);
		else
			c->want_close = true; /* not even the first bytes of a request line */
		conn_after_io(c);
		return;
	}
	double next = c->last + cfg->idle_timeout;
	if (c->proto == P_H2 && c->h2) {
		double earliest = h2_expire_streams(c, now, cfg->header_timeout);
		if (earliest > 0 && earliest + cfg->header_timeout < next)
			next = earliest + cfg->header_timeout;
	} else if (c->req_started > 0 && c->req_started + cfg->header_timeout < next) {
		next = c->req_started + cfg->header_timeout;
	}
	if (now >= c->last + cfg->idle_timeout) {
		conn_free(c);
		return;
	}
	t->repeat = next - now > 0.01 ? next - now : 0.01;
	ev_timer_again(loop, t);
	if (c->h2)
		conn_after_io(c); /* send the resets */
}

static void conn_accept(struct http_worker *hw, int fd, const struct sockaddr_storage *ss)
{
	struct eird_worker *w = hw->w;
	struct http_conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		eird_conn_closed(w, (const struct sockaddr *)ss);
		return;
	}
	const struct eird_http_config *cfg = &hw->hf->cfg;
	c->hw = hw;
	c->fd = fd;
	c->addr = *ss;
	eird_peer_name((const struct sockaddr *)ss, c->peer, sizeof c->peer);
	ev_io_init(&c->rio, on_read, fd, EV_READ);
	ev_io_init(&c->wio, on_write, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	ev_init(&c->timer, on_timer);
	c->timer.data = c;
	c->last = ev_now(w->loop);
	c->req_started = c->last; /* the first request (or the preface) is due within the deadline */
	c->timer.repeat = cfg->header_timeout < cfg->idle_timeout ? cfg->header_timeout : cfg->idle_timeout;
	c->next = hw->conns;
	if (hw->conns)
		hw->conns->prev = c;
	hw->conns = c;
	ev_io_start(w->loop, &c->rio);
	ev_timer_again(w->loop, &c->timer);
}

/* ---- the listener ------------------------------------------------------------------- */

static void on_accept_resume(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)revents;
	struct http_worker *hw = t->data;
	if (!hw->w->stopping)
		ev_io_start(loop, &hw->listen_io);
}

static void on_accept(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)revents;
	struct http_worker *hw = io->data;
	struct eird_worker *w = hw->w;
	for (int i = 0; i < 64 && !w->stopping; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = accept4(hw->hf->listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				/* out of descriptors: pause accepting rather than spin on the listener */
				eird_logf(w->srv, "worker %u: accept: %s; pausing accepts for 1 s", w->id, strerror(errno));
				ev_io_stop(loop, &hw->listen_io);
				ev_timer_set(&hw->accept_pause, 1.0, 0.);
				ev_timer_start(loop, &hw->accept_pause);
			}
			return; /* EAGAIN: another worker took it */
		}
		if (!eird_conn_admit(w, (struct sockaddr *)&ss)) {
			close(fd);
			continue;
		}
		int one = 1, buf = SOCK_BUF;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		/* fixed kernel buffers: a client that stops reading pins at most these */
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
		conn_accept(hw, fd, &ss);
	}
}

/* ---- the front end ------------------------------------------------------------------ */

static struct http_worker *hw_of(struct eird_frontend *fe, struct eird_worker *w)
{
	return w->fe_state[fe->slot];
}

static int fe_open(struct eird_frontend *fe, struct eird_server *srv)
{
	struct http_front *hf = fe->state;
	char bound[300], port[16];
	hf->listen_fd = eird_listen_tcp(srv, hf->cfg.host, hf->cfg.port, bound, sizeof bound, port, sizeof port);
	if (hf->listen_fd < 0)
		return -1;
	snprintf(hf->cfg.port, sizeof hf->cfg.port, "%s", port);
	hf->h2_total_cap = hf->cfg.h2_memory_total;
	if (hf->cfg.port_file) {
		char tmp[4096], line[32];
		snprintf(line, sizeof line, "%s\n", port);
		FILE *f = NULL;
		if ((size_t)snprintf(tmp, sizeof tmp, "%s.%ld.tmp", hf->cfg.port_file, (long)getpid()) < sizeof tmp)
			f = fopen(tmp, "w");
		bool ok = f && fputs(line, f) >= 0;
		ok = f && fclose(f) == 0 && ok;
		if (!ok || rename(tmp, hf->cfg.port_file) != 0) {
			eird_logf(srv, "cannot write the port file %s: %s", hf->cfg.port_file, strerror(errno));
			unlink(tmp);
		} else {
			hf->wrote_port_file = true;
		}
	}
	if (!srv->cfg.quiet)
		eird_logf(srv, "listening on http://%s (HTTP/1.1 and h2c)", bound);
	return 0;
}

/* The worker's queue is the equipment checks it takes in one pass of its event loop:
 * every request that arrived by the time it last polled waits behind the ones before it.
 * Before it polls again that queue is empty. */
static void on_queue_reset(struct ev_loop *loop, ev_prepare *p, int revents)
{
	(void)loop;
	(void)revents;
	((struct http_worker *)p->data)->queued = 0;
}

static int fe_worker_start(struct eird_frontend *fe, struct eird_worker *w)
{
	struct http_front *hf = fe->state;
	struct http_worker *hw = calloc(1, sizeof *hw);
	if (!hw)
		return -1;
	hw->w = w;
	hw->hf = hf;
	ev_io_init(&hw->listen_io, on_accept, hf->listen_fd, EV_READ);
	hw->listen_io.data = hw;
	ev_init(&hw->accept_pause, on_accept_resume);
	hw->accept_pause.data = hw;
	ev_io_start(w->loop, &hw->listen_io);
	ev_prepare_init(&hw->queue_reset, on_queue_reset);
	hw->queue_reset.data = hw;
	ev_prepare_start(w->loop, &hw->queue_reset);
	w->fe_state[fe->slot] = hw;
	pthread_mutex_lock(&hf->lock);
	hw->all_next = hf->all;
	hf->all = hw;
	pthread_mutex_unlock(&hf->lock);
	return 0;
}

/* Graceful stop: stop accepting; HTTP/2 connections get a GOAWAY and end when their
 * streams are done; HTTP/1.1 ones close now when idle, else after the response in
 * progress. */
static void fe_worker_drain(struct eird_frontend *fe, struct eird_worker *w)
{
	struct http_worker *hw = hw_of(fe, w);
	if (!hw)
		return;
	ev_io_stop(w->loop, &hw->listen_io);
	ev_timer_stop(w->loop, &hw->accept_pause);
	struct http_conn *c = hw->conns;
	while (c) {
		struct http_conn *next = c->next;
		if (c->proto == P_H2 && c->h2) {
			nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(c->h2),
			                      NGHTTP2_NO_ERROR, NULL, 0);
			conn_after_io(c);
		} else if (c->proto == P_UNKNOWN || !c->in_message) {
			c->want_close = true;
			conn_after_io(c);
		} /* else: h1_answer sees w->stopping and closes after answering */
		c = next;
	}
}

static void fe_worker_close(struct eird_frontend *fe, struct eird_worker *w)
{
	struct http_worker *hw = hw_of(fe, w);
	if (!hw)
		return;
	ev_io_stop(w->loop, &hw->listen_io);
	ev_timer_stop(w->loop, &hw->accept_pause);
	ev_prepare_stop(w->loop, &hw->queue_reset);
	while (hw->conns)
		conn_free(hw->conns);
}

/* On the watchdog thread: the worker is stuck; its sockets are shut down (not closed:
 * the descriptors and memory stay the stuck thread's) so every client sees the end. */
static void fe_worker_abandon(struct eird_frontend *fe, struct eird_worker *w)
{
	struct http_worker *hw = hw_of(fe, w);
	if (!hw)
		return;
	for (struct http_conn *c = hw->conns; c; c = c->next)
		shutdown(c->fd, SHUT_RDWR);
}

static void fe_metrics(struct eird_frontend *fe, struct eird_server *srv, struct ebuf *b)
{
	(void)srv;
	struct http_front *hf = fe->state;
	if (hf->cfg.metrics_only || hf->cfg.admin_only)
		return; /* the metrics and admin listeners: their few answers are not the service's */
	static const int codes[EIRD_NCODES] = { 200, 400, 404, 405, 408, 413, 414, 431, 500, 503, 0 };
	uint64_t sums[EIRD_NCODES][2] = { { 0 } };
	uint64_t timeouts = 0, nomem = 0, pauses = 0, refused = 0;
	size_t h2_used = 0;
	pthread_mutex_lock(&hf->lock);
	for (struct http_worker *hw = hf->all; hw; hw = hw->all_next) {
		for (int c = 0; c < EIRD_NCODES; c++)
			for (int p = 0; p < 2; p++)
				sums[c][p] += atomic_load_explicit(&hw->responses[c][p], memory_order_relaxed);
		timeouts += atomic_load_explicit(&hw->header_timeouts, memory_order_relaxed);
		nomem += atomic_load_explicit(&hw->h2_memory_closes, memory_order_relaxed);
		pauses += atomic_load_explicit(&hw->read_pauses, memory_order_relaxed);
		refused += atomic_load_explicit(&hw->h2_refused_streams, memory_order_relaxed);
		h2_used += atomic_load_explicit(&hw->h2_used_pub, memory_order_relaxed);
	}
	pthread_mutex_unlock(&hf->lock);
	ebuf_str(b, "# HELP imei_eir_http_responses_total HTTP responses by status code and protocol.\n"
	            "# TYPE imei_eir_http_responses_total counter\n");
	for (int c = 0; c < EIRD_NCODES; c++)
		for (int p = 0; p < 2; p++) {
			if (sums[c][p] == 0 && c != EIRD_C200)
				continue;
			if (c == EIRD_COTHER)
				ebuf_printf(b, "imei_eir_http_responses_total{code=\"other\",protocol=\"%s\"} %llu\n",
				            p ? "h2" : "http/1.1", (unsigned long long)sums[c][p]);
			else
				ebuf_printf(b, "imei_eir_http_responses_total{code=\"%d\",protocol=\"%s\"} %llu\n", codes[c],
				            p ? "h2" : "http/1.1", (unsigned long long)sums[c][p]);
		}
	ebuf_printf(b,
	            "# HELP imei_eir_http_request_timeouts_total Requests (HTTP/1.1) and streams (HTTP/2) not complete "
	            "within --header-timeout: 408 or RST_STREAM.\n# TYPE imei_eir_http_request_timeouts_total counter\n"
	            "imei_eir_http_request_timeouts_total %llu\n"
	            "# HELP imei_eir_http2_memory_closes_total HTTP/2 connections ended for going over --h2-memory.\n"
	            "# TYPE imei_eir_http2_memory_closes_total counter\nimei_eir_http2_memory_closes_total %llu\n"
	            "# HELP imei_eir_http2_memory_refused_streams_total HTTP/2 streams reset: their headers would pass "
	            "--h2-memory.\n# TYPE imei_eir_http2_memory_refused_streams_total counter\n"
	            "imei_eir_http2_memory_refused_streams_total %llu\n"
	            "# HELP imei_eir_http2_memory_bytes Memory held by HTTP/2 sessions and streams, all connections.\n"
	            "# TYPE imei_eir_http2_memory_bytes gauge\nimei_eir_http2_memory_bytes %zu\n"
	            "# HELP imei_eir_http_read_pauses_total Times reading from a client paused: its answers were not "
	            "being read (over --max-output).\n# TYPE imei_eir_http_read_pauses_total counter\n"
	            "imei_eir_http_read_pauses_total %llu\n",
	            (unsigned long long)timeouts, (unsigned long long)nomem, (unsigned long long)refused,
	            h2_used,
	            (unsigned long long)pauses);
}

static void fe_close(struct eird_frontend *fe)
{
	struct http_front *hf = fe->state;
	if (hf->listen_fd >= 0)
		close(hf->listen_fd);
	hf->listen_fd = -1;
	if (hf->wrote_port_file)
		unlink(hf->cfg.port_file);
	hf->wrote_port_file = false;
}

struct eird_frontend *eird_http_frontend(const struct eird_http_config *cfg)
{
	struct http_front *hf = calloc(1, sizeof *hf);
	if (!hf)
		return NULL;
	hf->cfg = *cfg;
	hf->listen_fd = -1;
	pthread_mutex_init(&hf->lock, NULL);
	hf->fe = (struct eird_frontend){
		.name = "http",
		.state = hf,
		.open = fe_open,
		.worker_start = fe_worker_start,
		.worker_drain = fe_worker_drain,
		.worker_close = fe_worker_close,
		.worker_abandon = fe_worker_abandon,
		.metrics = fe_metrics,
		.close = fe_close,
	};
	return &hf->fe;
}

void eird_http_frontend_free(struct eird_frontend *fe)
{
	if (!fe)
		return;
	struct http_front *hf = fe->state;
	while (hf->all) {
		struct http_worker *hw = hf->all;
		hf->all = hw->all_next;
		free(hw);
	}
	pthread_mutex_destroy(&hf->lock);
	free(hf);
}
