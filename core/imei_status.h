/*
 * imei_status.h — the verdict statuses and their severity: the one place C (engine,
 * replay, server) and Lua (the policy library, through imei.core.STATUS and
 * imei.core.SEVERITY) take them from. Lua-free.
 *
 * The first three values are those of the Equipment-Status AVP (TS 29.272 §7.3.51) and
 * of N5g-eir's EquipmentStatus (TS 29.511); UNKNOWN is the "equipment unknown" answer
 * (Diameter 5422, HTTP 404 ERROR_EQUIPMENT_UNKNOWN). Severity is this project's order
 * for resolve = "worst" (docs/policies.md): BLACKLISTED > GREYLISTED > UNKNOWN > WHITELISTED.
 */
#ifndef IMEI_STATUS_H
#define IMEI_STATUS_H

enum imei_status {
	IMEI_STATUS_WHITELISTED = 0,
	IMEI_STATUS_BLACKLISTED = 1,
	IMEI_STATUS_GREYLISTED = 2,
	IMEI_STATUS_UNKNOWN = 3
};

#define IMEI_STATUS_COUNT 4

/* "WHITELISTED", …; "UNKNOWN" for a value out of range */
const char *imei_status_name(enum imei_status status);
/* -1 for a string that is not a status name */
int imei_status_from_name(const char *name);
/* 0 (WHITELISTED) … 3 (BLACKLISTED); the most severe status wins under resolve = "worst" */
int imei_status_severity(enum imei_status status);

#endif
