/* ccrfs gov: placeholder replaced below. */
#include "cli/commands.h"
int cli_cmd_gov(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    return CLI_EXIT_FAIL;
}
