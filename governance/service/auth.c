/* Credentials bound to a party and roles, and the rules of the governance service (see
 * auth.h). */
#include "governance/service/auth.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/log.h"
#include "common/secmem.h"
#include "governance/contract.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MIN      16
#define TOKEN_MAX      512
#define PARTY_MAX      128
#define TOKEN_FILE_MAX (256 * 1024)

static const struct {
    const char *name;
    unsigned bit;
} role_names[] = {
    {"provider", GOV_ROLE_PROVIDER}, {"consumer", GOV_ROLE_CONSUMER}, {"cleanroom", GOV_ROLE_CLEANROOM},
    {"auditor", GOV_ROLE_AUDITOR},   {"broker", GOV_ROLE_BROKER},     {"admin", GOV_ROLE_ADMIN},
};

#define CREDENTIAL_FORMAT                                                                                    \
    "a credential line is \"TOKEN PARTY ROLE[,ROLE...]\" with roles provider, consumer, cleanroom, "         \
    "auditor, broker or admin"

const char *gov_role_names(unsigned roles, char *buf, size_t len)
{
    size_t used = 0;
    if (len == 0)
        return buf;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof role_names / sizeof role_names[0]; i++) {
        if (!(roles & role_names[i].bit))
            continue;
        int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", role_names[i].name);
        if (n < 0 || (size_t)n >= len - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

int gov_role_parse(const char *text, unsigned *roles)
{
    const char *p = text;
    *roles = 0;
    while (*p != '\0') {
        size_t n = strcspn(p, ","), i;
        for (i = 0; i < sizeof role_names / sizeof role_names[0]; i++)
            if (strlen(role_names[i].name) == n && strncmp(role_names[i].name, p, n) == 0)
                break;
        if (i == sizeof role_names / sizeof role_names[0]) {
            *roles = 0;
            return ccr_err_set(EINVAL,
                               "unknown role '%.*s' (roles: provider, consumer, cleanroom, auditor, "
                               "broker, admin)",
                               (int)(n > 64 ? 64 : n), p);
        }
        *roles |= role_names[i].bit;
        p += n;
        if (*p == ',' && *++p == '\0')
            break;
    }
    return *roles != 0 ? 0 : ccr_err_set(EINVAL, "no role given");
}

static int party_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
           ch == '_' || ch == '.' || ch == ':';
}

static void credential_free(struct gov_credential *c)
{
    if (c->token != NULL)
        ccr_freezero(c->token, strlen(c->token));
    free(c->party);
    memset(c, 0, sizeof *c);
}

static int add_credential(struct gov_auth *a, const char *token, size_t token_len, const char *party,
                          unsigned roles, const char *where)
{
    struct gov_credential c = {0};
    char names[96];

    for (size_t i = 0; i < a->creds.len; i++) {
        const struct gov_credential *o = &CCR_ARRAY_AT(&a->creds, struct gov_credential, i);
        if (strlen(o->token) == token_len && CRYPTO_memcmp(o->token, token, token_len) == 0)
            return ccr_err_set(EINVAL, "%s: this token is given twice (each token belongs to one party)",
                               where);
    }
    c.token = strndup(token, token_len);
    c.party = strdup(party);
    c.roles = roles;
    if (c.token == NULL || c.party == NULL || ccr_array_append(&a->creds, &c) != 0) {
        credential_free(&c);
        return ENOMEM;
    }
    if (roles & GOV_ROLE_ADMIN)
        ccr_log_warn("%s: party %s has role admin (%s): it may do everything, as the old shared token did; "
                     "give providers, consumers, clean rooms, auditors and the broker their own roles",
                     where, party, gov_role_names(roles, names, sizeof names));
    return 0;
}

int gov_auth_add_line(struct gov_auth *a, const char *line, const char *where)
{
    const char *f[4];
    size_t n[4], k = 0;
    const char *p = line;
    char party[PARTY_MAX + 1], roles_text[128];
    unsigned roles;

    while (k < 4) {
        p += strspn(p, " \t");
        if (*p == '\0')
            break;
        f[k] = p;
        n[k] = strcspn(p, " \t");
        p += n[k];
        k++;
    }
    if (k == 1)
        return ccr_err_set(EINVAL,
                           "%s: a bare token is no longer accepted: %s; to keep an all-powerful token, "
                           "write \"TOKEN operator admin\" (but give each party its own credential)",
                           where, CREDENTIAL_FORMAT);
    if (k != 3)
        return ccr_err_set(EINVAL, "%s: %s", where, CREDENTIAL_FORMAT);
    if (n[0] < TOKEN_MIN || n[0] > TOKEN_MAX)
        return ccr_err_set(EINVAL, "%s: tokens must have %d to %d characters", where, TOKEN_MIN, TOKEN_MAX);
    if (n[1] > PARTY_MAX)
        return ccr_err_set(EINVAL, "%s: a party id has at most %d characters", where, PARTY_MAX);
    for (size_t i = 0; i < n[1]; i++)
        if (!party_char(f[1][i]))
            return ccr_err_set(EINVAL, "%s: party '%.*s': ids use A-Z a-z 0-9 - _ . : only", where, (int)n[1],
                               f[1]);
    memcpy(party, f[1], n[1]);
    party[n[1]] = '\0';
    if (n[2] >= sizeof roles_text)
        return ccr_err_set(EINVAL, "%s: the role list is too long", where);
    memcpy(roles_text, f[2], n[2]);
    roles_text[n[2]] = '\0';
    if (gov_role_parse(roles_text, &roles) != 0)
        return ccr_err_wrap(EINVAL, "%s: party %s: ", where, party);
    return add_credential(a, f[0], n[0], party, roles, where);
}

int gov_auth_load(struct gov_auth *a, const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char *line, *save = NULL, where[600];
    unsigned lineno = 0;
    int rc = 0;

    ccr_array_init(&a->creds, sizeof(struct gov_credential));
    if (path == NULL) {
        const char *env = getenv("CCRFS_GOV_TOKEN");
        if (env == NULL || env[0] == '\0')
            return ccr_err_set(EINVAL, "the service needs credentials: --token-file FILE or CCRFS_GOV_TOKEN");
        if (strpbrk(env, " \t") != NULL)
            return gov_auth_add_line(a, env, "CCRFS_GOV_TOKEN");
        /* A local shortcut (tests, a single-user setup): the bare token stays all-powerful. */
        if (strlen(env) < TOKEN_MIN)
            return ccr_err_set(EINVAL, "CCRFS_GOV_TOKEN: tokens must have at least %d characters", TOKEN_MIN);
        return add_credential(a, env, strlen(env), "admin", GOV_ROLE_ADMIN,
                              "CCRFS_GOV_TOKEN (a bare token, taken as party admin)");
    }
    if ((rc = ccr_read_file(path, TOKEN_FILE_MAX, &data, &len)) != 0)
        return rc;
    /* Lines are split by hand (strtok_r would merge empty lines and shift line numbers). */
    for (line = (char *)data; line != NULL && rc == 0; line = save) {
        char *end = strchr(line, '\n');
        save = end != NULL ? end + 1 : NULL;
        if (end != NULL)
            *end = '\0';
        if (end != NULL && end > line && end[-1] == '\r')
            end[-1] = '\0';
        lineno++;
        line += strspn(line, " \t");
        if (line[0] == '#' || line[0] == '\0')
            continue;
        snprintf(where, sizeof where, "%s:%u", path, lineno);
        rc = gov_auth_add_line(a, line, where);
    }
    ccr_freezero(data, len + 1);
    if (rc == 0 && a->creds.len == 0)
        rc = ccr_err_set(EINVAL, "%s: no credential in the file (%s)", path, CREDENTIAL_FORMAT);
    if (rc != 0)
        gov_auth_free(a);
    return rc;
}

void gov_auth_free(struct gov_auth *a)
{
    for (size_t i = 0; i < a->creds.len; i++)
        credential_free(&CCR_ARRAY_AT(&a->creds, struct gov_credential, i));
    ccr_array_free(&a->creds);
}

const struct gov_credential *gov_auth_find(const struct gov_auth *a, const char *authorization)
{
    const struct gov_credential *found = NULL;
    size_t len;

    if (authorization == NULL || strncmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    authorization += 7;
    len = strlen(authorization);
    /* Every credential is compared, so the time taken does not say which one matched. */
    for (size_t i = 0; i < a->creds.len; i++) {
        const struct gov_credential *c = &CCR_ARRAY_AT(&a->creds, struct gov_credential, i);
        if (strlen(c->token) == len && CRYPTO_memcmp(c->token, authorization, len) == 0)
            found = c;
    }
    return found;
}

/* ---- rules ---------------------------------------------------------------------------- */

static int refuse(const struct gov_credential *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int refuse(const struct gov_credential *c, const char *fmt, ...)
{
    char names[96], what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return ccr_err_set(EACCES, "party %s (role %s) %s", c->party,
                       gov_role_names(c->roles, names, sizeof names), what);
}

static int is_admin(const struct gov_credential *c)
{
    return (c->roles & GOV_ROLE_ADMIN) != 0;
}

static int names_party(const struct gov_contract *contract, const char *party)
{
    return contract != NULL && gov_contract_party(contract, party) != NULL;
}

int gov_auth_may_read_contracts(const struct gov_credential *c)
{
    (void)c; /* every role: parties review what they sign, brokers and clean rooms check consent */
    return 0;
}

int gov_auth_may_read_events(const struct gov_credential *c, const struct gov_contract *contract,
                             const char *contract_id)
{
    if (c->roles & (GOV_ROLE_ADMIN | GOV_ROLE_AUDITOR))
        return 0;
    if ((c->roles & (GOV_ROLE_PROVIDER | GOV_ROLE_CONSUMER | GOV_ROLE_CLEANROOM)) &&
        names_party(contract, c->party))
        return 0;
    return refuse(c,
                  "may not read the events of contract %s: it needs role auditor, or to be a party of "
                  "that contract%s",
                  contract_id, contract == NULL ? " (no such contract is registered)" : "");
}

int gov_auth_may_propose(const struct gov_credential *c, const struct gov_contract *contract)
{
    if (is_admin(c))
        return 0;
    if (!(c->roles & (GOV_ROLE_PROVIDER | GOV_ROLE_CONSUMER | GOV_ROLE_CLEANROOM)))
        return refuse(c, "may not propose contracts: it needs role provider, consumer or cleanroom");
    if (!names_party(contract, c->party))
        return refuse(c, "may not propose contract %s: it is not one of its parties", contract->id);
    return 0;
}

int gov_auth_may_sign(const struct gov_credential *c, const struct gov_contract *contract, const char *party,
                      int revoke)
{
    const char *verb = revoke ? "revoke" : "sign";

    if (is_admin(c))
        return 0;
    if (!(c->roles & (GOV_ROLE_PROVIDER | GOV_ROLE_CONSUMER | GOV_ROLE_CLEANROOM)))
        return refuse(c, "may not %s contracts: it needs role provider, consumer or cleanroom", verb);
    if (strcmp(party, c->party) != 0)
        return refuse(c, "may %s only as itself, not as party %s", verb, party);
    if (!names_party(contract, c->party))
        return refuse(c, "may not %s contract %s: it is not one of its parties", verb, contract->id);
    return 0;
}

int gov_auth_may_append(const struct gov_credential *c, const struct gov_contract *contract,
                        const char *contract_id, const char *chain, const char *owner)
{
    if (is_admin(c))
        return 0;
    if (!(c->roles & GOV_ROLE_CLEANROOM))
        return refuse(c, "may not append events: it needs role cleanroom");
    if (contract_id != NULL && contract_id[0] != '\0' && !names_party(contract, c->party))
        return refuse(c, "may not append events of contract %s: it is not one of its parties%s", contract_id,
                      contract == NULL ? " (no such contract is registered)" : "");
    if (owner != NULL && strcmp(owner, c->party) != 0)
        return refuse(c,
                      "may not append to chain %s: it belongs to party %s (a chain is bound to the party "
                      "that began it)",
                      chain, owner);
    return 0;
}

int gov_auth_may_register(const struct gov_credential *c, const char *party)
{
    if (c->roles & GOV_ROLE_ADMIN)
        return 0;
    if (!(c->roles & (GOV_ROLE_PROVIDER | GOV_ROLE_CONSUMER | GOV_ROLE_CLEANROOM)))
        return refuse(c, "may not register %s: registering needs role provider, consumer or cleanroom",
                      party);
    if (strcmp(c->party, party) != 0)
        return refuse(c, "may not register %s: a party registers only itself and its own datasets", party);
    return 0;
}

int gov_auth_may_use(const struct gov_credential *c, const struct gov_contract *contract,
                     int allow_unattested)
{
    if (c->roles & (GOV_ROLE_ADMIN | GOV_ROLE_BROKER))
        return 0;
    if ((c->roles & GOV_ROLE_CLEANROOM) && allow_unattested && names_party(contract, c->party))
        return 0;
    if ((c->roles & GOV_ROLE_CLEANROOM) && allow_unattested)
        return refuse(c, "may not count a use of contract %s: it is not one of its parties", contract->id);
    return refuse(c,
                  "may not count a use of contract %s: it needs role broker (which counts a use after it "
                  "verified an attestation)%s",
                  contract->id,
                  (c->roles & GOV_ROLE_CLEANROOM)
                      ? ", or a service started with --allow-unattested-use for a clean room of the contract"
                      : "");
}
