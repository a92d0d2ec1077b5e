/*
 * main.c — imei-eird: the N5g-eir Equipment Identity Check service (3GPP TS 29.511) on
 * the imei engine. Startup (options, shared objects, one engine per worker, the listening
 * socket), signals (SIGHUP: reload lists and policy in every engine, no request failing;
 * SIGTERM/SIGINT: graceful stop; SIGUSR1: reopen the access log), and shutdown.
 *
 *   imei-eird --policy P [--tacdb IMAGE] [--lists DIR] [--store S] [--listen HOST:PORT] …
 * See usage() and docs/serve.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "eird.h"
#include "imei_lists.h"

static void usage(FILE *out)
{
	fputs("usage: imei-eird --policy FILE [options]\n"
	      "N5g-eir Equipment Identity Check service (3GPP TS 29.511) over HTTP/2 (h2c, prior\n"
	      "knowledge) and HTTP/1.1: GET /n5g-eir-eic/v1/equipment-status?pei=...[&supi=...][&gpsi=...]\n"
	      "  --policy FILE          policy script (required)\n"
	      "  --tacdb IMAGE          compiled TAC image (imei tac compile)\n"
	      "  --lists DIR            folder of CSV lists (reloaded on SIGHUP)\n"
	      "  --store SPEC           sightings store: memory or lmdb:PATH\n"
	      "  --record               record each check's sighting in the store\n"
	      "  --listen HOST:PORT     address to listen on (default 127.0.0.1:8080; port 0: any free)\n"
	      "  --workers N            worker threads, one engine each (default: online CPUs)\n"
	      "  --access-log FILE      one line per request; '-' for stdout (default: none)\n"
	      "  --port-file FILE       write the bound port here once listening\n"
	      "  --max-connections N    open connections over all workers (default 10000)\n"
	      "  --idle-timeout SEC     close connections idle this long (default 60)\n"
	      "  --grace SEC            graceful stop: longest wait for requests in flight (default 10)\n"
	      "  --max-target BYTES     longest request target (default 8192; longer: 414)\n"
	      "  --max-headers BYTES    header fields of one request (default 16384; more: 431)\n"
	      "  --max-body BYTES       request body (default 16384; more: 413)\n"
	      "  --instructions N       policy instruction budget per check (default 1000000)\n"
	      "  --memory BYTES         memory cap of each policy sandbox (default 64 MiB)\n"
	      "  --lua-path PATH        package.path for the policy runtime (default: $LUA_PATH)\n"
	      "  --tacdb-temporary      unlink the TAC image once mapped (imei serve's compiled copy)\n"
	      "  --quiet                no startup and reload lines on stderr\n"
	      "Signals: SIGHUP reloads lists and policy; SIGTERM/SIGINT stop gracefully;\n"
	      "SIGUSR1 reopens the access log. Endpoints: /n5g-eir-eic/v1/equipment-status, /health,\n"
	      "/metrics (Prometheus text format).\n",
	      out);
	fputs(eird_s13_usage, out);
}

void eird_logf(struct eird_server *srv, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&srv->log_lock);
	fprintf(stderr, "imei-eird: %s\n", line);
	pthread_mutex_unlock(&srv->log_lock);
}

static bool parse_size(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v > (1ull << 40) || s[0] == '-')
		return false;
	*out = (size_t)v;
	return true;
}

static bool parse_seconds(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0 && v < 86400 * 365))
		return false;
	*out = v;
	return true;
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (127.0.0.1). */
static bool parse_listen(const char *s, struct eird_config *cfg)
{
	const char *colon;
	const char *host = s;
	size_t hlen;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return false;
		host = s + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return false;
		hlen = (size_t)(colon - s);
	}
	size_t plen = strlen(colon + 1);
	if (hlen >= sizeof cfg->host || plen == 0 || plen >= sizeof cfg->port)
		return false;
	for (const char *p = colon + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return false;
	if (hlen == 0)
		snprintf(cfg->host, sizeof cfg->host, "127.0.0.1");
	else
		snprintf(cfg->host, sizeof cfg->host, "%.*s", (int)hlen, host);
	snprintf(cfg->port, sizeof cfg->port, "%s", colon + 1);
	return atol(cfg->port) <= 65535;
}

enum {
	O_POLICY = 256, O_TACDB, O_LISTS, O_STORE, O_RECORD, O_LISTEN, O_WORKERS, O_ACCESS_LOG, O_PORT_FILE,
	O_MAX_CONN, O_IDLE, O_GRACE, O_MAX_TARGET, O_MAX_HEADERS, O_MAX_BODY, O_INSTR, O_MEMORY, O_LUA_PATH,
	O_TACDB_TMP, O_QUIET, O_HELP
};

static const struct option long_options[] = {
	{ "policy", required_argument, NULL, O_POLICY },
	{ "tacdb", required_argument, NULL, O_TACDB },
	{ "lists", required_argument, NULL, O_LISTS },
	{ "store", required_argument, NULL, O_STORE },
	{ "record", no_argument, NULL, O_RECORD },
	{ "listen", required_argument, NULL, O_LISTEN },
	{ "workers", required_argument, NULL, O_WORKERS },
	{ "access-log", required_argument, NULL, O_ACCESS_LOG },
	{ "port-file", required_argument, NULL, O_PORT_FILE },
	{ "max-connections", required_argument, NULL, O_MAX_CONN },
	{ "idle-timeout", required_argument, NULL, O_IDLE },
	{ "grace", required_argument, NULL, O_GRACE },
	{ "max-target", required_argument, NULL, O_MAX_TARGET },
	{ "max-headers", required_argument, NULL, O_MAX_HEADERS },
	{ "max-body", required_argument, NULL, O_MAX_BODY },
	{ "instructions", required_argument, NULL, O_INSTR },
	{ "memory", required_argument, NULL, O_MEMORY },
	{ "lua-path", required_argument, NULL, O_LUA_PATH },
	{ "tacdb-temporary", no_argument, NULL, O_TACDB_TMP },
	{ "quiet", no_argument, NULL, O_QUIET },
	{ "help", no_argument, NULL, O_HELP },
	{ NULL, 0, NULL, 0 },
};

/* 0 ok, 1 help printed, -1 error printed. */
static int parse_args(int argc, char **argv, struct eird_config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	*cfg = (struct eird_config){
		.workers = cpus > 0 && cpus < 64 ? (unsigned)cpus : 2,
		.max_connections = 10000,
		.idle_timeout = 60,
		.grace = 10,
		.max_target = 8192,
		.max_header_bytes = 16384,
		.max_body = 16384,
	};
	snprintf(cfg->host, sizeof cfg->host, "127.0.0.1");
	snprintf(cfg->port, sizeof cfg->port, "8080");
	eird_s13_config_init(&cfg->s13);
	/* our options and the S13 ones (s13.h), in one table */
	size_t nmain = sizeof long_options / sizeof long_options[0] - 1, ns13 = eird_s13_noptions();
	struct option *opts = calloc(nmain + ns13 + 1, sizeof *opts);
	if (!opts) {
		fprintf(stderr, "imei-eird: out of memory\n");
		return -1;
	}
	memcpy(opts, long_options, nmain * sizeof *opts);
	memcpy(opts + nmain, eird_s13_long_options, ns13 * sizeof *opts);
	int opt;
	size_t n;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		bool ok = true;
		if (opt >= EIRD_S13_OPT_BASE) {
			char why[300];
			if (!eird_s13_option(&cfg->s13, opt, optarg, why, sizeof why)) {
				fprintf(stderr, "imei-eird: %s\n", why);
				free(opts);
				return -1;
			}
			continue;
		}
		switch (opt) {
		case O_POLICY: cfg->policy = optarg; break;
		case O_TACDB: cfg->tacdb = optarg; break;
		case O_LISTS: cfg->lists = optarg; break;
		case O_STORE: cfg->store = optarg; break;
		case O_RECORD: cfg->record = true; break;
		case O_LISTEN: ok = parse_listen(optarg, cfg); break;
		case O_WORKERS:
			ok = parse_size(optarg, &n) && n >= 1 && n <= 256;
			cfg->workers = (unsigned)n;
			break;
		case O_ACCESS_LOG: cfg->access_log = optarg; break;
		case O_PORT_FILE: cfg->port_file = optarg; break;
		case O_MAX_CONN:
			ok = parse_size(optarg, &n) && n >= 1 && n <= 1000000;
			cfg->max_connections = (unsigned)n;
			break;
		case O_IDLE: ok = parse_seconds(optarg, &cfg->idle_timeout); break;
		case O_GRACE: ok = parse_seconds(optarg, &cfg->grace); break;
		case O_MAX_TARGET: ok = parse_size(optarg, &cfg->max_target) && cfg->max_target >= 64; break;
		case O_MAX_HEADERS: ok = parse_size(optarg, &cfg->max_header_bytes) && cfg->max_header_bytes >= 256; break;
		case O_MAX_BODY: ok = parse_size(optarg, &cfg->max_body); break;
		case O_INSTR:
			ok = parse_size(optarg, &n) && n >= 1000;
			cfg->limits.check_budget = (long long)n;
			break;
		case O_MEMORY: ok = parse_size(optarg, &cfg->limits.memory) && cfg->limits.memory >= (1u << 20); break;
		case O_LUA_PATH: cfg->lua_path = optarg; break;
		case O_TACDB_TMP: cfg->tacdb_temporary = true; break;
		case O_QUIET: cfg->quiet = true; break;
		case O_HELP: usage(stdout); free(opts); return 1;
		default:
			fprintf(stderr, "imei-eird: unknown option or missing value: %s\n", argv[optind - 1]);
			usage(stderr);
			free(opts);
			return -1;
		}
		if (!ok) {
			fprintf(stderr, "imei-eird: bad value '%s' for %s\n", optarg, argv[optind - 1]);
			free(opts);
			return -1;
		}
	}
	free(opts);
	if (optind < argc) {
		fprintf(stderr, "imei-eird: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!cfg->policy) {
		fprintf(stderr, "imei-eird: --policy is required\n");
		usage(stderr);
		return -1;
	}
	if (!cfg->lua_path)
		cfg->lua_path = getenv("LUA_PATH");
	return 0;
}

static int listen_on(struct eird_server *srv, char *bound, size_t blen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	int rv = getaddrinfo(srv->cfg.host, srv->cfg.port, &hints, &res);
	if (rv != 0) {
		eird_logf(srv, "cannot resolve %s: %s", srv->cfg.host, gai_strerror(rv));
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
		eird_logf(srv, "cannot listen on %s:%s: %s", srv->cfg.host, srv->cfg.port, strerror(saved));
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char host[NI_MAXHOST], port[NI_MAXSERV];
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, port, sizeof port,
	                NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
		snprintf(srv->cfg.port, sizeof srv->cfg.port, "%.15s", port);
		snprintf(bound, blen, strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, port);
	} else {
		snprintf(bound, blen, "%s:%s", srv->cfg.host, srv->cfg.port);
	}
	srv->listen_fd = fd;
	return 0;
}

/* Write s to path through a temporary name and a rename. */
static int write_file(const char *path, const char *s)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid()) >= sizeof tmp)
		return -1;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -1;
	bool ok = fputs(s, f) >= 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int open_log(const char *path)
{
	if (strcmp(path, "-") == 0)
		return dup(STDOUT_FILENO);
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/* SIGHUP: new lists into every engine, then a fresh policy in every engine. Checks go on
 * meanwhile: each engine swaps between two checks (imei_engine.h), so no request fails. */
static void reload(struct eird_server *srv)
{
	char err[1024];
	bool ok = true;
	struct imei_lists *fresh = NULL;
	if (srv->cfg.lists) {
		fresh = imei_lists_load_dir(srv->cfg.lists, err, sizeof err);
		if (!fresh) {
			eird_logf(srv, "reload: lists kept: %s", err);
			ok = false;
		}
	}
	for (size_t i = 0; i < srv->nworkers; i++) {
		struct imei_engine *e = srv->workers[i].engine;
		if (fresh && imei_engine_set_lists(e, fresh, err, sizeof err) != 0) {
			eird_logf(srv, "reload: worker %zu: lists kept: %s", i, err);
			ok = false;
		}
		if (imei_engine_reload(e, err, sizeof err) != 0) {
			eird_logf(srv, "reload: worker %zu: policy kept: %s", i, err);
			ok = false;
		}
	}
	if (srv->s13 && eird_s13_reload(srv->s13, fresh) != 0)
		ok = false;
	if (fresh) {
		imei_lists_unref(srv->lists);
		srv->lists = fresh;
	}
	if (ok)
		atomic_fetch_add(&srv->reloads_ok, 1);
	else
		atomic_fetch_add(&srv->reloads_failed, 1);
	if (!srv->cfg.quiet) {
		char name[160];
		eird_policy_name(&srv->workers[0], name, sizeof name);
		eird_logf(srv, "reload %s: policy %s", ok ? "done" : "FAILED (old policy or lists kept)", name);
	}
}

static void reopen_log(struct eird_server *srv)
{
	if (srv->log_fd < 0 || strcmp(srv->cfg.access_log, "-") == 0)
		return;
	int fd = open_log(srv->cfg.access_log);
	if (fd < 0) {
		eird_logf(srv, "cannot reopen the access log %s: %s", srv->cfg.access_log, strerror(errno));
		return;
	}
	dup2(fd, srv->log_fd); /* atomically: workers keep writing to the same descriptor */
	close(fd);
}

int main(int argc, char **argv)
{
	static struct eird_server server;
	struct eird_server *srv = &server;
	int rc = parse_args(argc, argv, &srv->cfg);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	pthread_mutex_init(&srv->log_lock, NULL);
	srv->listen_fd = -1;
	srv->log_fd = -1;
	srv->started = (long long)time(NULL);
	const struct eird_config *cfg = &srv->cfg;
	int status = 1;

	/* Signals are taken by the main thread only (sigwait); workers inherit the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	char err[1024];
	struct imei_engine_paths paths = { .policy = cfg->policy, .tacdb = cfg->tacdb, .lists = cfg->lists,
	                                   .store = cfg->store, .lua_path = cfg->lua_path };
	if (imei_engine_config_open(&srv->ecfg, &paths, err, sizeof err) != 0) {
		eird_logf(srv, "%s", err);
		return 2;
	}
	if (cfg->tacdb && cfg->tacdb_temporary)
		unlink(cfg->tacdb); /* mapped: the file is no longer needed */
	srv->ecfg.limits = cfg->limits;
	srv->ecfg.record = cfg->record;
	srv->lists = srv->ecfg.lists ? imei_lists_ref(srv->ecfg.lists) : NULL;

	srv->nworkers = cfg->workers;
	srv->workers = calloc(srv->nworkers, sizeof *srv->workers);
	if (!srv->workers) {
		eird_logf(srv, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < srv->nworkers; i++) {
		srv->workers[i].engine = imei_engine_new(&srv->ecfg, err, sizeof err);
		if (!srv->workers[i].engine) {
			eird_logf(srv, "%s", err);
			status = 2;
			goto out;
		}
	}
	char bound[300];
	if (listen_on(srv, bound, sizeof bound) != 0) {
		status = 2;
		goto out;
	}
	if (cfg->access_log) {
		srv->log_fd = open_log(cfg->access_log);
		if (srv->log_fd < 0) {
			eird_logf(srv, "cannot open the access log %s: %s", cfg->access_log, strerror(errno));
			status = 2;
			goto out;
		}
	}
	for (size_t i = 0; i < srv->nworkers; i++) {
		if (eird_worker_init(&srv->workers[i], srv, (unsigned)i) != 0) {
			eird_logf(srv, "cannot create the event loop of worker %zu", i);
			goto out;
		}
	}
	if (eird_s13_enabled(&cfg->s13)) {
		/* before the workers start: they read srv->s13 for /metrics */
		srv->s13 = eird_s13_start(srv, &cfg->s13, err, sizeof err);
		if (!srv->s13) {
			eird_logf(srv, "%s", err);
			status = 2;
			goto out;
		}
	}
	for (size_t i = 0; i < srv->nworkers; i++) {
		if (pthread_create(&srv->workers[i].thread, NULL, eird_worker_main, &srv->workers[i]) != 0) {
			eird_logf(srv, "cannot start worker %zu", i);
			atomic_store(&srv->stopping, 1);
			goto join;
		}
		srv->workers[i].started = true;
	}
	if (cfg->port_file) {
		char line[32];
		snprintf(line, sizeof line, "%s\n", cfg->port);
		if (write_file(cfg->port_file, line) != 0)
			eird_logf(srv, "cannot write the port file %s: %s", cfg->port_file, strerror(errno));
	}
	if (!cfg->quiet) {
		char name[160];
		eird_policy_name(&srv->workers[0], name, sizeof name);
		eird_logf(srv, "listening on http://%s (HTTP/1.1 and h2c), %zu workers, policy %s", bound,
		          srv->nworkers, name);
	}

	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&sigs, &si);
		if (sig < 0)
			continue; /* EINTR */
		if (sig == SIGHUP) {
			reload(srv);
			reopen_log(srv);
		} else if (sig == SIGUSR1) {
			reopen_log(srv);
		} else {
			if (!cfg->quiet)
				eird_logf(srv, "%s: stopping (grace %.0f s)", sig == SIGTERM ? "SIGTERM" : "SIGINT", cfg->grace);
			break;
		}
	}
	atomic_store(&srv->stopping, 1);
	status = 0;
join:
	for (size_t i = 0; i < srv->nworkers; i++)
		if (srv->workers[i].started)
			eird_worker_stop(&srv->workers[i]);
	for (size_t i = 0; i < srv->nworkers; i++)
		if (srv->workers[i].started)
			pthread_join(srv->workers[i].thread, NULL);
out:
	/* S13 after the HTTP drain: it answers until then; then DPR to its peers */
	eird_s13_stop(srv->s13);
	srv->s13 = NULL;
	if (srv->workers) {
		for (size_t i = 0; i < srv->nworkers; i++)
			eird_worker_fini(&srv->workers[i]);
		free(srv->workers);
	}
	if (srv->listen_fd >= 0)
		close(srv->listen_fd);
	if (srv->log_fd >= 0)
		close(srv->log_fd);
	if (srv->lists)
		imei_lists_unref(srv->lists);
	imei_engine_config_release(&srv->ecfg);
	if (cfg->port_file && status == 0)
		unlink(cfg->port_file);
	if (!cfg->quiet && status == 0)
		eird_logf(srv, "stopped");
	pthread_mutex_destroy(&srv->log_lock);
	return status;
}
