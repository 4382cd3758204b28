/* ccrfs gov party / gov dataset: the governance service's party and dataset registry. */
#ifndef CCRFS_CLI_CMD_GOV_REGISTRY_H
#define CCRFS_CLI_CMD_GOV_REGISTRY_H

#include <stddef.h>

/* argv[1] is "party" or "dataset"; returns the exit status (cli/commands.h). */
int cli_cmd_gov_registry(int argc, char **argv);

struct json_object;
/* One request to the governance service (token from gov_token_load(token_file)): with
 * reply_out the parsed reply is handed back, else printed as pretty JSON; a non-2xx answer
 * prints the service's message. Returns the exit status. Defined in cli/cmd_gov.c. */
int cli_gov_call(const char *url, const char *token_file, const char *method, const char *path,
                 const char *body, size_t len, struct json_object **reply_out);

#endif
