/*
 * sightings_redis_conn.h — pipelined Redis exchanges for the Redis sightings backend, standalone or
 * Redis Cluster, over TCP, a Unix socket or TLS. hiredis formats the commands and parses
 * the replies (RESP); this file only moves bytes with deadlines, because Debian 12's
 * hiredis (0.14) has neither TLS nor cluster support:
 *   - TLS through OpenSSL on the same socket (rediss://), with CA, client certificate and
 *     server name options; AUTH [user] password (Redis 6 ACL users) and SELECT on connect.
 *   - Cluster: the slot map from CLUSTER SLOTS, the CRC16 hash slot of each key, MOVED
 *     (the slot moved: update the map and resend) and ASK (the slot is migrating: resend
 *     this one command to the target after ASKING), as the Redis Cluster specification
 *     describes them.
 *   - Every exchange has a deadline; a node that fails or times out is closed and not
 *     retried before retry_ms, so calls fail fast while it is down.
 */
#ifndef IMEI_REDIS_CONN_H
#define IMEI_REDIS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#define RC_MAX_SEEDS 16
#define RC_NO_SLOT 0xFFFFu

struct imei_redis_cfg {
	bool tls, cluster;
	char unix_path[108];
	struct {
		char host[256];
		int port;
	} seeds[RC_MAX_SEEDS];
	size_t nseeds;
	char user[128], pass[256];
	int db;
	unsigned timeout_ms, connect_timeout_ms, retry_ms;
	char tls_ca[256], tls_cert[256], tls_key[256], tls_sni[256];
	bool tls_verify;
};

/* One command of an exchange: filled by imei_redis_cmd(); reply set by imei_redis_exchange() (NULL and
 * err set when no reply came: the node could not be reached or did not answer in time). */
struct imei_redis_cmd {
	char *buf;
	size_t len;
	unsigned slot; /* hash slot of its key, RC_NO_SLOT: any node */
	int node;      /* resolved by imei_redis_exchange */
	bool asking;
	redisReply *reply;
	char err[200];
};

struct rc;

/* NULL with msg filled (errlen bytes) when TLS cannot be set up. Connects lazily. */
struct rc *imei_redis_new(const struct imei_redis_cfg *cfg, char *msg, size_t msglen);
void imei_redis_free(struct rc *rc);
/* Format argv into c (slot from the hash tag of key when key != NULL). -1: out of memory. */
int imei_redis_cmd(struct imei_redis_cmd *c, const char *key, int argc, const char **argv, const size_t *lens);
void imei_redis_cmd_clear(struct imei_redis_cmd *c);
unsigned imei_redis_slot(const char *key, size_t len);
/* Send cmds (in order per node) and read their replies within timeout_ms, following
 * MOVED/ASK redirects. Returns the number of commands without a reply (0: all answered;
 * a reply may still be a Redis error). */
size_t imei_redis_exchange(struct rc *rc, struct imei_redis_cmd *cmds, size_t n);
/* Nodes holding slots (masters): for SCAN and DBSIZE. */
size_t imei_redis_nodes(struct rc *rc, int *nodes, size_t max, char *msg, size_t msglen);
/* counters */
struct imei_redis_counters {
	uint64_t redirects, reconnects, failures;
};
void imei_redis_counters(const struct rc *rc, struct imei_redis_counters *out);
/* A description of the first node ("127.0.0.1:6379", "/path", "cluster of 3") */
const char *imei_redis_name(const struct rc *rc);

#endif
