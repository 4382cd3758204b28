/* The ccrfs subcommands. Each returns the process exit status:
 * 0 success, 1 the operation failed (a clear message was printed), 2 bad usage. */
#ifndef CCRFS_CLI_COMMANDS_H
#define CCRFS_CLI_COMMANDS_H

#define CLI_EXIT_OK    0
#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

int cli_cmd_keygen(int argc, char **argv);
int cli_cmd_pack(int argc, char **argv);
int cli_cmd_inspect(int argc, char **argv);
int cli_cmd_verify(int argc, char **argv);
int cli_cmd_unpack(int argc, char **argv);
int cli_cmd_mount(int argc, char **argv);
/* mount.ccrfs SOURCE DIR -o OPTS (mount(8), fstab, mount.fuse3 for type fuse.ccrfs). */
int cli_cmd_mount_helper(int argc, char **argv);
int cli_cmd_push(int argc, char **argv);
int cli_cmd_attest(int argc, char **argv);
int cli_cmd_kbs(int argc, char **argv);
int cli_cmd_wrap(int argc, char **argv);
int cli_cmd_audit(int argc, char **argv);
int cli_cmd_gov(int argc, char **argv);

#endif
