/* ccrfs gov party register|list|show and ccrfs gov dataset register|list|show: participant and
 * dataset registration and discovery against the governance service (docs/CONTRACTS.md). */
#include "cli/cmd_gov_registry.h"
#include "cli/commands.h"
#include "cli/util.h"
#include "common/err.h"
#include "common/fileio.h"
#include "common/secmem.h"
#include "governance/canon.h"
#include "governance/contract.h"
#include "governance/depa.h"
#include "governance/http.h"
#include "governance/sign.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char registry_usage[] =
    "usage: ccrfs gov party register --url URL --id DID --public-key FILE [--name NAME]\n"
    "       ccrfs gov party list     --url URL\n"
    "       ccrfs gov party show     --url URL DID\n"
    "       ccrfs gov dataset register --url URL --uuid UUID --id sha256:... --owner DID --key FILE\n"
    "                                  [--name NAME] [--store URL] [--key-source SPEC]\n"
    "       ccrfs gov dataset list     --url URL [--owner DID]\n"
    "       ccrfs gov dataset show     --url URL UUID\n"
    "party register: records a participant's public key under its DID or name: a PEM file holding a\n"
    "  public or private Ed25519 or P-256 key, or its did:web document (did.json, read from the file:\n"
    "  nothing is fetched; its id must be --id, its first publicKeyJwk is taken). A party keeps its\n"
    "  first key.\n"
    "dataset register: pins a dataset UUID (as DEPA contracts name it) to its dataset id (the\n"
    "  manifest's sha256:..., see 'ccrfs inspect'), signed with the owner's private key --key; the\n"
    "  service checks it against the owner's registered key. --store and --key-source say where\n"
    "  the dataset lives and how its key is released, for mounts that name it by UUID.\n"
    "Every command talks to --url with the token from --token-file or $CCRFS_GOV_TOKEN.\n";

struct registry_opts {
    const char *url, *token_file, *id, *public_key, *name, *uuid, *dataset_id, *owner, *key, *store,
        *key_source;
};

static int registry_call(const struct registry_opts *o, const char *method, const char *path,
                         const char *body)
{
    return cli_gov_call(o->url, o->token_file, method, path, body, body ? strlen(body) : 0, NULL);
}

static int show_path(char *out, size_t len, const char *collection, const char *key)
{
    char *esc = gov_http_escape(key);
    if (esc == NULL)
        return ENOMEM;
    snprintf(out, len, "/%s/%s", collection, esc);
    free(esc);
    return 0;
}

static int party_register(const struct registry_opts *o)
{
    struct gov_key *k;
    json_object *v;
    char *pub = NULL;
    int rc;

    if (o->id == NULL || o->public_key == NULL)
        return cli_usage("party register needs --id DID and --public-key FILE");
    {
        uint8_t *data = NULL;
        size_t len = 0;
        if ((rc = ccr_read_file(o->public_key, 256 * 1024, &data, &len)) != 0)
            return cli_fail_rc(rc, o->public_key);
        /* A DID document (did.json) is JSON; a key is PEM. */
        if (len > 0 && data[0] == '{') {
            rc = gov_did_document_key((const char *)data, len, o->id, &pub);
            free(data);
            if (rc != 0)
                return cli_fail_rc(rc, o->public_key);
        } else {
            free(data);
            if ((rc = gov_key_load_public(o->public_key, &k)) != 0)
                return cli_fail_rc(rc, o->public_key);
            rc = gov_key_public_b64(k, &pub);
            gov_key_free(k);
            if (rc != 0)
                return cli_fail_rc(rc, NULL);
        }
    }
    v = json_object_new_object();
    json_object_object_add(v, "id", json_object_new_string(o->id));
    json_object_object_add(v, "publicKey", json_object_new_string(pub));
    if (o->name != NULL)
        json_object_object_add(v, "name", json_object_new_string(o->name));
    free(pub);
    rc = registry_call(
        o, "POST", "/parties",
        json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(v);
    return rc;
}

static int dataset_register(const struct registry_opts *o)
{
    struct gov_key *k;
    json_object *v;
    char *bytes = NULL, *sig = NULL;
    size_t len;
    int rc;

    if (o->uuid == NULL || o->dataset_id == NULL || o->owner == NULL || o->key == NULL)
        return cli_usage("dataset register needs --uuid UUID, --id sha256:..., --owner DID and --key FILE");
    if (!gov_uuid_valid(o->uuid))
        return cli_usage("--uuid: \"%s\" is not a UUID (8-4-4-4-12 hex digits)", o->uuid);
    if (!gov_dataset_id_valid(o->dataset_id))
        return cli_usage("--id: \"%s\" is not a dataset id (sha256: and 64 lowercase hex digits)",
                         o->dataset_id);
    if ((rc = gov_key_load_private(o->key, &k)) != 0)
        return cli_fail_rc(rc, o->key);
    rc = gov_dataset_record_bytes(o->uuid, o->dataset_id, o->owner, o->name, o->store, o->key_source, &bytes,
                                  &len);
    if (rc == 0)
        rc = gov_key_sign_b64(k, bytes, len, &sig);
    gov_key_free(k);
    free(bytes);
    if (rc != 0)
        return cli_fail_rc(rc, NULL);
    v = json_object_new_object();
    json_object_object_add(v, "uuid", json_object_new_string(o->uuid));
    json_object_object_add(v, "id", json_object_new_string(o->dataset_id));
    json_object_object_add(v, "owner", json_object_new_string(o->owner));
    if (o->name != NULL)
        json_object_object_add(v, "name", json_object_new_string(o->name));
    if (o->store != NULL)
        json_object_object_add(v, "store", json_object_new_string(o->store));
    if (o->key_source != NULL)
        json_object_object_add(v, "keySource", json_object_new_string(o->key_source));
    json_object_object_add(v, "signature", json_object_new_string(sig));
    free(sig);
    rc = registry_call(
        o, "POST", "/datasets",
        json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(v);
    return rc;
}

int cli_cmd_gov_registry(int argc, char **argv)
{
    static const struct option opts[] = {
        {"url", required_argument, 0, 'u'},   {"token-file", required_argument, 0, 't'},
        {"id", required_argument, 0, 'i'},    {"public-key", required_argument, 0, 'p'},
        {"name", required_argument, 0, 'n'},  {"uuid", required_argument, 0, 'U'},
        {"owner", required_argument, 0, 'o'}, {"key", required_argument, 0, 'k'},
        {"store", required_argument, 0, 's'}, {"key-source", required_argument, 0, 'K'},
        {"help", no_argument, 0, 'h'},        {0}};
    struct registry_opts o = {0};
    const char *what = argv[1], *sub;
    int datasets = strcmp(what, "dataset") == 0, c, nargs;
    char path[512];

    if (argc < 3 || strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0) {
        if (argc < 3)
            return cli_usage("expected register, list or show after '%s'", what);
        fputs(registry_usage, stdout);
        return CLI_EXIT_OK;
    }
    sub = argv[2];
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc - 2, argv + 2, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'u':
            o.url = optarg;
            break;
        case 't':
            o.token_file = optarg;
            break;
        case 'i':
            if (datasets)
                o.dataset_id = optarg;
            else
                o.id = optarg;
            break;
        case 'p':
            o.public_key = optarg;
            break;
        case 'n':
            o.name = optarg;
            break;
        case 'U':
            o.uuid = optarg;
            break;
        case 'o':
            o.owner = optarg;
            break;
        case 'k':
            o.key = optarg;
            break;
        case 's':
            o.store = optarg;
            break;
        case 'K':
            o.key_source = optarg;
            break;
        case 'h':
            fputs(registry_usage, stdout);
            return CLI_EXIT_OK;
        default:
            return cli_usage("unknown option or missing value: %s", argv[2 + optind - 1]);
        }
    }
    nargs = argc - 2 - optind;
    if (o.url == NULL)
        return cli_usage("%s %s needs --url URL", what, sub);
    if (strcmp(sub, "register") == 0) {
        if (nargs != 0)
            return cli_usage("%s register takes no arguments", what);
        if ((datasets && o.public_key != NULL) ||
            (!datasets && (o.key || o.uuid || o.owner || o.store || o.key_source)))
            return cli_usage("an option of the other register command was given; see ccrfs gov %s --help",
                             what);
        return datasets ? dataset_register(&o) : party_register(&o);
    }
    if (strcmp(sub, "list") == 0) {
        if (nargs != 0)
            return cli_usage("%s list takes no arguments", what);
        if (datasets && o.owner != NULL) {
            char *esc = gov_http_escape(o.owner);
            if (esc == NULL)
                return cli_fail_rc(ENOMEM, NULL);
            snprintf(path, sizeof path, "/datasets?owner=%s", esc);
            free(esc);
            return registry_call(&o, "GET", path, NULL);
        }
        return registry_call(&o, "GET", datasets ? "/datasets" : "/parties", NULL);
    }
    if (strcmp(sub, "show") == 0) {
        if (nargs != 1)
            return cli_usage("%s show takes one %s", what, datasets ? "UUID" : "party id");
        if (show_path(path, sizeof path, datasets ? "datasets" : "parties", argv[2 + optind]) != 0)
            return cli_fail_rc(ENOMEM, NULL);
        return registry_call(&o, "GET", path, NULL);
    }
    return cli_usage("unknown %s command '%s' (register, list or show)", what, sub);
}
