/* ccrfs: one program, many subcommands. */
#include "cli/commands.h"
#include "cli/util.h"
#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct cli_command cli_commands[] = {
    {"keygen", cli_cmd_keygen, "create a new data encryption key file"},
    {"pack", cli_cmd_pack, "encrypt a folder into a dataset (manifest and blobs)"},
    {"inspect", cli_cmd_inspect, "show what a blob or manifest says, and with --key its files"},
    {"verify", cli_cmd_verify, "authenticate every block and hash of a dataset"},
    {"unpack", cli_cmd_unpack, "decrypt a dataset back into a folder"},
    {"mount", cli_cmd_mount, "serve a dataset as a read-only file system (FUSE)"},
    {"push", cli_cmd_push, "upload a packed dataset to a store (az://, http(s)://, a folder)"},
    {"attest", cli_cmd_attest, "SEV-SNP evidence: simulate a guest, make and verify reports"},
    {"kbs", cli_cmd_kbs, "a local key broker (KBS protocol) and its admin calls"},
    {"wrap", cli_cmd_wrap, "wrap a key for Azure Secure Key Release (dek.wrapped.json)"},
    {"audit", cli_cmd_audit, "verify an audit log and report who read what"},
    {"gov", cli_cmd_gov, "governance service, contracts and party keys"},
};

static void print_help(FILE *out)
{
    fprintf(out, "usage: ccrfs COMMAND [OPTIONS] [ARGS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
        fprintf(out, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(out, "\n'ccrfs COMMAND --help' describes a command. Version %s.\n", CCRFS_VERSION);
}

/* Called as a mount helper: by the name mount.ccrfs (mount -t ccrfs, fstab), or by
 * mount.fuse3 for type fuse.ccrfs, which runs "ccrfs SOURCE DIR -o OPTS". */
static int is_mount_helper_call(int argc, char **argv)
{
    const char *base = strrchr(argv[0], '/');
    struct stat st;

    base = base ? base + 1 : argv[0];
    if (strcmp(base, "mount.ccrfs") == 0 || strcmp(base, "mount.fuse.ccrfs") == 0)
        return 1;
    for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
        if (argc > 1 && strcmp(argv[1], cli_commands[i].name) == 0)
            return 0;
    return argc >= 3 && argv[1][0] != '-' && stat(argv[2], &st) == 0 && S_ISDIR(st.st_mode);
}

int main(int argc, char **argv)
{
    static char name[64];

    if (is_mount_helper_call(argc, argv)) {
        cli_command_name = "mount.ccrfs";
        ccr_log_set_prefix(cli_command_name);
        return cli_cmd_mount_helper(argc, argv);
    }
    if (argc < 2) {
        print_help(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        print_help(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("ccrfs %s\n", CCRFS_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++) {
        if (strcmp(argv[1], cli_commands[i].name) == 0) {
            snprintf(name, sizeof name, "ccrfs %s", cli_commands[i].name);
            cli_command_name = name;
            ccr_log_set_prefix(name);
            return cli_commands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "ccrfs: unknown command '%s' (see 'ccrfs --help')\n", argv[1]);
    return CLI_EXIT_USAGE;
}
