/*
 * http_handler.c — what the N5g-eir front end answers, whatever the HTTP version:
 * routing, the N5g-eir Equipment Identity Check (TS 29.511 §6.2.3.2.3.1; verdict → 200
 * EirResponseData or 404 ERROR_EQUIPMENT_UNKNOWN) through the check service
 * (eird_check), health, metrics, ProblemDetails for everything else (TS 29.500 §5.2.7),
 * the response counters and the access log record. On the admin listener (--admin-listen)
 * only: GET /explain (eird_explain, docs/explain.md) and /health.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

const char *eird_reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

static const int code_values[EIRD_NCODES] = { 200, 400, 404, 405, 408, 413, 414, 431, 500, 503, 0 };

int eird_code_slot(int status)
{
	for (int i = 0; i < EIRD_COTHER; i++)
		if (code_values[i] == status)
			return i;
	return EIRD_COTHER;
}

static const char JSON[] = "application/json";
static const char PROBLEM[] = "application/problem+json";

static void problem(struct eird_reply *rp, int status, const char *detail, const char *cause)
{
	rp->status = status;
	rp->content_type = PROBLEM;
	n5g_problem_body(&rp->body, status, eird_reason_phrase(status), detail, cause, NULL, 0);
}

void eird_http_status_body(struct ebuf *b, const struct imei_verdict *v, bool policy_failed,
                           const struct eird_http_config *cfg, int *http_status)
{
	if (policy_failed && cfg->policy_error_500) {
		/* TS 29.500 Table 5.2.7.2-1: SYSTEM_FAILURE; the AMF applies its own local policy */
		*http_status = 500;
		char detail[200]; /* why stays in the server's log: no path or policy text to clients */
		if (v->policy)
			snprintf(detail, sizeof detail, "the EIR policy %s failed on this request", v->policy);
		else
			snprintf(detail, sizeof detail, "the EIR policy failed on this request");
		n5g_problem_body(b, 500, "Internal Server Error", detail, "SYSTEM_FAILURE", NULL, 0);
		return;
	}
	if (v->status == IMEI_STATUS_UNKNOWN) {
		*http_status = 404;
		char detail[200];
		snprintf(detail, sizeof detail, "equipment unknown to policy %s", v->policy ? v->policy : "?");
		n5g_problem_body(b, 404, "Not Found", detail, "ERROR_EQUIPMENT_UNKNOWN", NULL, 0);
		return;
	}
	*http_status = 200;
	n5g_status_body(b, imei_status_name(v->status));
}

/* false: the watchdog took the check over */
static bool equipment_status(struct http_worker *hw, const char *query, size_t qlen, struct eird_reply *rp,
                             struct imei_verdict *v, bool *checked)
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
		return true;
	}
	if (q.not_equipment) {
		/* A MAC or EUI-64 PEI (wireline access, TS 29.571 Pei) is well formed but names no
		 * 3GPP mobile equipment: the EIR does not know it (TS 29.511 §6.2.3.2.3.1). */
		problem(rp, 404, "the PEI is a MAC or EUI-64 address, not a mobile equipment identity",
		        "ERROR_EQUIPMENT_UNKNOWN");
		return true;
	}
	if (++hw->queued > hw->hf->cfg.max_queue) {
		/* Shed load: this worker already took max_queue checks in this loop pass; the
		 * client tries again (or elsewhere) instead of waiting behind them. */
		problem(rp, 503, "the EIR is overloaded: try again shortly", "NF_CONGESTION");
		rp->retry_after = 1;
		return true;
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
	int rc = eird_check(hw->w, &req, v);
	if (rc == EIRD_CHECK_ABANDONED)
		return false;
	*checked = true;
	eird_http_status_body(&rp->body, v, rc < 0, &hw->hf->cfg, &rp->status);
	rp->content_type = rp->status == 200 ? JSON : PROBLEM;
	return true;
}

/* GET /explain?pei=…[&imsi=…][&msisdn=…][&operator=…][&rat=…][&time=…] on the admin
 * listener: the engine's explanation as JSON (docs/explain.md). false: the watchdog took
 * it over. */
static bool explain_request(struct http_worker *hw, const char *query, size_t qlen, struct eird_reply *rp)
{
	static const char *const names[] = { "pei", "imsi", "msisdn", "operator", "rat", "time" };
	enum { NFIELDS = sizeof names / sizeof names[0] };
	char values[NFIELDS][N5G_VALUE_MAX + 1];
	bool seen[NFIELDS] = { false };
	char detail[200];
	const char *p = query ? query : "", *end = p + (query ? qlen : 0);
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *stop = amp ? amp : end;
		const char *eq = memchr(p, '=', (size_t)(stop - p));
		size_t nlen = (size_t)((eq ? eq : stop) - p), i = 0;
		while (i < NFIELDS && !(strlen(names[i]) == nlen && memcmp(names[i], p, nlen) == 0))
			i++;
		if (nlen == 0 && !eq) { /* an empty parameter ("a&&b") */
			p = stop + 1;
			continue;
		}
		if (i == NFIELDS || seen[i]) {
			snprintf(detail, sizeof detail, "%s query parameter '%.*s' (give pei, imsi, msisdn, operator, rat, time)",
			         i == NFIELDS ? "unknown" : "repeated", (int)(nlen < 40 ? nlen : 40), p);
			problem(rp, 400, detail, "INVALID_QUERY_PARAM");
			return true;
		}
		const char *v = eq ? eq + 1 : stop;
		long n = (size_t)(stop - v) <= N5G_VALUE_MAX ? n5g_pct_decode(v, (size_t)(stop - v), values[i]) : -1;
		if (n < 0) {
			snprintf(detail, sizeof detail, "query parameter %s: malformed or longer than %d bytes", names[i],
			         N5G_VALUE_MAX);
			problem(rp, 400, detail, "INVALID_QUERY_PARAM");
			return true;
		}
		values[i][n] = 0;
		seen[i] = true;
		p = stop + 1;
	}
	if (!seen[0] || !values[0][0]) {
		problem(rp, 400, "the pei query parameter is mandatory", "MANDATORY_QUERY_PARAM_MISSING");
		return true;
	}
	long long t = 0;
	if (seen[5]) {
		char *tail;
		t = strtoll(values[5], &tail, 10);
		if (*tail || tail == values[5] || t <= 0 || t > 4102444800LL) { /* UTC seconds, before 2100 */
			problem(rp, 400, "query parameter time: UTC seconds", "INVALID_QUERY_PARAM");
			return true;
		}
	}
	struct imei_request req = {
		.pei = values[0],
		.imsi = seen[1] ? values[1] : NULL,
		.msisdn = seen[2] ? values[2] : NULL,
		.operator_id = seen[3] ? values[3] : NULL,
		.rat = seen[4] ? values[4] : NULL,
		.time = t,
	};
	char why[512];
	int rc = eird_explain(hw->w, &req, &rp->body, why, sizeof why);
	if (rc == EIRD_CHECK_ABANDONED)
		return false;
	if (rc != 0) {
		ebuf_free(&rp->body);
		ebuf_init(&rp->body);
		problem(rp, 500, why, "SYSTEM_FAILURE"); /* an operator's listener: the reason helps */
		return true;
	}
	rp->status = 200;
	rp->content_type = JSON;
	return true;
}

static bool path_is(const char *p, size_t n, const char *want)
{
	return n == strlen(want) && memcmp(p, want, n) == 0;
}

bool eird_http_handle(struct http_worker *hw, const struct eird_request *rq, struct eird_reply *rp)
{
	struct eird_worker *w = hw->w;
	uint64_t t0 = eird_now_ns();
	ebuf_init(&rp->body);
	rp->allow = NULL;
	rp->retry_after = 0;
	const struct eird_http_config *cfg = &hw->hf->cfg;
	struct imei_verdict v = IMEI_VERDICT_INIT;
	bool checked = false;
	const struct imei_verdict *logged = NULL; /* the verdict, once there is one */
	const char *target = rq->target ? rq->target : "";
	const char *q = memchr(target, '?', rq->target_len);
	size_t plen = q ? (size_t)(q - target) : rq->target_len;

	if (rq->forced_status) {
		const char *detail = rq->forced_status == 413   ? "the request body is too large"
		                     : rq->forced_status == 414 ? "the request target is too long"
		                     : rq->forced_status == 431 ? "the request header fields are too large"
		                     : rq->forced_status == 408 ? "the request did not arrive in time"
		                                                : "malformed HTTP request";
		problem(rp, rq->forced_status, detail, rq->forced_status == 400 ? "INVALID_MSG_FORMAT" : NULL);
	} else if (cfg->admin_only && path_is(target, plen, "/explain")) {
		if (rq->method == EIRD_OTHER) {
			problem(rp, 405, "the explain resource answers GET", NULL);
			rp->allow = "GET, HEAD";
		} else if (!explain_request(hw, q ? q + 1 : NULL, q ? rq->target_len - plen - 1 : 0, rp)) {
			ebuf_free(&rp->body);
			return false;
		}
	} else if (cfg->admin_only && !path_is(target, plen, "/health")) {
		problem(rp, 404, "no such resource (the admin API is GET /explain?pei=...&imsi=...)",
		        "RESOURCE_URI_STRUCTURE_NOT_FOUND");
	} else if (path_is(target, plen, N5G_PATH) && !cfg->metrics_only) {
		if (rq->method == EIRD_OTHER) {
			problem(rp, 405, "the equipment-status resource answers GET", NULL);
			rp->allow = "GET, HEAD";
		} else if (!equipment_status(hw, q ? q + 1 : NULL, q ? rq->target_len - plen - 1 : 0, rp, &v, &checked)) {
			ebuf_free(&rp->body);
			imei_verdict_release(&v);
			return false;
		}
	} else if (path_is(target, plen, "/health") || (path_is(target, plen, "/metrics") && !cfg->no_metrics)) {
		if (rq->method == EIRD_OTHER) {
			problem(rp, 405, "this resource answers GET", NULL);
			rp->allow = "GET, HEAD";
		} else if (plen == 7) {
			bool up;
			eird_health_render(w->srv, &rp->body, &up);
			rp->status = up ? 200 : 503;
			rp->content_type = JSON;
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
		rp->retry_after = 0;
		static const char oom[] = "{\"title\":\"Internal Server Error\",\"status\":500}";
		ebuf_add(&rp->body, oom, sizeof oom - 1);
	}
	eird_inc(&hw->responses[eird_code_slot(rp->status)][rq->proto ? 1 : 0]);
	if (checked)
		logged = &v;
	struct eird_log_record rec = {
		.protocol = rq->proto ? "HTTP/2" : "HTTP/1.1",
		.peer = rq->peer,
		.op = rq->method_name,
		.op_len = rq->method_len,
		.target = rq->target,
		.target_len = rq->target_len,
		.result = rp->status,
		.bytes = rp->body.len,
		.v = logged,
		.ns = eird_now_ns() - t0,
	};
	eird_log_write(w, &rec);
	imei_verdict_release(&v);
	return true;
}
