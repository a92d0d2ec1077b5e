/*
 * status.c — verdict status names and severity (imei_status.h).
 */
#include <string.h>

#include "imei_status.h"

static const char *const status_names[IMEI_STATUS_COUNT] = { "WHITELISTED", "BLACKLISTED", "GREYLISTED",
	                                                      "UNKNOWN" };
static const int status_severity[IMEI_STATUS_COUNT] = { 0, 3, 2, 1 };

const char *imei_status_name(enum imei_status status)
{
	return (unsigned)status < IMEI_STATUS_COUNT ? status_names[status] : "UNKNOWN";
}

int imei_status_from_name(const char *name)
{
	for (int i = 0; i < IMEI_STATUS_COUNT; i++)
		if (strcmp(name, status_names[i]) == 0)
			return i;
	return -1;
}

int imei_status_severity(enum imei_status status)
{
	return (unsigned)status < IMEI_STATUS_COUNT ? status_severity[status] : status_severity[IMEI_STATUS_UNKNOWN];
}
