/*
 * s13_dict.h — the S13 application (3GPP TS 29.272 §7) in freeDiameter's dictionary:
 * application 16777252 of vendor 10415 (3GPP), ME-Identity-Check-Request/Answer (command
 * 324, §7.2.19–7.2.20) and the AVPs of §7.3 that they carry, plus handles on the base
 * protocol AVPs (RFC 6733) the EIR and the test MME read and write.
 *
 * Objects that a loaded dictionary extension already defines (dict_dcca_3gpp defines the
 * S13 AVPs) are found and used as they are; the missing ones are created with the flags
 * TS 29.272 §7.3.1 gives them (V and M set). Call after fd_core_parseconf (so extensions
 * named in the configuration are loaded) and before fd_core_start.
 */
#ifndef EIRD_S13_DICT_H
#define EIRD_S13_DICT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <freeDiameter/freeDiameter-host.h>
#include <freeDiameter/libfdcore.h>

#define S13_APP_ID 16777252u        /* TS 29.272 §7.1.8 */
#define S13_VENDOR_3GPP 10415u
#define S13_CMD_ECR 324u            /* ME-Identity-Check, §7.2.19 */
#define S13_AVP_USER_NAME 1u
#define S13_AVP_TERMINAL_INFORMATION 1401u /* §7.3.3 */
#define S13_AVP_IMEI 1402u          /* §7.3.4 */
#define S13_AVP_SOFTWARE_VERSION 1403u /* §7.3.5 */
#define S13_AVP_MEID 1471u          /* 3GPP2-MEID, §7.3.6 */
#define S13_AVP_EQUIPMENT_STATUS 1445u /* §7.3.51 */

/* Result codes: RFC 6733 §7.1 and TS 29.272 §7.4.3. */
#define S13_SUCCESS 2001u
#define S13_INVALID_AVP_VALUE 5004u
#define S13_MISSING_AVP 5005u
#define S13_UNABLE_TO_COMPLY 5012u
#define S13_ERROR_EQUIPMENT_UNKNOWN 5422u /* an Experimental-Result-Code of vendor 10415 */

struct s13_dict {
	struct dictionary *dict;
	struct dict_object *vendor, *app, *ecr, *eca;
	/* base protocol */
	struct dict_object *session_id, *auth_session_state, *origin_host, *origin_realm, *destination_host,
	    *destination_realm, *vsai, *vendor_id, *auth_application_id, *result_code, *experimental_result,
	    *experimental_result_code, *user_name, *failed_avp, *error_message;
	/* S13 */
	struct dict_object *terminal_information, *imei, *software_version, *meid, *equipment_status;
};

/* Find or create every object above in fd_g_config->cnf_dict. 0, or -1 with err. */
int s13_dict_init(struct s13_dict *d, char *err, size_t errlen);

/* Add an AVP of the given model to a message or a grouped AVP: octet string, unsigned or
 * signed 32-bit value. 0 or an errno value. */
int s13_add_os(msg_or_avp *parent, struct dict_object *model, const void *data, size_t len);
int s13_add_u32(msg_or_avp *parent, struct dict_object *model, uint32_t v);
int s13_add_i32(msg_or_avp *parent, struct dict_object *model, int32_t v);

#endif
