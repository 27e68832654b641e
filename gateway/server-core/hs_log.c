/* hs_log: formats the whole line into a local buffer first and writes it with one
 * fwrite under the stdio lock, so concurrent threads never interleave within a line.
 * JSON output escapes the message with jansson rather than by hand. */
#include "server-core/hs_log.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static hs_log_level g_min = HS_LOG_INFO;
static hs_log_format g_format = HS_LOG_HUMAN;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const level_tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

void hs_log_setup(hs_log_level min_level, hs_log_format format)
{
    g_min = min_level;
    g_format = format;
}

int hs_log_level_parse(const char *s, hs_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            *out = (hs_log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = HS_LOG_WARN;
        return 0;
    }
    return -1;
}

int hs_log_format_parse(const char *s, hs_log_format *out)
{
    if (strcasecmp(s, "human") == 0) *out = HS_LOG_HUMAN;
    else if (strcasecmp(s, "json") == 0) *out = HS_LOG_JSON;
    else return -1;
    return 0;
}

static void timestamp(char *buf, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

void hs_logv(hs_log_level level, const char *module, const char *fmt, va_list ap)
{
    if (level < g_min) return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    char ts[40];
    timestamp(ts, sizeof ts);

    char line[4096];
    int n;
    if (g_format == HS_LOG_JSON) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level_names[level],
                              "module", module, "msg", msg);
        char *s = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
        n = snprintf(line, sizeof line, "%s\n", s ? s : "{\"msg\":\"log encoding failed\"}");
        free(s);
        json_decref(o);
    } else {
        n = snprintf(line, sizeof line, "%s %s %s: %s\n", ts, level_tags[level], module, msg);
    }
    if (n < 0) return;
    if ((size_t)n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    flockfile(stderr);
    fwrite(line, 1, (size_t)n, stderr);
    funlockfile(stderr);
}

void hs_log(hs_log_level level, const char *module, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    hs_logv(level, module, fmt, ap);
    va_end(ap);
}
