/*
 * n5g.c — the N5g-eir Equipment Identity Check request and response (n5g.h).
 *
 * TS 29.511 §6.2.3.2.3.1: GET .../equipment-status?pei=…[&supi=…][&gpsi=…]; pei is
 * mandatory. TS 29.571 §5.3.2 gives the patterns:
 *   Pei  ^(imei-[0-9]{15}|imeisv-[0-9]{16}|mac((-[0-9a-fA-F]{2}){6})(-untrusted)?|eui((-[0-9a-fA-F]{2}){8})|.+)$
 *   Supi ^(imsi-[0-9]{5,15}|nai-.+|gci-.+|gli-.+|.+)$
 *   Gpsi ^(msisdn-[0-9]{5,15}|extid-[^@]+@[^@]+|.+)$
 * The catch-all ".+" branches make almost anything "valid"; this service is stricter where
 * it has to interpret a value: a PEI that uses one of the typed prefixes must have its
 * shape (imei-12345 is malformed), any other PEI text goes to the policy as it is (which
 * judges, e.g. as malformed_identifier); a SUPI must be imsi-/nai-/gci-/gli- and a GPSI
 * msisdn-/extid- with their shapes, since the policy sees their digits as IMSI / MSISDN.
 * Errors (TS 29.500 Table 5.2.7.2-1): MANDATORY_QUERY_PARAM_MISSING / _INCORRECT for pei,
 * OPTIONAL_QUERY_PARAM_INCORRECT for supi and gpsi, each listed in invalidParams with
 * param "query NAME" (TS 29.571 InvalidParam).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "n5g.h"

/* ---- query ------------------------------------------------------------------------ */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long n5g_pct_decode(const char *src, size_t n, char *dst)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		char c = src[i];
		if (c == '%') {
			if (n - i < 3) /* fewer than two characters follow */
				return -1;
			int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (c == 0)
			return -1;
		dst[o++] = c;
	}
	return (long)o;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool starts(const char *s, size_t len, const char *prefix, size_t *plen)
{
	size_t n = strlen(prefix);
	*plen = n;
	return len >= n && memcmp(s, prefix, n) == 0;
}

/* "-xx" repeated count times, hex digits, starting at s; true when s[0..len) is exactly that
 * (optionally followed by tail). */
static bool hex_groups(const char *s, size_t len, size_t count, const char *tail)
{
	size_t need = count * 3;
	if (len < need)
		return false;
	for (size_t i = 0; i < count; i++) {
		const char *g = s + i * 3;
		if (g[0] != '-' || hexval(g[1]) < 0 || hexval(g[2]) < 0)
			return false;
	}
	if (len == need)
		return true;
	return tail && len - need == strlen(tail) && memcmp(s + need, tail, len - need) == 0;
}

static bool printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

const char *n5g_pei_problem(const char *s, size_t len)
{
	size_t p;
	if (len == 0)
		return "empty";
	if (len > N5G_PEI_MAX)
		return "too long for a PEI";
	if (!printable(s, len))
		return "contains a space, control character or non-ASCII byte";
	if (starts(s, len, "imeisv-", &p))
		return len - p == 16 && all_digits(s + p, 16) ? NULL : "imeisv- must be followed by 16 digits";
	if (starts(s, len, "imei-", &p))
		return len - p == 15 && all_digits(s + p, 15) ? NULL : "imei- must be followed by 15 digits";
	if (starts(s, len, "mac", &p))
		return hex_groups(s + p, len - p, 6, "-untrusted") ? NULL
		                                                    : "mac must be followed by six -xx hex groups";
	if (starts(s, len, "eui", &p))
		return hex_groups(s + p, len - p, 8, NULL) ? NULL : "eui must be followed by eight -xx hex groups";
	return NULL; /* another form: the policy judges it */
}

const char *n5g_supi_problem(const char *s, size_t len)
{
	size_t p;
	if (len == 0)
		return "empty";
	if (!printable(s, len))
		return "contains a space, control character or non-ASCII byte";
	if (starts(s, len, "imsi-", &p))
		return len - p >= 5 && len - p <= 15 && all_digits(s + p, len - p) ? NULL
		                                                                   : "imsi- must be followed by 5 to 15 digits";
	if (starts(s, len, "nai-", &p) || starts(s, len, "gci-", &p) || starts(s, len, "gli-", &p))
		return len > p ? NULL : "nothing after the SUPI type";
	return "not a SUPI: imsi-<digits>, nai-..., gci-... or gli-...";
}

const char *n5g_gpsi_problem(const char *s, size_t len)
{
	size_t p;
	if (len == 0)
		return "empty";
	if (!printable(s, len))
		return "contains a space, control character or non-ASCII byte";
	if (starts(s, len, "msisdn-", &p))
		return len - p >= 5 && len - p <= 15 && all_digits(s + p, len - p) ? NULL
		                                                                   : "msisdn- must be followed by 5 to 15 digits";
	if (starts(s, len, "extid-", &p)) {
		const char *at = memchr(s + p, '@', len - p);
		if (!at || at == s + p || at == s + len - 1 || memchr(at + 1, '@', (size_t)(s + len - at - 1)))
			return "extid- must be followed by local@domain";
		return NULL;
	}
	return "not a GPSI: msisdn-<digits> or extid-...@...";
}

static void add_invalid(struct n5g_query *q, const char *param, const char *reason)
{
	if (q->ninvalid < N5G_MAX_INVALID)
		q->invalid[q->ninvalid++] = (struct n5g_invalid){ param, reason };
}

enum { P_PEI, P_SUPI, P_GPSI, P_OTHER };

static int param_of(const char *k, size_t n)
{
	if (n == 3 && memcmp(k, "pei", 3) == 0)
		return P_PEI;
	if (n == 4 && memcmp(k, "supi", 4) == 0)
		return P_SUPI;
	if (n == 4 && memcmp(k, "gpsi", 4) == 0)
		return P_GPSI;
	return P_OTHER;
}

static const char *const param_names[] = { "query pei", "query supi", "query gpsi" };

void n5g_parse_query(const char *query, size_t len, struct n5g_query *q)
{
	memset(q, 0, sizeof *q);
	bool bad[3] = { false, false, false };
	size_t i = 0;
	while (query && i < len) {
		const char *pair = query + i;
		const char *amp = memchr(pair, '&', len - i);
		size_t plen = amp ? (size_t)(amp - pair) : len - i;
		i += plen + 1;
		if (plen == 0)
			continue;
		const char *eq = memchr(pair, '=', plen);
		size_t klen = eq ? (size_t)(eq - pair) : plen;
		const char *val = eq ? eq + 1 : pair + plen;
		size_t vlen = eq ? plen - klen - 1 : 0;
		/* Names are compared decoded; the three we know are short. */
		char key[8];
		int which = P_OTHER;
		if (klen <= 3 * sizeof key) {
			char kbuf[3 * sizeof key];
			long kn = n5g_pct_decode(pair, klen, kbuf);
			if (kn > 0 && (size_t)kn <= sizeof key) {
				memcpy(key, kbuf, (size_t)kn);
				which = param_of(key, (size_t)kn);
			}
		}
		if (which == P_OTHER)
			continue; /* unknown query parameters are ignored */
		if (bad[which])
			continue;
		char *dst = which == P_PEI ? q->pei : which == P_SUPI ? q->supi : q->gpsi;
		bool *has = which == P_PEI ? &q->has_pei : which == P_SUPI ? &q->has_supi : &q->has_gpsi;
		if (*has) {
			add_invalid(q, param_names[which], "given more than once");
			bad[which] = true;
			continue;
		}
		*has = true;
		if (vlen > 3 * N5G_VALUE_MAX) {
			add_invalid(q, param_names[which], "too long");
			bad[which] = true;
			continue;
		}
		char tmp[3 * N5G_VALUE_MAX];
		long n = n5g_pct_decode(val, vlen, tmp);
		if (n < 0) {
			add_invalid(q, param_names[which], "bad percent-encoding (or an encoded NUL byte)");
			bad[which] = true;
			continue;
		}
		if ((size_t)n > N5G_VALUE_MAX) {
			add_invalid(q, param_names[which], "too long");
			bad[which] = true;
			continue;
		}
		memcpy(dst, tmp, (size_t)n);
		dst[n] = 0;
		const char *why = which == P_PEI    ? n5g_pei_problem(dst, (size_t)n)
		                  : which == P_SUPI ? n5g_supi_problem(dst, (size_t)n)
		                                    : n5g_gpsi_problem(dst, (size_t)n);
		if (why) {
			add_invalid(q, param_names[which], why);
			bad[which] = true;
		}
	}
	if (!q->has_pei) {
		add_invalid(q, param_names[P_PEI], "missing: the PEI is mandatory");
		q->mandatory_missing = true;
	} else if (bad[P_PEI]) {
		q->mandatory_incorrect = true;
	}
	if (q->ninvalid)
		return;
	q->not_equipment = strncmp(q->pei, "mac", 3) == 0 || strncmp(q->pei, "eui", 3) == 0;
	if (q->has_supi && strncmp(q->supi, "imsi-", 5) == 0)
		snprintf(q->imsi, sizeof q->imsi, "%s", q->supi + 5);
	if (q->has_gpsi && strncmp(q->gpsi, "msisdn-", 7) == 0)
		snprintf(q->msisdn, sizeof q->msisdn, "%s", q->gpsi + 7);
}

/* ---- bodies ----------------------------------------------------------------------- */

void n5g_status_body(struct ebuf *b, const char *status)
{
	ebuf_str(b, "{\"status\":\"");
	ebuf_str(b, status);
	ebuf_str(b, "\"}");
}

void n5g_problem_body(struct ebuf *b, int http_status, const char *title, const char *detail, const char *cause,
                      const struct n5g_invalid *inv, size_t n)
{
	ebuf_str(b, "{\"title\":");
	ebuf_json_str(b, title, strlen(title));
	ebuf_printf(b, ",\"status\":%d", http_status);
	if (detail) {
		ebuf_str(b, ",\"detail\":");
		ebuf_json_str(b, detail, strlen(detail));
	}
	if (cause) {
		ebuf_str(b, ",\"cause\":");
		ebuf_json_str(b, cause, strlen(cause));
	}
	if (n) {
		ebuf_str(b, ",\"invalidParams\":[");
		for (size_t i = 0; i < n; i++) {
			ebuf_str(b, i ? ",{\"param\":" : "{\"param\":");
			ebuf_json_str(b, inv[i].param, strlen(inv[i].param));
			ebuf_str(b, ",\"reason\":");
			ebuf_json_str(b, inv[i].reason, strlen(inv[i].reason));
			ebuf_str(b, "}");
		}
		ebuf_str(b, "]");
	}
	ebuf_str(b, "}");
}
