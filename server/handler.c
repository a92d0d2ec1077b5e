/*
 * handler.c — what imei-eird answers, whatever the HTTP version: routing, the N5g-eir
 * Equipment Identity Check (TS 29.511 §6.2.3.2.3.1; verdict → 200 EirResponseData or
 * 404 ERROR_EQUIPMENT_UNKNOWN), health, metrics, ProblemDetails for everything else
 * (TS 29.500 §5.2.7), the counters and the access log line.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eird.h"

const char *eird_reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

static const char JSON[] = "application/json";
static const char PROBLEM[] = "application/problem+json";

static void problem(struct eird_reply *rp, int status, const char *detail, const char *cause)
{
	rp->status = status;
	rp->content_type = PROBLEM;
	n5g_problem_body(&rp->body, status, eird_reason_phrase(status), detail, cause, NULL, 0);
}

void eird_policy_name(struct eird_worker *w, char *buf, size_t len)
{
	imei_engine_lock(w->engine);
	snprintf(buf, len, "%s", imei_engine_policy_name(w->engine));
	imei_engine_unlock(w->engine);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The log's summary of a verdict: status and its reasons' conditions. */
struct outcome {
	const char *verdict;
	char reasons[256];
};

static void equipment_status(struct eird_worker *w, const char *query, size_t qlen, struct eird_reply *rp,
                             struct outcome *oc)
{
	struct n5g_query q;
	n5g_parse_query(query, qlen, &q);
	if (q.ninvalid) {
		rp->status = 400;
		rp->content_type = PROBLEM;
		const char *cause = q.mandatory_missing     ? "MANDATORY_QUERY_PARAM_MISSING"
		                    : q.mandatory_incorrect ? "MANDATORY_QUERY_PARAM_INCORRECT"
		                                            : "OPTIONAL_QUERY_PARAM_INCORRECT";
		const char *detail = q.mandatory_missing ? "the pei query parameter is mandatory"
		                                         : "a query parameter is malformed (see invalidParams)";
		n5g_problem_body(&rp->body, 400, "Bad Request", detail, cause, q.invalid, q.ninvalid);
		return;
	}
	const char *extras[4];
	size_t nextras = 0;
	if (q.has_supi) {
		extras[2 * nextras] = "supi";
		extras[2 * nextras + 1] = q.supi;
		nextras++;
	}
	if (q.has_gpsi) {
		extras[2 * nextras] = "gpsi";
		extras[2 * nextras + 1] = q.gpsi;
		nextras++;
	}
	struct imei_request req = {
		.pei = q.pei,
		.imsi = q.imsi[0] ? q.imsi : NULL,
		.msisdn = q.msisdn[0] ? q.msisdn : NULL,
		.nextras = nextras,
		.extras = extras,
	};
	struct imei_verdict v = IMEI_VERDICT_INIT;
	int rc = imei_engine_check(w->engine, &req, &v);
	eird_count_verdict(&w->m, &v);
	if (rc < 0) {
		/* The policy failed: the engine answers with its on_error status; say why once
		 * in a while (the access log has every request). */
		uint64_t n = atomic_load_explicit(&w->m.failures, memory_order_relaxed);
		if ((n & (n - 1)) == 0)
			eird_logf(w->srv, "worker %u: policy failed (%llu so far): %s", w->id, (unsigned long long)n,
			          v.error ? v.error : "?");
	}
	oc->verdict = imei_status_name(v.status);
	size_t used = 0;
	for (size_t i = 0; i < v.nreasons && used + 2 < sizeof oc->reasons; i++) {
		int n = snprintf(oc->reasons + used, sizeof oc->reasons - used, "%s%s", i ? "," : "",
		                 v.reasons[i].condition);
		if (n < 0)
			break;
		used += (size_t)n;
		if (used >= sizeof oc->reasons)
			used = sizeof oc->reasons - 1;
	}
	if (v.status == IMEI_STATUS_UNKNOWN) {
		rp->status = 404;
		rp->content_type = PROBLEM;
		char detail[200];
		snprintf(detail, sizeof detail, "equipment unknown to policy %s", v.policy ? v.policy : "?");
		n5g_problem_body(&rp->body, 404, "Not Found", detail, "ERROR_EQUIPMENT_UNKNOWN", NULL, 0);
		imei_verdict_release(&v);
		return;
	}
	rp->status = 200;
	rp->content_type = JSON;
	n5g_status_body(&rp->body, imei_status_name(v.status));
	imei_verdict_release(&v);
}

static void health(struct eird_worker *w, struct eird_reply *rp)
{
	struct eird_server *srv = w->srv;
	bool stopping = atomic_load(&srv->stopping);
	char name[160];
	eird_policy_name(w, name, sizeof name);
	rp->status = stopping ? 503 : 200;
	rp->content_type = JSON;
	ebuf_str(&rp->body, stopping ? "{\"status\":\"STOPPING\",\"policy\":" : "{\"status\":\"UP\",\"policy\":");
	ebuf_json_str(&rp->body, name, strlen(name));
	ebuf_printf(&rp->body, ",\"workers\":%zu,\"reloads\":%llu,\"reload_failures\":%llu}", srv->nworkers,
	            (unsigned long long)atomic_load(&srv->reloads_ok),
	            (unsigned long long)atomic_load(&srv->reloads_failed));
}

static bool path_is(const char *p, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(p, want, n) == 0;
}

/* Append s to the log escaped: printable ASCII except '"' and '\' as is, others \xHH. */
static void log_escaped(struct ebuf *b, const char *s, size_t n, size_t max)
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

static void access_log(struct eird_worker *w, const struct eird_request *rq, const struct eird_reply *rp,
                       const struct outcome *oc, uint64_t ns)
{
	if (w->srv->log_fd < 0)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	struct ebuf *b = &w->log;
	ebuf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s \"", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	            tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, rq->peer);
	if (rq->method_len)
		log_escaped(b, rq->method_name, rq->method_len, 16);
	else
		ebuf_str(b, "-");
	ebuf_str(b, " ");
	if (rq->target_len)
		log_escaped(b, rq->target, rq->target_len, 512);
	else
		ebuf_str(b, "-");
	ebuf_printf(b, " %s\" %d %zu %s %s %lluus\n", rq->proto ? "HTTP/2" : "HTTP/1.1", rp->status, rp->body.len,
	            oc->verdict ? oc->verdict : "-", oc->reasons[0] ? oc->reasons : "-",
	            (unsigned long long)(ns / 1000));
	if (b->len >= 48 * 1024)
		eird_log_flush(w);
}

void eird_handle(struct eird_worker *w, const struct eird_request *rq, struct eird_reply *rp)
{
	uint64_t t0 = now_ns();
	ebuf_init(&rp->body);
	rp->allow = NULL;
	struct outcome oc = { NULL, "" };
	const char *target = rq->target ? rq->target : "";
	const char *q = memchr(target, '?', rq->target_len);
	size_t plen = q ? (size_t)(q - target) : rq->target_len;
	bool eic = false;

	if (rq->forced_status) {
		const char *detail = rq->forced_status == 413   ? "the request body is too large"
		                     : rq->forced_status == 414 ? "the request target is too long"
		                     : rq->forced_status == 431 ? "the request header fields are too large"
		                                                : "malformed HTTP request";
		problem(rp, rq->forced_status, detail, rq->forced_status == 400 ? "INVALID_MSG_FORMAT" : NULL);
	} else if (path_is(target, plen, N5G_PATH)) {
		eic = true;
		if (rq->method == EIRD_OTHER) {
			problem(rp, 405, "the equipment-status resource answers GET", NULL);
			rp->allow = "GET, HEAD";
		} else {
			equipment_status(w, q ? q + 1 : NULL, q ? rq->target_len - plen - 1 : 0, rp, &oc);
		}
	} else if (path_is(target, plen, "/health") || path_is(target, plen, "/metrics")) {
		if (rq->method == EIRD_OTHER) {
			problem(rp, 405, "this resource answers GET", NULL);
			rp->allow = "GET, HEAD";
		} else if (plen == 7) {
			health(w, rp);
		} else {
			rp->status = 200;
			rp->content_type = "text/plain; version=0.0.4; charset=utf-8";
			eird_metrics_render(w->srv, &rp->body);
		}
	} else {
		problem(rp, 404, "no such resource (the API is GET " N5G_PATH ")", "RESOURCE_URI_STRUCTURE_NOT_FOUND");
	}
	if (rp->body.failed) { /* out of memory while writing the body */
		ebuf_free(&rp->body);
		rp->status = 500;
		rp->content_type = PROBLEM;
		rp->allow = NULL;
		static const char oom[] = "{\"title\":\"Internal Server Error\",\"status\":500}";
		ebuf_add(&rp->body, oom, sizeof oom - 1);
	}
	uint64_t ns = now_ns() - t0;
	eird_inc(&w->m.responses[eird_code_slot(rp->status)][rq->proto ? 1 : 0]);
	if (eic && oc.verdict) {
		size_t b = 0;
		while (b < EIRD_NBUCKETS - 1 && (double)ns > eird_buckets[b] * 1e9)
			b++;
		eird_inc(&w->m.hist[b]);
		eird_add(&w->m.hist_sum_ns, ns);
		eird_inc(&w->m.hist_count);
	}
	access_log(w, rq, rp, &oc, ns);
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
