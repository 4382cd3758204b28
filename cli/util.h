/* Shared pieces of the command-line programs: messages, option values, progress bars. */
#ifndef CCRFS_CLI_UTIL_H
#define CCRFS_CLI_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* The running subcommand's name, for messages ("ccrfs pack: ..."). */
extern const char *cli_command_name;

/* Prints "ccrfs CMD: <message>" to stderr and returns CLI_EXIT_FAIL. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints the last error message recorded for rc, with optional context, returns CLI_EXIT_FAIL. */
int cli_fail_rc(int rc, const char *context);
/* Prints "ccrfs CMD: <message>" and a hint to --help, returns CLI_EXIT_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses "64K", "1M", "4096" into bytes; EINVAL on anything else. */
int cli_parse_size(const char *text, uint64_t *out);
/* Parses an unsigned decimal number within [min, max]. */
int cli_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out);

/* The S3 store options of the commands that open stores, spliced into a command's struct
 * option table (getopt.h) and help text. */
enum { CLI_STORE_OPT_S3_ENDPOINT = 0x3000, CLI_STORE_OPT_S3_REGION };
#define CLI_STORE_LONG_OPTIONS                                                                               \
    {"s3-endpoint", required_argument, 0, CLI_STORE_OPT_S3_ENDPOINT},                                        \
    {                                                                                                        \
        "s3-region", required_argument, 0, CLI_STORE_OPT_S3_REGION                                           \
    }
#define CLI_STORE_USAGE                                                                                      \
    "  --s3-endpoint URL       s3://: the S3 endpoint, scheme://host[:port] (default AWS_ENDPOINT_URL_S3,\n" \
    "                          AWS_ENDPOINT_URL, else AWS); an IP or localhost is addressed path-style\n"    \
    "  --s3-region REGION      s3://: the region (default AWS_REGION, AWS_DEFAULT_REGION, the profile's,\n"  \
    "                          us-east-1)\n"
/* Takes one option if it is a store option: 1 when consumed, 0 when not ours, -1 (message
 * printed) when its value is malformed. The value goes into the environment
 * (CCRFS_S3_ENDPOINT, CCRFS_S3_REGION), where every store opener reads it, the mount daemon
 * after it detaches included. */
int cli_store_option_take(int c, const char *arg);

/* Cuts a URL argument in place down to what anyone may see (no query, no userinfo), so that
 * /proc/PID/cmdline shows no secret; the caller keeps a copy of the original first. */
void cli_scrub_arg(char *arg);

/* A hidden sibling path for building `path` before renaming it into place (malloc'd). */
char *cli_temp_sibling(const char *path);
/* Removes a folder tree this program created (never follows links). */
void cli_remove_tree(const char *path);

/* A progress bar on stderr when it is a terminal and the work is large; silent otherwise. */
struct cli_progress {
    const char *label;
    uint64_t total, done, last_shown_ms, start_ms;
    int enabled;
};
void cli_progress_start(struct cli_progress *p, const char *label, uint64_t total);
void cli_progress_add(struct cli_progress *p, uint64_t bytes);
void cli_progress_finish(struct cli_progress *p);

struct launch_dataset;
struct keys_release_request;
/* Opens the store at url (a folder or a store URL), obtains the key from the source the
 * request names, and opens the dataset, pinned to expect_id when given (launch/dataset.h).
 * Prints the reason and returns CLI_EXIT_FAIL on failure. */
int cli_open_dataset(const char *url, const struct keys_release_request *keysrc, const char *expect_id,
                     struct launch_dataset *d);
void cli_close_dataset(struct launch_dataset *d);

#endif
