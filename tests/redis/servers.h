/*
 * servers.h — real redis-server processes for the Redis tests and bench: each on
 * 127.0.0.1 on a free port, in its own temporary directory, started and stopped here
 * (a standalone server, or three masters made a cluster with redis-cli --cluster create).
 */
#ifndef IMEI_TEST_SERVERS_H
#define IMEI_TEST_SERVERS_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

struct rserver {
	pid_t pid;
	int port;
	bool cluster;
	char dir[128];
};

static inline void rs_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static inline bool port_free(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* A free port on 127.0.0.1 (and port + 10000 for a cluster's bus), 0 when none found. */
static inline int rs_free_port(bool cluster)
{
	for (int i = 0; i < 200; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
		socklen_t len = sizeof a;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (fd < 0)
			return 0;
		if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
			close(fd);
			return 0;
		}
		close(fd);
		int port = ntohs(a.sin_port);
		if (port < 55535 && (!cluster || port_free(port + 10000)))
			return port;
	}
	return 0;
}

static inline redisReply *rs_cmd(int port, const char *fmt, ...)
{
	struct timeval tv = { 2, 0 };
	redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
	if (!c || c->err) {
		if (c)
			redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(c, fmt, ap);
	va_end(ap);
	redisFree(c);
	return r;
}

static inline bool rs_ping(int port)
{
	redisReply *r = rs_cmd(port, "PING");
	bool ok = r && r->type == REDIS_REPLY_STATUS;
	if (r)
		freeReplyObject(r);
	return ok;
}

/* Start redis-server on port (0: a free one) in s->dir (made when empty); extra
 * arguments end with NULL. 0 once it answers PING (within 10 s). */
static inline int rs_start(struct rserver *s, int port, bool cluster, const char *const *extra)
{
	if (!s->dir[0]) {
		snprintf(s->dir, sizeof s->dir, "/tmp/imei-redis-XXXXXX");
		if (!mkdtemp(s->dir))
			return -1;
	}
	s->cluster = cluster;
	s->port = port ? port : rs_free_port(cluster);
	if (!s->port)
		return -1;
	char portbuf[16], logf[200];
	snprintf(portbuf, sizeof portbuf, "%d", s->port);
	snprintf(logf, sizeof logf, "%s/redis.log", s->dir);
	const char *argv[48] = { "redis-server", "--port", portbuf, "--bind", "127.0.0.1", "--dir", s->dir,
		                 "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--logfile", logf,
		                 "--daemonize", "no" };
	size_t n = 17;
	if (cluster) {
		argv[n++] = "--cluster-enabled";
		argv[n++] = "yes";
		argv[n++] = "--cluster-node-timeout";
		argv[n++] = "2000";
	}
	for (size_t i = 0; extra && extra[i] && n < 46; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		execvp("redis-server", (char *const *)argv);
		_exit(127);
	}
	s->pid = pid;
	for (int i = 0; i < 200; i++) {
		if (rs_ping(s->port))
			return 0;
		int st;
		if (waitpid(pid, &st, WNOHANG) == pid) {
			s->pid = 0;
			fprintf(stderr, "redis-server on port %d exited; see %s\n", s->port, logf);
			return -1;
		}
		rs_sleep_ms(50);
	}
	return -1;
}

/* Stop it (SIGKILL: a crash; SIGTERM: a clean stop) and wait for it. */
static inline void rs_stop(struct rserver *s, int sig)
{
	if (s->pid > 0) {
		kill(s->pid, sig);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = 0;
}

static inline void rs_remove(struct rserver *s)
{
	rs_stop(s, SIGKILL);
	if (s->dir[0]) {
		char cmd[300];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", s->dir);
	}
	s->dir[0] = 0;
}

static inline bool rs_cluster_ok(int port)
{
	redisReply *r = rs_cmd(port, "CLUSTER INFO");
	bool ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok") &&
	          strstr(r->str, "cluster_slots_ok:16384") && strstr(r->str, "cluster_known_nodes:3");
	if (r)
		freeReplyObject(r);
	return ok;
}

/* Three masters made one cluster; 0 once every node says cluster_state:ok (20 s). */
static inline int rs_cluster(struct rserver s[3])
{
	for (int i = 0; i < 3; i++)
		if (rs_start(&s[i], 0, true, NULL) < 0)
			return -1;
	char cmd[400];
	snprintf(cmd, sizeof cmd,
	         "redis-cli --cluster create 127.0.0.1:%d 127.0.0.1:%d 127.0.0.1:%d --cluster-yes >%s/create.log 2>&1",
	         s[0].port, s[1].port, s[2].port, s[0].dir);
	if (system(cmd) != 0) {
		fprintf(stderr, "redis-cli --cluster create failed: see %s/create.log\n", s[0].dir);
		return -1;
	}
	for (int t = 0; t < 400; t++) {
		if (rs_cluster_ok(s[0].port) && rs_cluster_ok(s[1].port) && rs_cluster_ok(s[2].port))
			return 0;
		rs_sleep_ms(50);
	}
	return -1;
}

#endif
