#include "cli/util.h"
#include "cli/commands.h"
#include "common/clock.h"
#include "common/err.h"
#include "fetch/http.h"
#include "launch/dataset.h"

#include <ctype.h>
#include <errno.h>
#include <ftw.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *cli_command_name = "ccrfs";

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cli_command_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_EXIT_FAIL;
}

int cli_fail_rc(int rc, const char *context)
{
    if (context != NULL)
        return cli_fail("%s: %s", context, ccr_err_msg(rc));
    return cli_fail("%s", ccr_err_msg(rc));
}

int cli_usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", cli_command_name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see '%s --help')\n", cli_command_name);
    return CLI_EXIT_USAGE;
}

int cli_parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (text == NULL || !isdigit((unsigned char)text[0]))
        return EINVAL;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return EINVAL;
    *out = v;
    return 0;
}

int cli_parse_size(const char *text, uint64_t *out)
{
    char *end;
    unsigned long long v;
    uint64_t mult = 1;

    if (text == NULL || !isdigit((unsigned char)text[0]))
        return EINVAL;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno != 0)
        return EINVAL;
    if (*end != '\0') {
        switch (toupper((unsigned char)*end)) {
        case 'K':
            mult = UINT64_C(1) << 10;
            break;
        case 'M':
            mult = UINT64_C(1) << 20;
            break;
        case 'G':
            mult = UINT64_C(1) << 30;
            break;
        default:
            return EINVAL;
        }
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'B' || *end == 'b')
            end++;
        if (*end != '\0')
            return EINVAL;
    }
    if (v > UINT64_MAX / mult)
        return EINVAL;
    *out = v * mult;
    return 0;
}

void cli_progress_start(struct cli_progress *p, const char *label, uint64_t total)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total;
    p->start_ms = ccr_clock_mono_ms();
    /* Only worth drawing for large inputs, and only for a person watching. */
    p->enabled = isatty(STDERR_FILENO) && total >= (64u << 20);
}

static void progress_draw(struct cli_progress *p)
{
    unsigned pct = p->total ? (unsigned)(p->done * 100 / p->total) : 100;
    unsigned filled = pct * 30 / 100;
    double secs = (double)(ccr_clock_mono_ms() - p->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)p->done / secs / 1048576.0 : 0;
    char bar[31];

    memset(bar, '#', filled);
    memset(bar + filled, '.', 30 - filled);
    bar[30] = '\0';
    fprintf(stderr, "\r%s [%s] %3u%% %llu/%llu MiB %.0f MiB/s ", p->label, bar, pct,
            (unsigned long long)(p->done >> 20), (unsigned long long)(p->total >> 20), rate);
    fflush(stderr);
}

void cli_progress_add(struct cli_progress *p, uint64_t bytes)
{
    uint64_t t;
    p->done += bytes;
    if (!p->enabled)
        return;
    t = ccr_clock_mono_ms();
    if (t - p->last_shown_ms >= 200) {
        p->last_shown_ms = t;
        progress_draw(p);
    }
}

void cli_progress_finish(struct cli_progress *p)
{
    if (!p->enabled)
        return;
    progress_draw(p);
    fputc('\n', stderr);
}

void cli_scrub_arg(char *arg)
{
    size_t len = strlen(arg);
    char *pub = malloc(len + 1);

    if (pub == NULL) {
        memset(arg, 0, len); /* nothing shown beats a secret shown */
        return;
    }
    fetch_url_public(arg, pub, len + 1);
    memset(arg, 0, len);
    memcpy(arg, pub, strlen(pub));
    free(pub);
}

char *cli_temp_sibling(const char *path)
{
    char *copy = strdup(path), *copy2 = strdup(path), *result = NULL;
    if (copy != NULL && copy2 != NULL) {
        const char *dir = dirname(copy), *base = basename(copy2);
        size_t n = strlen(dir) + strlen(base) + 48;
        result = malloc(n);
        if (result != NULL)
            snprintf(result, n, "%s/.%s.partial-%ld", dir, base, (long)getpid());
    }
    free(copy);
    free(copy2);
    return result;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void cli_remove_tree(const char *path)
{
    (void)nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int cli_open_dataset(const char *url, const struct keys_release_request *keysrc, const char *expect_id,
                     struct launch_dataset *d)
{
    int rc = launch_dataset_open(url, keysrc, expect_id, d);
    return rc == 0 ? CLI_EXIT_OK : cli_fail_rc(rc, NULL);
}

void cli_close_dataset(struct launch_dataset *d)
{
    launch_dataset_close(d);
}

int cli_store_option_take(int c, const char *arg)
{
    const char *name;

    if (c == CLI_STORE_OPT_S3_ENDPOINT)
        name = "CCRFS_S3_ENDPOINT";
    else if (c == CLI_STORE_OPT_S3_REGION)
        name = "CCRFS_S3_REGION";
    else
        return 0;
    if (arg[0] == '\0' || strpbrk(arg, " \t\r\n") != NULL) {
        cli_usage("--%s: expected a value without spaces",
                  c == CLI_STORE_OPT_S3_ENDPOINT ? "s3-endpoint" : "s3-region");
        return -1;
    }
    if (setenv(name, arg, 1) != 0) {
        cli_fail("out of memory");
        return -1;
    }
    return 1;
}
