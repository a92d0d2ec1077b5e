/*
 * conn.c — one client connection of imei-eird: non-blocking socket I/O on the worker's
 * libev loop, the choice of protocol by the first bytes (the HTTP/2 client connection
 * preface, RFC 9113 §3.4, means h2 with prior knowledge; anything else is HTTP/1.1), and
 * the glue to the two protocol libraries: nghttp2 for HTTP/2 and Node's http_parser for
 * HTTP/1.1 (RFC 9112). No HTTP syntax is parsed here.
 *
 * Bounds: the request target (max_target → 414), header fields (max_header_bytes → 431),
 * a request body (max_body → 413); buffered output (reading pauses above OUT_HIGH until
 * the client reads); idle connections (idle_timeout). A malformed HTTP/1.1 request gets a
 * 400 and the connection is closed; a broken HTTP/2 connection gets nghttp2's GOAWAY.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <nghttp2/nghttp2.h>

#include "eird.h"

#define OUT_HIGH (256 * 1024) /* stop reading while this much output waits */
#define H2_MAX_STREAMS 128

static const char PREFACE[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN 24

enum proto { P_UNKNOWN, P_H1, P_H2 };

struct h2_stream {
	int32_t id;
	struct h2_stream *prev, *next;
	char method[16];
	size_t method_len;
	struct ebuf path;
	size_t header_bytes, body_bytes;
	int forced;
	bool responded;
	struct ebuf body;
	size_t body_off;
};

struct conn {
	struct eird_worker *w;
	struct conn *prev, *next;
	int fd;
	ev_io rio, wio;
	ev_timer idle;
	ev_tstamp last;
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
	struct ebuf url;
	char method[16];
	size_t method_len;
	size_t header_bytes, body_bytes;
	int forced;
	/* HTTP/2 */
	nghttp2_session *h2;
	struct h2_stream *streams;
};

static void conn_after_io(struct conn *c);

/* ---- lifetime ----------------------------------------------------------------------- */

static void h2_stream_free(struct conn *c, struct h2_stream *st)
{
	if (st->prev)
		st->prev->next = st->next;
	else
		c->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	ebuf_free(&st->path);
	ebuf_free(&st->body);
	free(st);
}

static void conn_free(struct conn *c)
{
	struct eird_worker *w = c->w;
	ev_io_stop(w->loop, &c->rio);
	ev_io_stop(w->loop, &c->wio);
	ev_timer_stop(w->loop, &c->idle);
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
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	w->nconns--;
	atomic_fetch_sub(&w->srv->conns_total, 1);
	atomic_store_explicit(&w->m.conns_open, w->nconns, memory_order_relaxed);
	free(c);
	if (w->stopping && w->nconns == 0)
		ev_break(w->loop, EVBREAK_ONE);
}

/* ---- HTTP/1.1 ----------------------------------------------------------------------- */

static void h1_reset(struct conn *c)
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
static void h1_write_reply(struct conn *c, const struct eird_reply *rp, bool head, bool close_after)
{
	struct eird_worker *w = c->w;
	long now = (long)ev_now(w->loop);
	if (now != w->date_sec) {
		time_t t = (time_t)now;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(w->date, sizeof w->date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		w->date_sec = now;
	}
	ebuf_printf(&c->out,
	            "HTTP/1.1 %d %s\r\nServer: imei-eird\r\nDate: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s%s%s\r\n",
	            rp->status, eird_reason_phrase(rp->status), w->date, rp->content_type, rp->body.len,
	            rp->allow ? "Allow: " : "", rp->allow ? rp->allow : "", rp->allow ? "\r\n" : "",
	            close_after ? "Connection: close\r\n" : "");
	if (!head)
		ebuf_add(&c->out, rp->body.data, rp->body.len);
}

static void h1_answer(struct conn *c, enum eird_method m, int forced, bool keep_alive)
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
	eird_handle(c->w, &rq, &rp);
	bool close_after = !keep_alive || c->w->stopping;
	h1_write_reply(c, &rp, m == EIRD_HEAD, close_after);
	ebuf_free(&rp.body);
	if (close_after)
		c->want_close = true;
}

static int h1_on_message_begin(http_parser *p)
{
	struct conn *c = p->data;
	if (c->want_close)
		return -1; /* after a "Connection: close" answer: read nothing more */
	h1_reset(c);
	c->in_message = true;
	return 0;
}

static int h1_on_url(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;
	if (c->url.len + len > c->w->srv->cfg.max_target) {
		c->forced = 414;
		return -1;
	}
	ebuf_add(&c->url, at, len);
	return c->url.failed ? -1 : 0;
}

static int h1_on_header(http_parser *p, const char *at, size_t len)
{
	(void)at;
	struct conn *c = p->data;
	c->header_bytes += len;
	if (c->header_bytes > c->w->srv->cfg.max_header_bytes) {
		c->forced = 431;
		return -1;
	}
	return 0;
}

static int h1_on_headers_complete(http_parser *p)
{
	struct conn *c = p->data;
	const char *m = http_method_str((enum http_method)p->method);
	c->method_len = strlen(m) < sizeof c->method ? strlen(m) : sizeof c->method - 1;
	memcpy(c->method, m, c->method_len);
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->w->srv->cfg.max_body) {
		c->forced = 413;
		return -1; /* http_parser: an error stops the parse (HPE_CB_headers_complete) */
	}
	return 0;
}

static int h1_on_body(http_parser *p, const char *at, size_t len)
{
	(void)at;
	struct conn *c = p->data;
	c->body_bytes += len;
	if (c->body_bytes > c->w->srv->cfg.max_body) {
		c->forced = 413;
		return -1;
	}
	return 0;
}

static int h1_on_message_complete(http_parser *p)
{
	struct conn *c = p->data;
	c->in_message = false;
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

static void h1_feed(struct conn *c, const char *data, size_t len)
{
	while (len > 0 && !c->want_close) {
		size_t n = http_parser_execute(&c->parser, &h1_settings, data, len);
		enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);
		if (err != HPE_OK) {
			if (c->want_close)
				return; /* the stop after a closing answer, not an error */
			/* Malformed or over a bound: answer once, then close. */
			int status = c->forced ? c->forced : 400;
			if (c->method_len == 0 && c->forced) {
				const char *m = http_method_str((enum http_method)c->parser.method);
				c->method_len = strlen(m) < sizeof c->method ? strlen(m) : sizeof c->method - 1;
				memcpy(c->method, m, c->method_len);
			}
			if (status == 400)
				c->url.len = 0; /* do not log a half-parsed target as if it were one */
			h1_answer(c, EIRD_GET, status, false);
			c->in_message = false;
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
	struct conn *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	struct h2_stream *st = calloc(1, sizeof *st);
	if (!st)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM for this one */
	st->id = f->hd.stream_id;
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
	struct conn *c = ud;
	if (f->hd.type != NGHTTP2_HEADERS)
		return 0;
	struct h2_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
	if (!st || st->forced)
		return 0;
	const struct eird_config *cfg = &c->w->srv->cfg;
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
	struct conn *c = ud;
	struct h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
	if (!st)
		return 0;
	st->body_bytes += len;
	if (st->body_bytes > c->w->srv->cfg.max_body && !st->forced)
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

static void h2_respond(struct conn *c, struct h2_stream *st)
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
	eird_handle(c->w, &rq, &rp);
	st->body = rp.body; /* the stream owns the body until it closes */
	st->body_off = 0;
	char status[12], length[24];
	snprintf(status, sizeof status, "%03d", rp.status % 1000);
	int ll = snprintf(length, sizeof length, "%zu", st->body.len);
	nghttp2_nv nva[5] = {
		NV(":status", status, 3),
		NV("content-type", rp.content_type, strlen(rp.content_type)),
		NV("content-length", length, (size_t)ll),
		NV("server", "imei-eird", 9),
	};
	size_t n = 4;
	if (rp.allow)
		nva[n++] = (nghttp2_nv)NV("allow", rp.allow, strlen(rp.allow));
	nghttp2_data_provider prd = { .source.ptr = st, .read_callback = h2_read_body };
	/* A failure means the stream is gone (reset by the client): nothing to answer. */
	nghttp2_submit_response(c->h2, st->id, nva, n, m == EIRD_HEAD ? NULL : &prd);
}

static int h2_on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud)
{
	struct conn *c = ud;
	if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
		struct h2_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
		if (st && !st->responded)
			h2_respond(c, st);
	}
	return 0;
}

static int h2_on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *ud)
{
	(void)code;
	struct conn *c = ud;
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

static bool h2_start(struct conn *c)
{
	nghttp2_session_callbacks *cb = h2_callbacks();
	if (!cb)
		return false;
	int rv = nghttp2_session_server_new(&c->h2, cb, c);
	nghttp2_session_callbacks_del(cb);
	if (rv != 0) {
		c->h2 = NULL;
		return false;
	}
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS },
		{ NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
		  (uint32_t)(c->w->srv->cfg.max_header_bytes + c->w->srv->cfg.max_target) },
	};
	return nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) == 0;
}

static void h2_feed(struct conn *c, const char *data, size_t len)
{
	ssize_t r = nghttp2_session_mem_recv(c->h2, (const uint8_t *)data, len);
	if (r < 0)
		c->want_close = true; /* nghttp2 queued a GOAWAY where it could: send it, close */
}

/* ---- I/O ---------------------------------------------------------------------------- */

static void feed(struct conn *c, const char *data, size_t len)
{
	if (c->proto == P_UNKNOWN) {
		size_t take = PREFACE_LEN - c->npre < len ? PREFACE_LEN - c->npre : len;
		if (memcmp(data, PREFACE + c->npre, take) == 0) {
			memcpy(c->pre + c->npre, data, take);
			c->npre += take;
			if (c->npre < PREFACE_LEN)
				return; /* a prefix of the preface: wait for more */
			c->proto = P_H2;
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

static size_t pending(const struct conn *c)
{
	return c->out.len - c->out_off;
}

static void on_read(struct ev_loop *loop, ev_io *io, int revents)
{
	(void)loop;
	(void)revents;
	struct conn *c = io->data;
	for (int round = 0; round < 4 && !c->want_close; round++) {
		if (pending(c) > OUT_HIGH)
			break;
		ssize_t n = recv(c->fd, c->w->rbuf, sizeof c->w->rbuf, 0);
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
		c->last = ev_now(c->w->loop);
		feed(c, c->w->rbuf, (size_t)n);
		if ((size_t)n < sizeof c->w->rbuf)
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
static void conn_after_io(struct conn *c)
{
	struct ev_loop *loop = c->w->loop;
	for (;;) {
		if (c->h2) {
			while (pending(c) < OUT_HIGH) {
				const uint8_t *data;
				ssize_t n = nghttp2_session_mem_send(c->h2, &data);
				if (n < 0) {
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
			if (c->out.cap > 4 * OUT_HIGH) {
				ebuf_free(&c->out);
			}
			/* more HTTP/2 frames may be waiting (flow control, the OUT_HIGH cut) */
			if (c->h2 && !c->want_close && nghttp2_session_want_write(c->h2))
				continue;
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
	bool stop_reading = c->want_close || c->peer_closed || pending(c) > OUT_HIGH;
	if (stop_reading && !c->read_paused) {
		ev_io_stop(loop, &c->rio);
		c->read_paused = true;
	} else if (!stop_reading && c->read_paused) {
		ev_io_start(loop, &c->rio);
		c->read_paused = false;
	}
}

static void on_idle(struct ev_loop *loop, ev_timer *t, int revents)
{
	(void)revents;
	struct conn *c = t->data;
	double timeout = c->w->srv->cfg.idle_timeout;
	ev_tstamp after = c->last + timeout - ev_now(loop);
	if (after > 0) {
		t->repeat = after;
		ev_timer_again(loop, t);
		return;
	}
	conn_free(c);
}

void eird_conn_accept(struct eird_worker *w, int fd, const char *peer)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		eird_inc(&w->m.conns_rejected);
		return;
	}
	c->w = w;
	c->fd = fd;
	snprintf(c->peer, sizeof c->peer, "%s", peer);
	ev_io_init(&c->rio, on_read, fd, EV_READ);
	ev_io_init(&c->wio, on_write, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	ev_init(&c->idle, on_idle);
	c->idle.data = c;
	c->idle.repeat = w->srv->cfg.idle_timeout;
	c->last = ev_now(w->loop);
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
	atomic_store_explicit(&w->m.conns_open, w->nconns, memory_order_relaxed);
	ev_io_start(w->loop, &c->rio);
	ev_timer_again(w->loop, &c->idle);
}

/* Graceful stop: HTTP/2 connections get a GOAWAY and end when their streams are done;
 * HTTP/1.1 ones close now when idle, else after the response in progress. */
void eird_conn_drain_all(struct eird_worker *w)
{
	struct conn *c = w->conns;
	while (c) {
		struct conn *next = c->next;
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

void eird_conn_close_all(struct eird_worker *w)
{
	while (w->conns)
		conn_free(w->conns);
}
