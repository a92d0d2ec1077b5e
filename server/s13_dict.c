/*
 * s13_dict.c — find or create the S13 objects of freeDiameter's dictionary (s13_dict.h),
 * and small helpers that add a valued AVP to a message.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "s13_dict.h"

static int base_avp(struct s13_dict *d, const char *name, struct dict_object **out, char *err, size_t errlen)
{
	int rc = fd_dict_search(d->dict, DICT_AVP, AVP_BY_NAME, name, out, ENOENT);
	if (rc != 0 || !*out) {
		snprintf(err, errlen, "diameter dictionary: base AVP %s not found (%s)", name, strerror(rc ? rc : ENOENT));
		return -1;
	}
	return 0;
}

/* The AVP (code, vendor 10415), created with V and M fixed when no extension defined it. */
static int s13_avp(struct s13_dict *d, avp_code_t code, const char *name, enum dict_avp_basetype base,
                   const char *type_name, struct dict_object **out, char *err, size_t errlen)
{
	struct dict_avp_request req = { .avp_vendor = S13_VENDOR_3GPP, .avp_code = code };
	int rc = fd_dict_search(d->dict, DICT_AVP, AVP_BY_CODE_AND_VENDOR, &req, out, ENOENT);
	if (rc == 0 && *out)
		return 0;
	struct dict_object *type = NULL;
	if (type_name && fd_dict_search(d->dict, DICT_TYPE, TYPE_BY_NAME, type_name, &type, ENOENT) != 0)
		type = NULL;
	struct dict_avp_data data = {
		.avp_code = code,
		.avp_vendor = S13_VENDOR_3GPP,
		.avp_name = (char *)name,
		.avp_flag_mask = AVP_FLAG_VENDOR | AVP_FLAG_MANDATORY,
		.avp_flag_val = AVP_FLAG_VENDOR | AVP_FLAG_MANDATORY,
		.avp_basetype = base,
	};
	rc = fd_dict_new(d->dict, DICT_AVP, &data, type, out);
	if (rc != 0) {
		snprintf(err, errlen, "diameter dictionary: cannot define AVP %s (%u): %s", name, (unsigned)code,
		         strerror(rc));
		return -1;
	}
	return 0;
}

static int command(struct s13_dict *d, bool request, struct dict_object **out, char *err, size_t errlen)
{
	command_code_t code = S13_CMD_ECR;
	int rc = fd_dict_search(d->dict, DICT_COMMAND, request ? CMD_BY_CODE_R : CMD_BY_CODE_A, &code, out, ENOENT);
	if (rc == 0 && *out)
		return 0;
	/* TS 29.272 §7.2.19/20: REQ and PXY on the request, PXY on the answer */
	struct dict_cmd_data data = {
		.cmd_code = S13_CMD_ECR,
		.cmd_name = request ? "ME-Identity-Check-Request" : "ME-Identity-Check-Answer",
		.cmd_flag_mask = CMD_FLAG_REQUEST | CMD_FLAG_PROXIABLE,
		.cmd_flag_val = (uint8_t)(CMD_FLAG_PROXIABLE | (request ? CMD_FLAG_REQUEST : 0)),
	};
	rc = fd_dict_new(d->dict, DICT_COMMAND, &data, d->app, out);
	if (rc != 0) {
		snprintf(err, errlen, "diameter dictionary: cannot define %s: %s", data.cmd_name, strerror(rc));
		return -1;
	}
	return 0;
}

int s13_dict_init(struct s13_dict *d, char *err, size_t errlen)
{
	memset(d, 0, sizeof *d);
	d->dict = fd_g_config->cnf_dict;
	vendor_id_t vid = S13_VENDOR_3GPP;
	if (fd_dict_search(d->dict, DICT_VENDOR, VENDOR_BY_ID, &vid, &d->vendor, ENOENT) != 0 || !d->vendor) {
		struct dict_vendor_data vd = { S13_VENDOR_3GPP, "3GPP" };
		int rc = fd_dict_new(d->dict, DICT_VENDOR, &vd, NULL, &d->vendor);
		if (rc != 0) {
			snprintf(err, errlen, "diameter dictionary: cannot define vendor 10415: %s", strerror(rc));
			return -1;
		}
	}
	application_id_t aid = S13_APP_ID;
	if (fd_dict_search(d->dict, DICT_APPLICATION, APPLICATION_BY_ID, &aid, &d->app, ENOENT) != 0 || !d->app) {
		struct dict_application_data ad = { S13_APP_ID, "S13" };
		int rc = fd_dict_new(d->dict, DICT_APPLICATION, &ad, d->vendor, &d->app);
		if (rc != 0) {
			snprintf(err, errlen, "diameter dictionary: cannot define application 16777252: %s", strerror(rc));
			return -1;
		}
	}
	if (command(d, true, &d->ecr, err, errlen) || command(d, false, &d->eca, err, errlen))
		return -1;
	if (base_avp(d, "Session-Id", &d->session_id, err, errlen) ||
	    base_avp(d, "Auth-Session-State", &d->auth_session_state, err, errlen) ||
	    base_avp(d, "Origin-Host", &d->origin_host, err, errlen) ||
	    base_avp(d, "Origin-Realm", &d->origin_realm, err, errlen) ||
	    base_avp(d, "Destination-Host", &d->destination_host, err, errlen) ||
	    base_avp(d, "Destination-Realm", &d->destination_realm, err, errlen) ||
	    base_avp(d, "Vendor-Specific-Application-Id", &d->vsai, err, errlen) ||
	    base_avp(d, "Vendor-Id", &d->vendor_id, err, errlen) ||
	    base_avp(d, "Auth-Application-Id", &d->auth_application_id, err, errlen) ||
	    base_avp(d, "Result-Code", &d->result_code, err, errlen) ||
	    base_avp(d, "Experimental-Result", &d->experimental_result, err, errlen) ||
	    base_avp(d, "Experimental-Result-Code", &d->experimental_result_code, err, errlen) ||
	    base_avp(d, "User-Name", &d->user_name, err, errlen) ||
	    base_avp(d, "Failed-AVP", &d->failed_avp, err, errlen) ||
	    base_avp(d, "Error-Message", &d->error_message, err, errlen))
		return -1;
	if (s13_avp(d, S13_AVP_TERMINAL_INFORMATION, "Terminal-Information", AVP_TYPE_GROUPED, NULL,
	            &d->terminal_information, err, errlen) ||
	    s13_avp(d, S13_AVP_IMEI, "IMEI", AVP_TYPE_OCTETSTRING, "UTF8String", &d->imei, err, errlen) ||
	    s13_avp(d, S13_AVP_SOFTWARE_VERSION, "Software-Version", AVP_TYPE_OCTETSTRING, "UTF8String",
	            &d->software_version, err, errlen) ||
	    s13_avp(d, S13_AVP_MEID, "3GPP2-MEID", AVP_TYPE_OCTETSTRING, NULL, &d->meid, err, errlen) ||
	    s13_avp(d, S13_AVP_EQUIPMENT_STATUS, "Equipment-Status", AVP_TYPE_INTEGER32, NULL, &d->equipment_status,
	            err, errlen))
		return -1;
	return 0;
}

static int add_value(msg_or_avp *parent, struct dict_object *model, union avp_value *v)
{
	struct avp *a = NULL;
	int rc = fd_msg_avp_new(model, 0, &a);
	if (rc != 0)
		return rc;
	if ((rc = fd_msg_avp_setvalue(a, v)) != 0 || (rc = fd_msg_avp_add(parent, MSG_BRW_LAST_CHILD, a)) != 0) {
		fd_msg_free(a);
		return rc;
	}
	return 0;
}

int s13_add_os(msg_or_avp *parent, struct dict_object *model, const void *data, size_t len)
{
	union avp_value v = { .os = { .data = (uint8_t *)data, .len = len } };
	return add_value(parent, model, &v);
}

int s13_add_u32(msg_or_avp *parent, struct dict_object *model, uint32_t u)
{
	union avp_value v = { .u32 = u };
	return add_value(parent, model, &v);
}

int s13_add_i32(msg_or_avp *parent, struct dict_object *model, int32_t i)
{
	union avp_value v = { .i32 = i };
	return add_value(parent, model, &v);
}
