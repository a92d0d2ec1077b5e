/*
 * explain.c — the explain service of imei-eird (docs/explain.md): why the worker's engine
 * decides what it decides for one request, as JSON (imei_engine_explain_json). Served
 * only on the admin listener (--admin-listen), never on the N5g-eir or S13 ports: an
 * explanation names list memberships and subscribers, which the network functions that
 * ask for equipment status have no business reading. Protocol-neutral, like check.c.
 */
#include <stdlib.h>
#include <string.h>

#include "service.h"

int eird_explain(struct eird_worker *w, const struct imei_request *req, struct ebuf *out, char *err, size_t errlen)
{
	char *json = NULL;
	size_t len = 0;
	eird_engine_call_begin(w, req->pei);
	int rc = imei_engine_explain_json(w->engine, req, &json, &len, err, errlen);
	if (!eird_engine_call_end(w)) {
		free(json);
		return EIRD_CHECK_ABANDONED;
	}
	if (rc == 0)
		ebuf_add(out, json, len);
	free(json);
	return rc == 0 ? 0 : -1;
}
