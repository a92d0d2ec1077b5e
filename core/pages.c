/*
 * pages.c — memory of its own mapping (imei_pages.h says why).
 */
#include <sys/mman.h>

#include "imei_pages.h"

void *imei_pages_new(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void imei_pages_free(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}
