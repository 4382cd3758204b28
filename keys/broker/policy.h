/* Release policies in the Azure Key Vault grammar, over SEV-SNP report claims:
 *   {"version": "1.0.0", "anyOf": [ {"authority": "...", "allOf": [
 *        {"claim": "measurement", "equals": "<hex>"}, {"claim": "debug", "equals": false} ]} ]}
 * A node is either a condition {"claim": NAME, "equals": VALUE} or a group holding exactly
 * one of "anyOf"/"allOf" (a non-empty array of nodes) and optionally "authority". The root is
 * a group; "version" is optional and, when given, "1.0.0". Claim names are those of
 * keys_snp_claims_verified(); hex claims compare case-insensitively, booleans and numbers by
 * value; product ("Milan", "Genoa", "Turin"), signing_key ("VCEK", "VLEK") and
 * current_firmware ("major.minor.build") exactly, their values checked when the policy is parsed.
 * Init-data claims have dotted names: init_data.digest (hex), init_data.ccrfs.contract,
 * .governance, .governanceApi, .broker (strings, exactly), init_data.ccrfs.resources (holds when
 * the list names the value) and init_data.ccrfs.datasets (holds when an entry has the value's
 * id, "sha256:...", or the value's {"id", "mode"}). A claim the session lacks never holds. */
#ifndef CCRFS_KEYS_BROKER_POLICY_H
#define CCRFS_KEYS_BROKER_POLICY_H

#include <stddef.h>

struct json_object;
struct keys_policy;

/* Parses and checks a policy. EINVAL with a message naming where it is malformed
 * ("anyOf[0].allOf[2]: unknown claim 'measurment'"). */
int keys_policy_parse(const char *text, size_t len, struct keys_policy **out);
/* The policy as compact JSON text (owned by the policy). */
const char *keys_policy_text(const struct keys_policy *p);
/* 0 when the claims satisfy the policy; EACCES with reason filled when they do not. */
int keys_policy_eval(const struct keys_policy *p, struct json_object *claims, char *reason,
                     size_t reason_len);
void keys_policy_free(struct keys_policy *p);

#endif
