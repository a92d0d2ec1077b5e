/*
 * version.c — the library's version and the texts of its error codes (the public API,
 * include/imei/imei.h). Lua-free, so every layer and the Lua module can say them.
 */
#include "imei/imei.h"

const char *imei_version(void)
{
	return IMEI_VERSION_STRING;
}

unsigned imei_version_number(void)
{
	return IMEI_VERSION_NUMBER;
}

static const char *const code_text[IMEI_NCODES] = {
	[IMEI_EOK] = "success",
	[IMEI_EINVAL] = "invalid argument",
	[IMEI_ENOMEM] = "out of memory",
	[IMEI_EIO] = "cannot read a file",
	[IMEI_EFORMAT] = "invalid file contents",
	[IMEI_EPOLICY] = "the policy failed",
	[IMEI_ESIZE] = "struct size unknown to this library version",
	[IMEI_ESTATE] = "not possible in this state",
};

const char *imei_strerror(int code)
{
	return code >= 0 && code < IMEI_NCODES ? code_text[code] : "unknown error code";
}
