/* Encrypted resource files for the broker. */
#include "keys/broker/store.h"
#include "common/random.h"
#include "common/encoding.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/secmem.h"
#include "format/crypto.h"

#include <dirent.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MASTER_LEN   32
#define RESOURCE_MAX (1 << 16)

struct keys_rstore {
    char *dir, *res_dir;
    uint8_t *key; /* sealing key derived from the master key, locked memory */
};

int keys_rstore_open(const char *dir, struct keys_rstore **out)
{
    struct keys_rstore *rs = calloc(1, sizeof *rs);
    char *mk_path = NULL;
    uint8_t *master = ccr_secmem_alloc(MASTER_LEN + 1);
    uint8_t *buf = NULL;
    size_t len;
    struct stat st;
    int rc = ENOMEM;

    if (rs == NULL || master == NULL)
        goto fail;
    rs->dir = strdup(dir);
    rs->res_dir = ccr_path_join(dir, "resources");
    mk_path = ccr_path_join(dir, "master.key");
    rs->key = ccr_secmem_alloc(FMT_KEY_LEN);
    if (rs->dir == NULL || rs->res_dir == NULL || mk_path == NULL || rs->key == NULL)
        goto fail;
    if ((rc = ccr_mkdirs(rs->res_dir, 0700)) != 0)
        goto fail;
    chmod(dir, 0700);
    if (stat(mk_path, &st) != 0) {
        if ((rc = ccr_random(master, MASTER_LEN)) != 0 ||
            (rc = ccr_write_file_new(mk_path, master, MASTER_LEN, 0600)) != 0)
            goto fail;
    } else {
        if ((st.st_mode & 077) != 0) {
            rc = ccr_err_set(EPERM, "%s: mode %o lets others read the master key; chmod 600 it", mk_path,
                             (unsigned)(st.st_mode & 0777));
            goto fail;
        }
        if ((rc = ccr_read_file(mk_path, MASTER_LEN + 1, &buf, &len)) != 0)
            goto fail;
        if (len != MASTER_LEN) {
            rc = ccr_err_set(EINVAL, "%s: %zu bytes, a master key is %d", mk_path, len, MASTER_LEN);
            goto fail;
        }
        memcpy(master, buf, MASTER_LEN);
    }
    if ((rc = fmt_hkdf_sha256(master, MASTER_LEN, (const uint8_t *)"ccrfs-broker", 12,
                              "ccrfs broker resource v1", rs->key, FMT_KEY_LEN)) != 0)
        goto fail;
    ccr_freezero(buf, buf ? len : 0);
    ccr_secmem_free(master, MASTER_LEN + 1);
    free(mk_path);
    *out = rs;
    return 0;
fail:
    ccr_freezero(buf, buf ? len : 0);
    ccr_secmem_free(master, MASTER_LEN + 1);
    free(mk_path);
    keys_rstore_close(rs);
    return rc;
}

static char *res_path(struct keys_rstore *rs, const char *name)
{
    size_t n = strlen(name);
    char *hex = malloc(2 * n + 6), *p;
    if (hex == NULL)
        return NULL;
    ccr_hex_encode((const uint8_t *)name, n, hex);
    memcpy(hex + 2 * n, ".json", 6);
    p = ccr_path_join(rs->res_dir, hex);
    free(hex);
    return p;
}

static char *b64(const uint8_t *p, size_t len)
{
    char *s = malloc(ccr_b64_encoded_size(len, CCR_B64_STD));
    if (s)
        ccr_b64_encode(p, len, s, CCR_B64_STD);
    return s;
}

int keys_rstore_put(struct keys_rstore *rs, const char *name, const char *policy_json, const uint8_t *value,
                    size_t len)
{
    uint8_t nonce[FMT_NONCE_LEN], *sealed;
    struct json_object *o = NULL, *pol;
    char *path = res_path(rs, name), *s_nonce = NULL, *s_val = NULL;
    const char *text;
    int rc;

    if (len == 0 || len > RESOURCE_MAX) {
        free(path);
        return ccr_err_set(EINVAL, "resource %s: a value of %zu bytes (1 to %d)", name, len, RESOURCE_MAX);
    }
    sealed = malloc(len + FMT_TAG_LEN);
    pol = json_tokener_parse(policy_json);
    if (path == NULL || sealed == NULL || pol == NULL) {
        rc = pol == NULL ? ccr_err_set(EINVAL, "resource %s: the policy is not JSON", name) : ENOMEM;
        goto out;
    }
    if ((rc = ccr_random(nonce, sizeof nonce)) != 0 ||
        (rc = fmt_gcm_seal(rs->key, nonce, (const uint8_t *)name, strlen(name), value, len, sealed,
                           sealed + len)) != 0)
        goto out;
    s_nonce = b64(nonce, sizeof nonce);
    s_val = b64(sealed, len + FMT_TAG_LEN);
    o = json_object_new_object();
    if (s_nonce == NULL || s_val == NULL || o == NULL) {
        rc = ENOMEM;
        goto out;
    }
    json_object_object_add(o, "name", json_object_new_string(name));
    json_object_object_add(o, "policy", pol);
    pol = NULL;
    json_object_object_add(o, "nonce", json_object_new_string(s_nonce));
    json_object_object_add(o, "sealed_value", json_object_new_string(s_val));
    text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
    rc = ccr_write_file_atomic(path, text, strlen(text), 0600);
out:
    json_object_put(o);
    json_object_put(pol);
    free(sealed);
    free(s_nonce);
    free(s_val);
    free(path);
    return rc;
}

static int load_file(struct keys_rstore *rs, const char *path, const char *expect_name, char **name_out,
                     char **policy_json, uint8_t **value, size_t *len)
{
    struct json_object *o = NULL, *v_name, *v_pol, *v_nonce, *v_val;
    uint8_t *buf = NULL, *nonce = NULL, *sealed = NULL, *plain = NULL;
    size_t blen, nlen, slen;
    const char *name;
    int rc;

    if ((rc = ccr_read_file(path, 4 * RESOURCE_MAX, &buf, &blen)) != 0)
        return rc;
    o = json_tokener_parse((const char *)buf);
    free(buf);
    if (o == NULL || !json_object_object_get_ex(o, "name", &v_name) ||
        !json_object_object_get_ex(o, "policy", &v_pol) || !json_object_object_get_ex(o, "nonce", &v_nonce) ||
        !json_object_object_get_ex(o, "sealed_value", &v_val)) {
        rc = ccr_err_set(EINVAL, "%s: not a resource file", path);
        goto out;
    }
    name = json_object_get_string(v_name);
    if (expect_name && strcmp(name, expect_name) != 0) {
        rc = ccr_err_set(EBADMSG, "%s: holds resource '%s', not '%s'", path, name, expect_name);
        goto out;
    }
    if (name_out && (*name_out = strdup(name)) == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if (policy_json && (*policy_json = strdup(json_object_to_json_string_ext(
                            v_pol, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE))) == NULL) {
        rc = ENOMEM;
        goto out;
    }
    if (value != NULL) {
        const char *sn = json_object_get_string(v_nonce), *sv = json_object_get_string(v_val);
        if (ccr_b64_decode(sn, strlen(sn), &nonce, &nlen, CCR_B64_STD) != 0 || nlen != FMT_NONCE_LEN ||
            ccr_b64_decode(sv, strlen(sv), &sealed, &slen, CCR_B64_STD) != 0 || slen <= FMT_TAG_LEN) {
            rc = ccr_err_set(EINVAL, "%s: malformed nonce or sealed value", path);
            goto out;
        }
        plain = ccr_secmem_alloc(slen - FMT_TAG_LEN);
        if (plain == NULL) {
            rc = ENOMEM;
            goto out;
        }
        if (fmt_gcm_open(rs->key, nonce, (const uint8_t *)name, strlen(name), sealed, slen - FMT_TAG_LEN,
                         sealed + slen - FMT_TAG_LEN, plain) != 0) {
            ccr_secmem_free(plain, slen - FMT_TAG_LEN);
            rc = ccr_err_set(EBADMSG,
                             "%s: the sealed value does not authenticate (tampered, or another master key)",
                             path);
            goto out;
        }
        *value = plain;
        *len = slen - FMT_TAG_LEN;
    }
    rc = 0;
out:
    json_object_put(o);
    free(nonce);
    free(sealed);
    return rc;
}

int keys_rstore_get(struct keys_rstore *rs, const char *name, char **policy_json, uint8_t **value,
                    size_t *len)
{
    char *path = res_path(rs, name);
    int rc;
    if (path == NULL)
        return ENOMEM;
    *policy_json = NULL;
    if (access(path, F_OK) != 0) {
        free(path);
        return ccr_err_set(ENOENT, "no resource named %s", name);
    }
    rc = load_file(rs, path, name, NULL, policy_json, value, len);
    if (rc != 0) {
        free(*policy_json);
        *policy_json = NULL;
    }
    free(path);
    return rc;
}

int keys_rstore_delete(struct keys_rstore *rs, const char *name)
{
    char *path = res_path(rs, name);
    int rc = 0;
    if (path == NULL)
        return ENOMEM;
    if (unlink(path) != 0)
        rc = errno == ENOENT ? ccr_err_set(ENOENT, "no resource named %s", name)
                             : ccr_err_set(errno, "%s: %s", path, strerror(errno));
    else
        ccr_fsync_parent(path);
    free(path);
    return rc;
}

int keys_rstore_list(struct keys_rstore *rs, int (*cb)(void *arg, const char *name, const char *policy_json),
                     void *arg)
{
    DIR *d = opendir(rs->res_dir);
    struct dirent *e;
    int rc = 0;

    if (d == NULL)
        return ccr_err_set(errno, "%s: %s", rs->res_dir, strerror(errno));
    while (rc == 0 && (e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        char *path, *name = NULL, *pol = NULL;
        if (n < 6 || strcmp(e->d_name + n - 5, ".json") != 0)
            continue;
        path = ccr_path_join(rs->res_dir, e->d_name);
        if (path == NULL) {
            rc = ENOMEM;
            break;
        }
        if (load_file(rs, path, NULL, &name, &pol, NULL, NULL) == 0)
            rc = cb(arg, name, pol);
        free(name);
        free(pol);
        free(path);
    }
    closedir(d);
    return rc;
}

void keys_rstore_close(struct keys_rstore *rs)
{
    if (rs == NULL)
        return;
    ccr_secmem_free(rs->key, FMT_KEY_LEN);
    free(rs->dir);
    free(rs->res_dir);
    free(rs);
}
