/* Who may call `ccrfs gov serve`, and for what. Each bearer token is bound to one party and
 * one or more roles (a line "TOKEN PARTY ROLE[,ROLE...]" of the token file); the service
 * checks every request against the rules below and answers 401/403 naming the party, the
 * role and what it lacked. Format and rules: docs/GOVERNANCE.md "Credentials". */
#ifndef CCRFS_GOVERNANCE_SERVICE_AUTH_H
#define CCRFS_GOVERNANCE_SERVICE_AUTH_H

#include "common/array.h"

#include <stddef.h>

struct gov_contract;

enum gov_role {
    GOV_ROLE_PROVIDER = 1u << 0,  /* offers datasets: proposes, signs, revokes its contracts */
    GOV_ROLE_CONSUMER = 1u << 1,  /* uses datasets: proposes, signs, revokes its contracts */
    GOV_ROLE_CLEANROOM = 1u << 2, /* a clean room's daemon: appends to its own event chains */
    GOV_ROLE_AUDITOR = 1u << 3,   /* reads contracts and events, changes nothing */
    GOV_ROLE_BROKER = 1u << 4,    /* the key broker: counts a use after an attestation */
    GOV_ROLE_ADMIN = 1u << 5,     /* everything; for compatibility, not to be handed out */
};

struct gov_credential {
    char *token; /* wiped when freed */
    char *party;
    unsigned roles; /* enum gov_role bits */
};

struct gov_auth {
    struct ccr_array creds; /* struct gov_credential */
};

/* Reads the credentials of a token file (path) or, with path NULL, of $CCRFS_GOV_TOKEN (one
 * credential line, or a bare token taken as an admin credential with a warning). A line of
 * one field in a file is refused with a message saying how to write it. */
int gov_auth_load(struct gov_auth *a, const char *path);
/* Parses one credential line into a; where names the line in messages ("FILE:LINE"). */
int gov_auth_add_line(struct gov_auth *a, const char *line, const char *where);
void gov_auth_free(struct gov_auth *a);
/* The credential whose token the Authorization header carries (constant-time compares), or
 * NULL. */
const struct gov_credential *gov_auth_find(const struct gov_auth *a, const char *authorization);

/* Role names joined by commas ("provider,auditor") into buf. */
const char *gov_role_names(unsigned roles, char *buf, size_t len);
/* The roles of "a,b,c", or 0 with a message naming the unknown one. */
int gov_role_parse(const char *text, unsigned *roles);

/* The rules. Each returns 0 when the credential may do it, else EACCES with a message (from
 * ccr_err_msg) naming the party, its roles and what it lacked. contract may be NULL where the
 * rule does not need one. */
int gov_auth_may_read_contracts(const struct gov_credential *c);
int gov_auth_may_read_events(const struct gov_credential *c, const struct gov_contract *contract,
                             const char *contract_id);
int gov_auth_may_propose(const struct gov_credential *c, const struct gov_contract *contract);
/* Signing or revoking contract as party (the party named in the request body). */
int gov_auth_may_sign(const struct gov_credential *c, const struct gov_contract *contract, const char *party,
                      int revoke);
/* Appending an event of contract_id ("" for none; contract NULL when it is not registered)
 * to chain, whose owner (NULL: nobody yet) is the party that began it. */
int gov_auth_may_append(const struct gov_credential *c, const struct gov_contract *contract,
                        const char *contract_id, const char *chain, const char *owner);
/* Registering party (a participant, or the owner of a dataset being registered): only that
 * party itself, as provider, consumer or clean room, or admin; an auditor or a broker changes
 * nothing. First come keeps its key, so nobody may register another's name. */
int gov_auth_may_register(const struct gov_credential *c, const char *party);
/* Counting a use of contract; allow_unattested lets a clean room of the contract do it. */
int gov_auth_may_use(const struct gov_credential *c, const struct gov_contract *contract,
                     int allow_unattested);

#endif
