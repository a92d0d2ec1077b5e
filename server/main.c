/*
 * main.c — imei-eird: the N5g-eir Equipment Identity Check service (3GPP TS 29.511) on
 * the imei engine. The command line only: it fills the protocol-neutral server's
 * configuration (service.h) and the HTTP front end's (http.h), registers the front end
 * and runs the server (service.c: workers, signals, reload, watchdog, shutdown).
 *
 *   imei-eird [--config FILE] --policy P [--tacdb IMAGE] [--lists DIR] [--store S] [--listen HOST:PORT] …
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

#include "eird_config.h"
#include "http.h"
#include "s13.h"

/* Where make install puts the Lua modules (the Makefile passes -DIMEI_LUA_LMOD=…). */
#ifndef IMEI_LUA_LMOD
#define IMEI_LUA_LMOD "/usr/local/share/lua/5.4"
#endif

static void usage(FILE *out)
{
	fputs("usage: imei-eird [--config FILE] --policy FILE [options]\n"
	      "N5g-eir Equipment Identity Check service (3GPP TS 29.511) over HTTP/2 (h2c, prior\n"
	      "knowledge) and HTTP/1.1: GET /n5g-eir-eic/v1/equipment-status?pei=...[&supi=...][&gpsi=...]\n"
	      "  --config FILE          read these options from FILE first (a Lua table: listen = \"...\",\n"
	      "                         workers = 4, record = true, ...); the command line overrides it\n"
	      "  --policy FILE          policy script (required)\n"
	      "  --tacdb IMAGE          compiled TAC image (imei tac compile)\n"
	      "  --lists DIR            folder of CSV lists (reloaded on SIGHUP)\n"
	      "  --store SPEC           sightings store: memory, lmdb:PATH, redis://HOST:PORT[/DB],\n"
	      "                         rediss://…, redis+cluster://H:P,H:P, redis+unix:///PATH\n"
	      "  --record               record each check's sighting in the store\n"
	      "  --listen HOST:PORT     address to listen on (default 127.0.0.1:8080; port 0: any free)\n"
	      "  --workers N            worker threads, one engine each (default: online CPUs)\n"
	      "  --access-log FILE      one line per request; '-' for stdout (default: none)\n"
	      "  --port-file FILE       write the bound port here once listening\n"
	      "  --max-connections N    open connections over all workers (default 10000)\n"
	      "  --max-per-client N     open connections from one client address (default 1000)\n"
	      "  --idle-timeout SEC     close connections idle this long (default 60)\n"
	      "  --header-timeout SEC   a request (HTTP/1.1) or stream (HTTP/2) must be complete within\n"
	      "                         this (default 10; else 408 or RST_STREAM)\n"
	      "  --grace SEC            graceful stop: longest wait for requests in flight (default 10);\n"
	      "                         the process ends then even if a worker is stuck\n"
	      "  --watchdog SEC         a check still running after SEC (the engine's own deadline\n"
	      "                         failed) is answered on_error, its worker replaced (default 2)\n"
	      "  --reload-timeout SEC   a SIGHUP reload running longer is refused (default 10)\n"
	      "  --max-output BYTES     answers buffered per connection before reading pauses (default 65536)\n"
	      "  --h2-max-streams N     HTTP/2 concurrent streams per connection (default 100)\n"
	      "  --h2-header-table BYTES HTTP/2 HPACK dynamic table size (default 4096)\n"
	      "  --h2-memory BYTES      HTTP/2 memory per connection; over it, GOAWAY (default 1 MiB)\n"
	      "  --h2-memory-total BYTES HTTP/2 memory over all connections (default 256 MiB)\n"
	      "  --max-target BYTES     longest request target (default 8192; longer: 414)\n"
	      "  --max-headers BYTES    header fields of one request (default 16384; more: 431)\n"
	      "  --max-body BYTES       request body (default 16384; more: 413)\n"
	      "  --instructions N       policy instruction budget per check (default 1000000)\n"
	      "  --memory BYTES         memory cap of each policy sandbox (default 64 MiB)\n"
	      "  --lua-path PATH        package.path for the policy runtime (default: $LUA_PATH, else the\n"
	      "                         one installed beside this program or where make install put it)\n"
	      "  --tacdb-temporary      unlink the TAC image once mapped (imei serve's compiled copy)\n"
	      "  --policy-error 500|verdict  the policy failed as a whole: 500 ProblemDetails (default), or\n"
	      "                         the engine's on_error verdict as a 200\n"
	      "  --max-queue N          equipment checks a worker takes per event-loop pass; more get\n"
	      "                         503 with Retry-After: 1 (default 1024)\n"
	      "  --metrics-listen HOST:PORT  serve /metrics (and /health) on this address only\n"
	      "  --metrics-port-file FILE    write the metrics listener's port here once listening\n"
	      "  --admin-listen HOST:PORT    serve GET /explain?pei=...&imsi=... (why a verdict, JSON;\n"
	      "                         docs/explain.md) and /health on this address only; keep it private\n"
	      "  --admin-port-file FILE      write the admin listener's port here once listening\n"
	      "  --quiet                no startup and reload lines on stderr\n"
	      "  --version              print the version and exit\n"
	      "Signals: SIGHUP reloads lists, TAC image and policy; SIGTERM/SIGINT stop gracefully;\n"
	      "SIGUSR1 reopens the access log. Endpoints: /n5g-eir-eic/v1/equipment-status, /health,\n"
	      "/metrics (Prometheus text format).\n",
	      out);
	fputs(eird_s13_usage, out);
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
static bool parse_listen(const char *s, struct eird_http_config *cfg)
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

/* A second address (--metrics-listen, --admin-listen) into host[256] and port[16]. */
static bool parse_listen_to(const char *s, char host[256], char port[16])
{
	struct eird_http_config a;
	if (!parse_listen(s, &a))
		return false;
	memcpy(host, a.host, sizeof a.host);
	memcpy(port, a.port, sizeof a.port);
	return true;
}

enum {
	O_POLICY = 256, O_TACDB, O_LISTS, O_STORE, O_RECORD, O_LISTEN, O_WORKERS, O_ACCESS_LOG, O_PORT_FILE,
	O_MAX_CONN, O_MAX_PER_CLIENT, O_IDLE, O_HEADER_TIMEOUT, O_GRACE, O_WATCHDOG, O_RELOAD_TIMEOUT,
	O_MAX_TARGET, O_MAX_HEADERS, O_MAX_BODY, O_MAX_OUTPUT, O_H2_STREAMS, O_H2_TABLE, O_H2_MEMORY, O_H2_MEMORY_TOTAL, O_INSTR,
	O_MEMORY, O_LUA_PATH, O_TACDB_TMP, O_QUIET, O_HELP, O_CONFIG, O_VERSION,
	O_POLICY_ERROR, O_MAX_QUEUE, O_METRICS_LISTEN, O_METRICS_PORT_FILE, O_ADMIN_LISTEN, O_ADMIN_PORT_FILE
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
	{ "max-per-client", required_argument, NULL, O_MAX_PER_CLIENT },
	{ "idle-timeout", required_argument, NULL, O_IDLE },
	{ "header-timeout", required_argument, NULL, O_HEADER_TIMEOUT },
	{ "grace", required_argument, NULL, O_GRACE },
	{ "watchdog", required_argument, NULL, O_WATCHDOG },
	{ "reload-timeout", required_argument, NULL, O_RELOAD_TIMEOUT },
	{ "max-target", required_argument, NULL, O_MAX_TARGET },
	{ "max-headers", required_argument, NULL, O_MAX_HEADERS },
	{ "max-body", required_argument, NULL, O_MAX_BODY },
	{ "max-output", required_argument, NULL, O_MAX_OUTPUT },
	{ "h2-max-streams", required_argument, NULL, O_H2_STREAMS },
	{ "h2-header-table", required_argument, NULL, O_H2_TABLE },
	{ "h2-memory", required_argument, NULL, O_H2_MEMORY },
	{ "h2-memory-total", required_argument, NULL, O_H2_MEMORY_TOTAL },
	{ "instructions", required_argument, NULL, O_INSTR },
	{ "memory", required_argument, NULL, O_MEMORY },
	{ "lua-path", required_argument, NULL, O_LUA_PATH },
	{ "tacdb-temporary", no_argument, NULL, O_TACDB_TMP },
	{ "quiet", no_argument, NULL, O_QUIET },
	{ "help", no_argument, NULL, O_HELP },
	{ "config", required_argument, NULL, O_CONFIG },
	{ "policy-error", required_argument, NULL, O_POLICY_ERROR },
	{ "max-queue", required_argument, NULL, O_MAX_QUEUE },
	{ "metrics-listen", required_argument, NULL, O_METRICS_LISTEN },
	{ "metrics-port-file", required_argument, NULL, O_METRICS_PORT_FILE },
	{ "admin-listen", required_argument, NULL, O_ADMIN_LISTEN },
	{ "admin-port-file", required_argument, NULL, O_ADMIN_PORT_FILE },
	{ "version", no_argument, NULL, O_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* Our options and the S13 ones (s13.h) in one table, built once; NULL when out of memory. */
static const struct option *all_options(void)
{
	static struct option *all;
	if (!all) {
		size_t nmain = sizeof long_options / sizeof long_options[0] - 1, ns13 = eird_s13_noptions();
		all = calloc(nmain + ns13 + 1, sizeof *all);
		if (all) {
			memcpy(all, long_options, nmain * sizeof *all);
			memcpy(all + nmain, eird_s13_long_options, ns13 * sizeof *all);
		}
	}
	return all;
}

/* One option (from the command line or the config file) into the configurations: false for
 * a bad value. */
static bool set_option(struct eird_config *cfg, struct eird_http_config *hc, struct eird_s13_config *sc, int opt,
                       const char *arg)
{
	size_t n;
	bool ok = true;
	if (opt >= EIRD_S13_OPT_BASE) { /* S13 (s13.h) says what is wrong itself */
		char why[300];
		if (!eird_s13_option(sc, opt, arg, why, sizeof why)) {
			fprintf(stderr, "imei-eird: %s\n", why);
			return false;
		}
		return true;
	}
	switch (opt) {
	case O_POLICY: cfg->policy = arg; break;
	case O_TACDB: cfg->tacdb = arg; break;
	case O_LISTS: cfg->lists = arg; break;
	case O_STORE: cfg->store = arg; break;
	case O_RECORD: cfg->record = true; break;
	case O_LISTEN: ok = parse_listen(arg, hc); break;
	case O_WORKERS:
		ok = parse_size(arg, &n) && n >= 1 && n <= 256;
		cfg->workers = (unsigned)n;
		break;
	case O_ACCESS_LOG: cfg->access_log = arg; break;
	case O_PORT_FILE: hc->port_file = arg; break;
	case O_MAX_CONN:
		ok = parse_size(arg, &n) && n >= 1 && n <= 1000000;
		cfg->max_connections = (unsigned)n;
		break;
	case O_MAX_PER_CLIENT:
		ok = parse_size(arg, &n) && n >= 1 && n <= 1000000;
		cfg->max_per_client = (unsigned)n;
		break;
	case O_IDLE: ok = parse_seconds(arg, &hc->idle_timeout); break;
	case O_HEADER_TIMEOUT: ok = parse_seconds(arg, &hc->header_timeout); break;
	case O_GRACE: ok = parse_seconds(arg, &cfg->grace); break;
	case O_WATCHDOG: ok = parse_seconds(arg, &cfg->watchdog); break;
	case O_RELOAD_TIMEOUT: ok = parse_seconds(arg, &cfg->reload_timeout); break;
	case O_MAX_TARGET: ok = parse_size(arg, &hc->max_target) && hc->max_target >= 64; break;
	case O_MAX_HEADERS: ok = parse_size(arg, &hc->max_header_bytes) && hc->max_header_bytes >= 256; break;
	case O_MAX_BODY: ok = parse_size(arg, &hc->max_body); break;
	case O_MAX_OUTPUT: ok = parse_size(arg, &hc->max_output) && hc->max_output >= 4096; break;
	case O_H2_STREAMS:
		ok = parse_size(arg, &n) && n >= 1 && n <= 10000;
		hc->h2_max_streams = (unsigned)n;
		break;
	case O_H2_TABLE: ok = parse_size(arg, &hc->h2_header_table) && hc->h2_header_table <= 65536; break;
	case O_H2_MEMORY: ok = parse_size(arg, &hc->h2_memory) && hc->h2_memory >= 65536; break;
	case O_H2_MEMORY_TOTAL:
		ok = parse_size(arg, &hc->h2_memory_total) && hc->h2_memory_total >= 65536;
		break;
	case O_INSTR:
		ok = parse_size(arg, &n) && n >= 1000;
		cfg->limits.check_budget = (long long)n;
		break;
	case O_MEMORY: ok = parse_size(arg, &cfg->limits.memory) && cfg->limits.memory >= (1u << 20); break;
	case O_LUA_PATH: cfg->lua_path = arg; break;
	case O_TACDB_TMP: cfg->tacdb_temporary = true; break;
	case O_QUIET: cfg->quiet = true; break;
	case O_POLICY_ERROR:
		ok = strcmp(arg, "500") == 0 || strcmp(arg, "verdict") == 0;
		hc->policy_error_500 = arg[0] == '5';
		break;
	case O_MAX_QUEUE:
		ok = parse_size(arg, &n) && n >= 1 && n <= 1000000;
		hc->max_queue = (unsigned)n;
		break;
	case O_METRICS_LISTEN: ok = parse_listen_to(arg, hc->metrics_host, hc->metrics_port); break;
	case O_METRICS_PORT_FILE: hc->metrics_port_file = arg; break;
	case O_ADMIN_LISTEN: ok = parse_listen_to(arg, hc->admin_host, hc->admin_port); break;
	case O_ADMIN_PORT_FILE: hc->admin_port_file = arg; break;
	default: ok = false;
	}
	return ok;
}

/* The options of the config file; the file's strings stay in conf until exit. */
static int apply_config_file(const char *path, struct eird_conffile *conf, struct eird_config *cfg,
                             struct eird_http_config *hc, struct eird_s13_config *sc)
{
	char err[1024];
	if (eird_conffile_read(path, conf, err, sizeof err) != 0) {
		fprintf(stderr, "imei-eird: config %s\n", err);
		return -1;
	}
	for (size_t i = 0; i < conf->n; i++) {
		const char *name = conf->names[i], *value = conf->values[i];
		const struct option *o = all_options();
		while (o->name && strcmp(o->name, name) != 0)
			o++;
		if (!o->name || o->val == O_CONFIG || o->val == O_HELP || o->val == O_VERSION) {
			fprintf(stderr, "imei-eird: config %s: unknown option '%s'\n", path, name);
			return -1;
		}
		if (o->has_arg == no_argument) { /* a flag: true sets it, false leaves it off */
			if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
				fprintf(stderr, "imei-eird: config %s: %s is true or false, not '%s'\n", path, name, value);
				return -1;
			}
			if (value[0] == 'f')
				continue;
		}
		if (!set_option(cfg, hc, sc, o->val, value)) {
			fprintf(stderr, "imei-eird: config %s: bad value '%s' for %s\n", path, value, name);
			return -1;
		}
	}
	return 0;
}

static bool readable(const char *path)
{
	return access(path, R_OK) == 0;
}

/* The policy runtime when neither --lua-path nor $LUA_PATH says: installed beside this
 * program (BIN/../share/lua/5.4, as make install and the rock lay it out; or a checkout's
 * lua/ above build/), else where make install was told to put it. NULL: Lua's default. */
static const char *default_lua_path(void)
{
	static char buf[2 * 4096 + 64];
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');
		if (slash) {
			*slash = 0;
			static const char *const rel[] = { "/../share/lua/5.4", "/../lua" /* a checkout's build/ */ };
			for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
				char probe[4300];
				snprintf(probe, sizeof probe, "%s%s/imei/policy/runtime.lua", exe, rel[i]);
				if (readable(probe)) {
					snprintf(buf, sizeof buf, "%s%s/?.lua;%s%s/?/init.lua", exe, rel[i], exe, rel[i]);
					return buf;
				}
			}
		}
	}
	if (readable(IMEI_LUA_LMOD "/imei/policy/runtime.lua"))
		return IMEI_LUA_LMOD "/?.lua;" IMEI_LUA_LMOD "/?/init.lua";
	return NULL;
}

/* 0 ok, 1 help or version printed, -1 error printed. */
static int parse_args(int argc, char **argv, struct eird_config *cfg, struct eird_http_config *hc,
                      struct eird_s13_config *sc, struct eird_conffile *conf)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	*cfg = (struct eird_config){
		.workers = cpus > 0 && cpus < 64 ? (unsigned)cpus : 2,
		.max_connections = 10000,
		.max_per_client = 1000,
		.grace = 10,
		.watchdog = 2,
		.reload_timeout = 10,
	};
	*hc = (struct eird_http_config){
		.idle_timeout = 60,
		.header_timeout = 10,
		.max_target = 8192,
		.max_header_bytes = 16384,
		.max_body = 16384,
		.max_output = 65536,
		.h2_max_streams = 100,
		.h2_header_table = 4096,
		.h2_memory = 1u << 20,
		.policy_error_500 = true,
		.max_queue = 1024,
		.h2_memory_total = 256u << 20,
	};
	snprintf(hc->host, sizeof hc->host, "127.0.0.1");
	snprintf(hc->port, sizeof hc->port, "8080");
	eird_s13_config_init(sc);
	if (!all_options()) {
		fprintf(stderr, "imei-eird: out of memory\n");
		return -1;
	}
	/* The config file first (the last --config given), then the command line over it. */
	const char *config = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config = argv[++i];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			config = argv[i] + 9;
	}
	if (config && apply_config_file(config, conf, cfg, hc, sc) != 0)
		return -1;
	int opt;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", all_options(), NULL)) != -1) {
		if (opt == O_HELP) {
			usage(stdout);
			return 1;
		}
		if (opt == O_VERSION) {
			printf("imei-eird %s\n", imei_version());
			return 1;
		}
		if (opt == O_CONFIG)
			continue; /* read above */
		if (opt == '?' || opt == ':') {
			fprintf(stderr, "imei-eird: unknown option or missing value: %s\n", argv[optind - 1]);
			usage(stderr);
			return -1;
		}
		if (!set_option(cfg, hc, sc, opt, optarg)) {
			fprintf(stderr, "imei-eird: bad value '%s' for %s\n", optarg, argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "imei-eird: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (!cfg->policy) {
		fprintf(stderr, "imei-eird: --policy is required (on the command line or in --config)\n");
		usage(stderr);
		return -1;
	}
	if (!cfg->lua_path)
		cfg->lua_path = getenv("LUA_PATH");
	if (!cfg->lua_path)
		cfg->lua_path = default_lua_path();
	return 0;
}

/* A listener beside the service's, with its settings: /metrics and /health only, or
 * (admin) /explain and /health only. NULL when out of memory. */
static struct eird_frontend *side_listener(const struct eird_http_config *hc, const char *host, const char *port,
                                           const char *port_file, bool admin)
{
	struct eird_http_config c = *hc;
	memcpy(c.host, host, sizeof c.host);
	memcpy(c.port, port, sizeof c.port);
	c.port_file = port_file;
	c.metrics_only = !admin;
	c.admin_only = admin;
	return eird_http_frontend(&c);
}

int main(int argc, char **argv)
{
	static struct eird_server server;
	static struct eird_conffile conf; /* the config file's strings, used until exit */
	struct eird_http_config hc;
	static struct eird_s13_config sc;
	int rc = parse_args(argc, argv, &server.cfg, &hc, &sc, &conf);
	if (rc != 0) {
		eird_conffile_free(&conf);
		return rc > 0 ? 0 : 2;
	}
	/* With --metrics-listen, a second HTTP listener answers /metrics and /health only, and
	 * the service's listener no longer answers /metrics. */
	struct eird_frontend *metrics =
		hc.metrics_port[0] ? side_listener(&hc, hc.metrics_host, hc.metrics_port, hc.metrics_port_file, false) : NULL;
	if (hc.metrics_port[0])
		hc.no_metrics = true;
	/* With --admin-listen, a third HTTP listener answers /explain and /health only; no
	 * other listener answers /explain. */
	struct eird_frontend *admin =
		hc.admin_port[0] ? side_listener(&hc, hc.admin_host, hc.admin_port, hc.admin_port_file, true) : NULL;
	/* S13 first: its listener is up before HTTP writes the port file */
	struct eird_frontend *s13 = eird_s13_enabled(&sc) ? eird_s13_frontend(&sc) : NULL;
	struct eird_frontend *http = eird_http_frontend(&hc);
	if (!http || (eird_s13_enabled(&sc) && (!s13 || eird_add_frontend(&server, s13) != 0)) ||
	    (hc.metrics_port[0] && (!metrics || eird_add_frontend(&server, metrics) != 0)) ||
	    (hc.admin_port[0] && (!admin || eird_add_frontend(&server, admin) != 0)) ||
	    eird_add_frontend(&server, http) != 0) {
		fprintf(stderr, "imei-eird: out of memory\n");
		return 1;
	}
	int status = eird_run(&server);
	eird_http_frontend_free(http);
	eird_http_frontend_free(metrics);
	eird_http_frontend_free(admin);
	eird_s13_frontend_free(s13);
	eird_conffile_free(&conf);
	return status;
}
