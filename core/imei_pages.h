/*
 * imei_pages.h — memory of its own mapping, for the large short-lived buffers of the
 * lists' loader, the audit's digest and the replay: given back to the system when freed.
 * A malloc'd block of that size, once freed, raises glibc's dynamic mmap threshold, and
 * the next ones then come from the heap (or a thread's arena) and stay resident for the
 * rest of the process: at a replay's memory peaks (docs/classify.md, "Memory").
 */
#ifndef IMEI_PAGES_H
#define IMEI_PAGES_H

#include <stddef.h>

/* bytes (> 0) of zeroed memory, or NULL with errno. */
void *imei_pages_new(size_t bytes);
/* Give p (imei_pages_new's, of that size; NULL: nothing) back. */
void imei_pages_free(void *p, size_t bytes);

#endif
