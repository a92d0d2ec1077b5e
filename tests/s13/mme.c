/*
 * mme.c — the test MME for S13: a freeDiameter client (libfdcore) that connects to an EIR
 * over TCP, exchanges capabilities (advertising S13, application 16777252) and sends
 * ME-Identity-Check-Requests (TS 29.272 §7.2.19), reading commands on stdin and printing
 * one line per command on stdout, so tests/s13/run can drive it and check every answer.
 *
 *   s13_mme --identity mme.localdomain --eir eir.localdomain@127.0.0.1:PORT [--realm R]
 *           [--eir-realm R] [--tc SEC] [--threads N] [--verbose]
 * Commands:
 *   wait-open SEC | wait-closed SEC   until the EIR peer is (not) OPEN: "open"/"closed"/"timeout"
 *   ecr [imei=D] [sv=D] [meid=HEX14] [meidtext=S] [user=IMSI] [noterm] [ass=N] [novsai]
 *       one request; prints "ans rc=… exp=… es=… sid=ok ass=… oh=… or=… vsai=… failed=… em=…"
 *   load N INFLIGHT FILE [SECONDS]   N requests (IMEIs from FILE, one a line, in turn) with
 *       at most INFLIGHT outstanding; prints the counts by result, lost, rate, latency
 *   peer-apps                        what the EIR advertised in its CEA: "apps 16777252/10415 auth"
 *   quit
 * Every wait is bounded: an answer within 10 s (load) or 5 s (ecr), else it counts as lost.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <netdb.h>

#include "s13_dict.h"
#include "s13_ident.h"

struct mme {
	const char *identity, *realm, *eir_id, *eir_realm, *eir_host;
	unsigned eir_port, tc, threads;
	bool verbose;
	struct s13_dict d;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fd_logger(int level, const char *fmt, va_list ap)
{
	if (level < fd_g_debug_lvl)
		return;
	char line[1024];
	vsnprintf(line, sizeof line, fmt, ap);
	fprintf(stderr, "s13_mme: diameter: %s\n", line);
}

/* ---- the EIR peer's state ---------------------------------------------------------------- */

static int peer_state(struct mme *m)
{
	struct peer_hdr *p = NULL;
	if (fd_peer_getbyid((DiamId_t)m->eir_id, strlen(m->eir_id), 1, &p) != 0 || !p)
		return -1;
	return fd_peer_get_state(p);
}

static void wait_state(struct mme *m, bool open, double seconds)
{
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
	while (now_ns() < end) {
		bool is_open = peer_state(m) == STATE_OPEN;
		if (is_open == open) {
			printf("%s\n", open ? "open" : "closed");
			return;
		}
		usleep(20000);
	}
	printf("timeout\n");
}

/* The applications the EIR advertised in its CEA: "apps AUTH-ID/VENDOR[ acct] ...". */
static void peer_apps(struct mme *m)
{
	struct peer_hdr *p = NULL;
	if (fd_peer_getbyid((DiamId_t)m->eir_id, strlen(m->eir_id), 1, &p) != 0 || !p) {
		printf("apps none\n");
		return;
	}
	char line[1024] = "apps";
	size_t u = 4;
	for (struct fd_list *li = p->info.runtime.pir_apps.next; li != &p->info.runtime.pir_apps && u + 40 < sizeof line;
	     li = li->next) {
		const struct fd_app *a = (const struct fd_app *)li;
		u += (size_t)snprintf(line + u, sizeof line - u, " %u/%u%s%s", a->appid, a->vndid, a->flags.auth ? " auth" : "",
		                      a->flags.acct ? " acct" : "");
	}
	printf("%s\n", line);
}

/* ---- building a request ------------------------------------------------------------------ */

struct ecr_opts {
	const char *imei, *sv, *meid, *meidtext, *user;
	bool noterm, novsai;
	int ass;
};

static int new_ecr(struct mme *m, const struct ecr_opts *o, struct msg **out)
{
	struct s13_dict *d = &m->d;
	struct msg *req = NULL;
	struct avp *g = NULL;
	int rc = fd_msg_new(d->ecr, MSGFL_ALLOC_ETEID, &req);
	if (rc)
		return rc;
	if ((rc = fd_msg_new_session(req, (os0_t) "mme", 3)))
		goto fail;
	if (!o->novsai) {
		if ((rc = fd_msg_avp_new(d->vsai, 0, &g)))
			goto fail;
		if ((rc = s13_add_u32(g, d->vendor_id, S13_VENDOR_3GPP)) ||
		    (rc = s13_add_u32(g, d->auth_application_id, S13_APP_ID)) ||
		    (rc = fd_msg_avp_add(req, MSG_BRW_LAST_CHILD, g))) {
			fd_msg_free(g);
			goto fail;
		}
	}
	if ((rc = s13_add_i32(req, d->auth_session_state, o->ass)) || (rc = fd_msg_add_origin(req, 0)) ||
	    (rc = s13_add_os(req, d->destination_realm, m->eir_realm, strlen(m->eir_realm))))
		goto fail;
	if (!o->noterm) {
		if ((rc = fd_msg_avp_new(d->terminal_information, 0, &g)))
			goto fail;
		uint8_t meid[8];
		if (o->meid && strlen(o->meid) == 14)
			s13_meid_encode(o->meid, meid);
		if ((o->imei && (rc = s13_add_os(g, d->imei, o->imei, strlen(o->imei)))) ||
		    (o->meid && (rc = s13_add_os(g, d->meid, meid, strlen(o->meid) == 14 ? 8 : 3))) ||
		    (o->meidtext && (rc = s13_add_os(g, d->meid, o->meidtext, strlen(o->meidtext)))) ||
		    (o->sv && (rc = s13_add_os(g, d->software_version, o->sv, strlen(o->sv)))) ||
		    (rc = fd_msg_avp_add(req, MSG_BRW_LAST_CHILD, g))) {
			fd_msg_free(g);
			goto fail;
		}
	}
	if (o->user && (rc = s13_add_os(req, d->user_name, o->user, strlen(o->user))))
		goto fail;
	*out = req;
	return 0;
fail:
	fd_msg_free(req);
	return rc;
}

/* ---- one request, its answer described ---------------------------------------------------- */

struct one {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	char sid[256];
	char line[2048];
	uint64_t t0;
};

static void put_os(char *buf, size_t len, size_t *used, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n && *used + 5 < len; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
			buf[(*used)++] = (char)p[i];
		else
			*used += (size_t)snprintf(buf + *used, len - *used, "\\x%02x", p[i]);
	}
	buf[*used] = 0;
}

static void describe(struct one *o, struct msg *ans)
{
	char rc[16] = "-", exp[32] = "-", es[16] = "-", ass[16] = "-", vsai[48] = "-", sid[16] = "none";
	char oh[300] = "-", orl[300] = "-", failed[600] = "-", em[300] = "-";
	struct msg_hdr *mh = NULL;
	fd_msg_hdr(ans, &mh);
	struct avp *a = NULL;
	fd_msg_browse(ans, MSG_BRW_FIRST_CHILD, &a, NULL);
	for (; a; fd_msg_browse(a, MSG_BRW_NEXT, &a, NULL) == 0 ? (void)0 : (void)(a = NULL)) {
		struct avp_hdr *h = NULL;
		if (fd_msg_avp_hdr(a, &h) || !h)
			continue;
		uint32_t vendor = (h->avp_flags & AVP_FLAG_VENDOR) ? h->avp_vendor : 0;
		const union avp_value *v = h->avp_value;
		size_t u;
		if (vendor == S13_VENDOR_3GPP && h->avp_code == S13_AVP_EQUIPMENT_STATUS && v) {
			snprintf(es, sizeof es, "%d", v->i32);
			continue;
		}
		if (vendor)
			continue;
		struct avp *c = NULL;
		switch (h->avp_code) {
		case 263: /* Session-Id */
			snprintf(sid, sizeof sid, "%s",
			         v && v->os.len == strlen(o->sid) && memcmp(v->os.data, o->sid, v->os.len) == 0 ? "ok"
			                                                                                   : "mismatch");
			break;
		case 268: snprintf(rc, sizeof rc, "%u", v ? v->u32 : 0); break;
		case 277: snprintf(ass, sizeof ass, "%d", v ? v->i32 : -1); break;
		case 264: u = 0; if (v) put_os(oh, sizeof oh, &u, v->os.data, v->os.len); break;
		case 296: u = 0; if (v) put_os(orl, sizeof orl, &u, v->os.data, v->os.len); break;
		case 281: u = 0; if (v) put_os(em, sizeof em, &u, v->os.data, v->os.len); break;
		case 297: /* Experimental-Result { Vendor-Id, Experimental-Result-Code } */
		case 260: { /* Vendor-Specific-Application-Id { Vendor-Id, Auth-Application-Id } */
			uint32_t vid = 0, code = 0;
			fd_msg_browse(a, MSG_BRW_FIRST_CHILD, &c, NULL);
			for (; c; fd_msg_browse(c, MSG_BRW_NEXT, &c, NULL) == 0 ? (void)0 : (void)(c = NULL)) {
				struct avp_hdr *ch = NULL;
				if (fd_msg_avp_hdr(c, &ch) || !ch || !ch->avp_value)
					continue;
				if (ch->avp_code == 266)
					vid = ch->avp_value->u32;
				else if (ch->avp_code == 298 || ch->avp_code == 258)
					code = ch->avp_value->u32;
			}
			snprintf(h->avp_code == 297 ? exp : vsai, 32, "%u/%u", vid, code);
			break;
		}
		case 279: { /* Failed-AVP: the first AVP inside, CODE[/VENDOR]:VALUE or CODE:{} */
			fd_msg_browse(a, MSG_BRW_FIRST_CHILD, &c, NULL);
			struct avp_hdr *ch = NULL;
			if (c && fd_msg_avp_hdr(c, &ch) == 0 && ch) {
				u = (size_t)snprintf(failed, sizeof failed, "%u:", ch->avp_code);
				if (ch->avp_value)
					put_os(failed, sizeof failed, &u, ch->avp_value->os.data, ch->avp_value->os.len);
				else
					snprintf(failed + u, sizeof failed - u, "{}");
			} else {
				snprintf(failed, sizeof failed, "empty");
			}
			break;
		}
		default: break;
		}
	}
	snprintf(o->line, sizeof o->line, "ans cmd=%u%s rc=%s exp=%s es=%s sid=%s ass=%s oh=%s or=%s vsai=%s failed=%s em=\"%s\"",
	         mh ? mh->msg_code : 0, mh && (mh->msg_flags & CMD_FLAG_ERROR) ? " E" : "", rc, exp, es, sid, ass, oh,
	         orl, vsai, failed, em);
}

static void one_answer(void *data, struct msg **msg)
{
	struct one *o = data;
	pthread_mutex_lock(&o->lock);
	describe(o, *msg);
	o->done = true;
	pthread_cond_signal(&o->cond);
	pthread_mutex_unlock(&o->lock);
	fd_msg_free(*msg);
	*msg = NULL;
}

static bool opt_is(const char *tok, const char *key, const char **val)
{
	size_t n = strlen(key);
	if (strncmp(tok, key, n) == 0 && tok[n] == '=') {
		*val = tok + n + 1;
		return true;
	}
	return false;
}

static void cmd_ecr(struct mme *m, char *args)
{
	struct ecr_opts o = { .ass = 1 };
	const char *v;
	for (char *save = NULL, *tok = strtok_r(args, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (opt_is(tok, "imei", &o.imei) || opt_is(tok, "sv", &o.sv) || opt_is(tok, "meid", &o.meid) ||
		    opt_is(tok, "meidtext", &o.meidtext) || opt_is(tok, "user", &o.user))
			continue;
		if (opt_is(tok, "ass", &v))
			o.ass = atoi(v);
		else if (strcmp(tok, "noterm") == 0)
			o.noterm = true;
		else if (strcmp(tok, "novsai") == 0)
			o.novsai = true;
		else {
			printf("error unknown ecr option %s\n", tok);
			return;
		}
	}
	static struct one one; /* one request at a time: main thread only */
	memset(&one, 0, sizeof one);
	pthread_mutex_init(&one.lock, NULL);
	pthread_cond_init(&one.cond, NULL);
	struct msg *req = NULL;
	if (new_ecr(m, &o, &req) != 0) {
		printf("error cannot build the request\n");
		return;
	}
	struct avp *sa = NULL;
	struct avp_hdr *sh = NULL;
	if (fd_msg_search_avp(req, m->d.session_id, &sa) == 0 && sa && fd_msg_avp_hdr(sa, &sh) == 0 && sh->avp_value)
		snprintf(one.sid, sizeof one.sid, "%.*s", (int)sh->avp_value->os.len, (const char *)sh->avp_value->os.data);
	if (fd_msg_send(&req, one_answer, &one) != 0) {
		printf("error send failed\n");
		return;
	}
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&one.lock);
	while (!one.done)
		if (pthread_cond_timedwait(&one.cond, &one.lock, &ts) == ETIMEDOUT)
			break;
	bool done = one.done;
	pthread_mutex_unlock(&one.lock);
	/* on a timeout the answer callback may still come: the struct is static, so it lands there */
	printf("%s\n", done ? one.line : "ans timeout");
}

/* ---- load ----------------------------------------------------------------------------------- */

struct load;
struct lreq {
	struct load *L;
	uint64_t t0;
};

struct load {
	sem_t slots;
	_Atomic uint64_t answered, expired, other, c2001, c5422, errors;
	uint64_t *lat; /* ns, by request */
	_Atomic size_t nlat;
};

static void load_answer(void *data, struct msg **msg)
{
	struct lreq *r = data;
	struct load *L = r->L;
	uint64_t ns = now_ns() - r->t0;
	uint32_t rc = 0;
	struct avp *a = NULL;
	struct avp_hdr *h = NULL;
	/* Result-Code or Experimental-Result-Code, whichever is there */
	fd_msg_browse(*msg, MSG_BRW_FIRST_CHILD, &a, NULL);
	for (; a; fd_msg_browse(a, MSG_BRW_NEXT, &a, NULL) == 0 ? (void)0 : (void)(a = NULL)) {
		if (fd_msg_avp_hdr(a, &h) || !h || (h->avp_flags & AVP_FLAG_VENDOR))
			continue;
		if (h->avp_code == 268 && h->avp_value)
			rc = h->avp_value->u32;
		if (h->avp_code == 297) {
			struct avp *c = NULL;
			fd_msg_browse(a, MSG_BRW_FIRST_CHILD, &c, NULL);
			for (; c; fd_msg_browse(c, MSG_BRW_NEXT, &c, NULL) == 0 ? (void)0 : (void)(c = NULL)) {
				struct avp_hdr *ch = NULL;
				if (fd_msg_avp_hdr(c, &ch) == 0 && ch && ch->avp_code == 298 && ch->avp_value)
					rc = ch->avp_value->u32;
			}
		}
	}
	if (rc == 2001)
		atomic_fetch_add(&L->c2001, 1);
	else if (rc == 5422)
		atomic_fetch_add(&L->c5422, 1);
	else
		atomic_fetch_add(&L->other, 1);
	size_t i = atomic_fetch_add(&L->nlat, 1);
	L->lat[i] = ns;
	atomic_fetch_add(&L->answered, 1);
	fd_msg_free(*msg);
	*msg = NULL;
	sem_post(&L->slots);
}

static void load_expired(void *data, DiamId_t sentto, size_t len, struct msg **req)
{
	(void)sentto;
	(void)len;
	struct lreq *r = data;
	atomic_fetch_add(&r->L->expired, 1);
	fd_msg_free(*req);
	*req = NULL;
	sem_post(&r->L->slots);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void cmd_load(struct mme *m, char *args)
{
	char file[1024] = "";
	unsigned long n = 0, inflight = 0;
	double limit = 120;
	if (sscanf(args, "%lu %lu %1023s %lf", &n, &inflight, file, &limit) < 3 || n == 0 || inflight == 0 ||
	    n > 50000000) {
		printf("error load N INFLIGHT FILE [SECONDS]\n");
		return;
	}
	FILE *f = fopen(file, "r");
	if (!f) {
		printf("error cannot open %s\n", file);
		return;
	}
	size_t cap = 1024, nimei = 0;
	char(*imeis)[20] = malloc(cap * sizeof *imeis);
	char line[128];
	bool oom = imeis == NULL;
	while (!oom && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n \t")] = 0;
		if (!line[0] || strlen(line) > 16)
			continue;
		if (nimei == cap) {
			char(*p)[20] = realloc(imeis, 2 * cap * sizeof *imeis);
			if (!p) {
				oom = true;
				break;
			}
			imeis = p;
			cap *= 2;
		}
		size_t len = strlen(line); /* at most 16 */
		memcpy(imeis[nimei], line, len + 1);
		nimei++;
	}
	if (oom) {
		free(imeis);
		imeis = NULL;
	}
	fclose(f);
	struct load *L = calloc(1, sizeof *L);
	struct lreq *reqs = calloc(n, sizeof *reqs);
	if (!imeis || nimei == 0 || !L || !reqs || !(L->lat = calloc(n, sizeof *L->lat))) {
		printf("error no IMEIs in %s or out of memory\n", file);
		free(imeis);
		if (L)
			free(L->lat);
		free(L);
		free(reqs);
		return;
	}
	sem_init(&L->slots, 0, (unsigned)inflight);
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)(limit * 1e9);
	unsigned long sent = 0, send_errors = 0;
	for (; sent < n && now_ns() < deadline; sent++) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 10;
		if (sem_timedwait(&L->slots, &ts) != 0)
			break; /* nothing came back for 10 s */
		const char *imei = imeis[sent % nimei];
		struct ecr_opts o = { .ass = 1 };
		char imei14[15];
		if (strlen(imei) == 16) { /* an IMEISV: IMEI (14) + Software-Version */
			snprintf(imei14, sizeof imei14, "%.14s", imei);
			o.imei = imei14;
			o.sv = imei + 14;
		} else {
			o.imei = imei;
		}
		struct msg *req = NULL;
		reqs[sent].L = L;
		if (new_ecr(m, &o, &req) != 0) {
			send_errors++;
			sem_post(&L->slots);
			continue;
		}
		reqs[sent].t0 = now_ns();
		struct timespec timeout; /* absolute (CLOCK_REALTIME): 10 s from now */
		clock_gettime(CLOCK_REALTIME, &timeout);
		timeout.tv_sec += 10;
		if (fd_msg_send_timeout(&req, load_answer, &reqs[sent], load_expired, &timeout) != 0) {
			send_errors++;
			sem_post(&L->slots);
		}
	}
	/* wait for the outstanding ones: each is answered or expires within 10 s */
	for (int i = 0; i < 1200; i++) {
		if (atomic_load(&L->answered) + atomic_load(&L->expired) + send_errors >= sent)
			break;
		usleep(10000);
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	size_t nl = atomic_load(&L->nlat);
	qsort(L->lat, nl, sizeof *L->lat, cmp_u64);
	uint64_t answered = atomic_load(&L->answered);
	uint64_t lost = sent - answered;
	printf("load sent=%lu answered=%llu lost=%llu expired=%llu send_errors=%lu c2001=%llu c5422=%llu other=%llu "
	       "secs=%.3f rate=%.0f p50=%.0f p90=%.0f p99=%.0f max=%.0f\n",
	       sent, (unsigned long long)answered, (unsigned long long)lost,
	       (unsigned long long)atomic_load(&L->expired), send_errors, (unsigned long long)atomic_load(&L->c2001),
	       (unsigned long long)atomic_load(&L->c5422), (unsigned long long)atomic_load(&L->other), secs,
	       (double)answered / secs, nl ? (double)L->lat[nl / 2] / 1e3 : 0,
	       nl ? (double)L->lat[nl * 9 / 10] / 1e3 : 0, nl ? (double)L->lat[nl * 99 / 100] / 1e3 : 0,
	       nl ? (double)L->lat[nl - 1] / 1e3 : 0);
	/* requests still outstanding keep pointers into reqs/L: leak them rather than free under them */
	if (lost == 0 && answered + send_errors == sent) {
		sem_destroy(&L->slots);
		free(L->lat);
		free(L);
		free(reqs);
	}
	free(imeis);
}

/* ---- startup ---------------------------------------------------------------------------------- */

static int start(struct mme *m)
{
	const char *dir = getenv("TMPDIR");
	char tpath[1024];
	snprintf(tpath, sizeof tpath, "%s/s13_mme.conf.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(tpath);
	if (fd < 0) {
		perror("s13_mme: mkstemp");
		return -1;
	}
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return -1;
	}
	/* no server of our own (Port = 0): the MME connects to the EIR, like open5gs's MME */
	fprintf(f,
	        "Identity = \"%s\";\nRealm = \"%s\";\nPort = 0;\nSecPort = 0;\nNo_SCTP;\nNoRelay;\n"
	        "TcTimer = %u;\nAppServThreads = %u;\n"
	        "ConnectPeer = \"%s\" { ConnectTo = \"%s\"; Port = %u; No_TLS; };\n",
	        m->identity, m->realm, m->tc, m->threads, m->eir_id, m->eir_host, m->eir_port);
	fclose(f);
	fd_g_debug_lvl = m->verbose ? FD_LOG_NOTICE : FD_LOG_ERROR;
	fd_log_handler_register(fd_logger);
	char err[512];
	int rc = fd_core_initialize();
	if (rc == 0)
		rc = fd_core_parseconf(tpath);
	unlink(tpath);
	if (rc != 0) {
		fprintf(stderr, "s13_mme: freeDiameter configuration refused (%s)\n", strerror(rc));
		return -1;
	}
	/* our address for CER's Host-IP-Address: loopback, which ListenOn would drop */
	struct addrinfo hints = { .ai_flags = AI_NUMERICHOST }, *ai = NULL;
	if (getaddrinfo("127.0.0.1", NULL, &hints, &ai) == 0) {
		fd_ep_add_merge(&fd_g_config->cnf_endpoints, ai->ai_addr, ai->ai_addrlen, EP_FL_CONF | EP_ACCEPTALL);
		freeaddrinfo(ai);
	}
	if (s13_dict_init(&m->d, err, sizeof err) != 0) {
		fprintf(stderr, "s13_mme: %s\n", err);
		return -1;
	}
	if ((rc = fd_disp_app_support(m->d.app, m->d.vendor, 1, 0)) != 0 || (rc = fd_core_start()) != 0 ||
	    (rc = fd_core_waitstartcomplete()) != 0) {
		fprintf(stderr, "s13_mme: freeDiameter did not start (%s)\n", strerror(rc));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct mme mme;
	struct mme *m = &mme;
	m->identity = "mme.localdomain";
	m->realm = NULL;
	m->eir_realm = NULL;
	m->tc = 1;
	m->threads = 2;
	const char *eir = NULL;
	static const struct option opts[] = {
		{ "identity", required_argument, NULL, 'i' }, { "realm", required_argument, NULL, 'r' },
		{ "eir", required_argument, NULL, 'e' },      { "eir-realm", required_argument, NULL, 'R' },
		{ "tc", required_argument, NULL, 't' },       { "threads", required_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },        { NULL, 0, NULL, 0 },
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': m->identity = optarg; break;
		case 'r': m->realm = optarg; break;
		case 'e': eir = optarg; break;
		case 'R': m->eir_realm = optarg; break;
		case 't': m->tc = (unsigned)atoi(optarg); break;
		case 'n': m->threads = (unsigned)atoi(optarg); break;
		case 'v': m->verbose = true; break;
		default: fprintf(stderr, "usage: s13_mme --eir ID@HOST:PORT [--identity FQDN] ...\n"); return 2;
		}
	}
	static char eid[256], ehost[256];
	const char *at = eir ? strchr(eir, '@') : NULL, *colon = at ? strrchr(at, ':') : NULL;
	if (!at || !colon || (size_t)(at - eir) >= sizeof eid || (size_t)(colon - at - 1) >= sizeof ehost ||
	    m->tc < 1 || m->threads < 1) {
		fprintf(stderr, "usage: s13_mme --eir ID@HOST:PORT [--identity FQDN] ...\n");
		return 2;
	}
	memcpy(eid, eir, (size_t)(at - eir));
	memcpy(ehost, at + 1, (size_t)(colon - at - 1));
	m->eir_id = eid;
	m->eir_host = ehost;
	m->eir_port = (unsigned)atoi(colon + 1);
	if (!m->realm)
		m->realm = strchr(m->identity, '.') ? strchr(m->identity, '.') + 1 : m->identity;
	if (!m->eir_realm)
		m->eir_realm = strchr(m->eir_id, '.') ? strchr(m->eir_id, '.') + 1 : m->eir_id;
	if (start(m) != 0)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	char line[4096];
	while (fgets(line, sizeof line, stdin)) {
		line[strcspn(line, "\r\n")] = 0;
		char *sp = strchr(line, ' ');
		char *args = sp ? sp + 1 : line + strlen(line);
		if (sp)
			*sp = 0;
		if (strcmp(line, "wait-open") == 0)
			wait_state(m, true, atof(args));
		else if (strcmp(line, "wait-closed") == 0)
			wait_state(m, false, atof(args));
		else if (strcmp(line, "peer-apps") == 0)
			peer_apps(m);
		else if (strcmp(line, "ecr") == 0)
			cmd_ecr(m, args);
		else if (strcmp(line, "load") == 0)
			cmd_load(m, args);
		else if (strcmp(line, "quit") == 0)
			break;
		else if (line[0])
			printf("error unknown command %s\n", line);
	}
	fd_core_shutdown();
	fd_core_wait_shutdown_complete();
	printf("bye\n");
	return 0;
}
