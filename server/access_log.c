/*
 * access_log.c — one line per answered request, whatever the protocol (service.h,
 * struct eird_log_record). Lines gather in the worker's buffer and are written with one
 * write(2) every 0.25 s or 48 KiB, so O_APPEND keeps workers' lines whole. Every text
 * field is escaped: a request target or a policy's reason name cannot start a new line
 * or fake a field.
 */
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "service.h"

void eird_log_escape(struct ebuf *b, const char *s, size_t n, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	bool cut = n > max;
	if (cut)
		n = max;
	if (!ebuf_reserve(b, n * 4 + 3))
		return;
	char *o = b->data + b->len;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == ',' || c == '!') {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else {
			*o++ = (char)c;
		}
	}
	if (cut) {
		memcpy(o, "...", 3);
		o += 3;
	}
	b->len = (size_t)(o - b->data);
}

/* The request's own text keeps its spaces and commas readable; only what could end the
 * quoted field or the line is escaped. */
static void escape_quoted(struct ebuf *b, const char *s, size_t n, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	bool cut = n > max;
	if (cut)
		n = max;
	if (!ebuf_reserve(b, n * 4 + 3))
		return;
	char *o = b->data + b->len;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else {
			*o++ = (char)c;
		}
	}
	if (cut) {
		memcpy(o, "...", 3);
		o += 3;
	}
	b->len = (size_t)(o - b->data);
}

void eird_log_write(struct eird_worker *w, const struct eird_log_record *r)
{
	if (w->srv->log_fd < 0)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	struct ebuf *b = &w->log;
	ebuf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	            tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
	eird_log_escape(b, r->peer ? r->peer : "-", r->peer ? strlen(r->peer) : 1, 64);
	ebuf_str(b, " \"");
	if (r->op && r->op_len)
		escape_quoted(b, r->op, r->op_len, 16);
	else
		ebuf_str(b, "-");
	ebuf_str(b, " ");
	if (r->target && r->target_len)
		escape_quoted(b, r->target, r->target_len, 512);
	else
		ebuf_str(b, "-");
	ebuf_str(b, " ");
	eird_log_escape(b, r->protocol, strlen(r->protocol), 16);
	ebuf_printf(b, "\" %d %zu ", r->result, r->bytes);
	const struct imei_verdict *v = r->v;
	if (v) {
		ebuf_str(b, imei_status_name(v->status));
		ebuf_str(b, v->failed ? "! " : " ");
		if (v->nreasons == 0)
			ebuf_str(b, "-");
		for (size_t i = 0; i < v->nreasons; i++) {
			if (i)
				ebuf_str(b, ",");
			const char *c = v->reasons[i].condition ? v->reasons[i].condition : "?";
			eird_log_escape(b, c, strlen(c), 64);
			if (eird_reason_failed(&v->reasons[i]))
				ebuf_str(b, "!");
		}
	} else {
		ebuf_str(b, "- -");
	}
	ebuf_printf(b, " %lluus\n", (unsigned long long)(r->ns / 1000));
	if (b->len >= 48 * 1024)
		eird_log_flush(w);
}

void eird_log_flush(struct eird_worker *w)
{
	struct ebuf *b = &w->log;
	size_t off = 0;
	while (off < b->len && w->srv->log_fd >= 0) {
		ssize_t n = write(w->srv->log_fd, b->data + off, b->len - off);
		if (n <= 0)
			break; /* a full disk loses log lines, never requests */
		off += (size_t)n;
	}
	b->len = 0;
	b->failed = false;
}
