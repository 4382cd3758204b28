/* ccrfs gov party / gov dataset: the governance service's party and dataset registry. */
#ifndef CCRFS_CLI_CMD_GOV_REGISTRY_H
#define CCRFS_CLI_CMD_GOV_REGISTRY_H

/* argv[1] is "party" or "dataset"; returns the exit status (cli/commands.h). */
int cli_cmd_gov_registry(int argc, char **argv);

#endif
