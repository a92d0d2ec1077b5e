/*
 * metrics_process.c — the process's own lines of /metrics: what build answers
 * (imei_eir_build_info: imei, Lua, nghttp2 and libev versions) and the standard process
 * metrics of the Prometheus client libraries (process_cpu_seconds_total,
 * process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
 * process_max_fds, process_start_time_seconds), read from getrusage, /proc/self and
 * getrlimit at each scrape.
 */
#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "service.h"

static void help(struct ebuf *b, const char *name, const char *type, const char *text)
{
	ebuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

/* Entries of /proc/self/fd, less the one the directory listing holds; -1 if unreadable. */
static long open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

void eird_metrics_process(struct eird_server *srv, struct ebuf *b)
{
	const nghttp2_info *h2 = nghttp2_version(0);
	help(b, "imei_eir_build_info", "gauge", "The build of imei-eird: its version and its libraries'.");
	ebuf_printf(b, "imei_eir_build_info{version=\"%s\",lua=\"%s\",nghttp2=\"%s\",libev=\"%d.%d\"} 1\n",
	            imei_version(), LUA_RELEASE, h2 ? h2->version_str : "?", ev_version_major(), ev_version_minor());

	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		             ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
		help(b, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
		ebuf_printf(b, "process_cpu_seconds_total %.6f\n", cpu);
	}
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long vm_pages, rss_pages;
	if (f) {
		if (fscanf(f, "%llu %llu", &vm_pages, &rss_pages) == 2) {
			unsigned long long page = (unsigned long long)sysconf(_SC_PAGESIZE);
			help(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
			ebuf_printf(b, "process_virtual_memory_bytes %llu\n", vm_pages * page);
			help(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
			ebuf_printf(b, "process_resident_memory_bytes %llu\n", rss_pages * page);
		}
		fclose(f);
	}
	long fds = open_fds();
	if (fds >= 0) {
		help(b, "process_open_fds", "gauge", "Number of open file descriptors.");
		ebuf_printf(b, "process_open_fds %ld\n", fds);
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		help(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
		ebuf_printf(b, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	}
	help(b, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
	ebuf_printf(b, "process_start_time_seconds %lld\n", srv->started);
}
