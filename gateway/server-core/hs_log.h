/* hs_log: the process-wide logger. One line per message on stderr, either for people
 * ("2026-11-23T10:00:00.123Z INFO  http: listening on ...") or as JSON lines for log
 * collectors ({"ts":...,"level":"info","module":"http","msg":"..."}).
 * Safe to call from any thread; a line is never interleaved with another. */
#ifndef HS_LOG_H
#define HS_LOG_H

#include <stdarg.h>

typedef enum { HS_LOG_DEBUG = 0, HS_LOG_INFO, HS_LOG_WARN, HS_LOG_ERROR } hs_log_level;
typedef enum { HS_LOG_HUMAN = 0, HS_LOG_JSON } hs_log_format;

/* Sets the minimum level and the format. Call once at start, before threads run. */
void hs_log_setup(hs_log_level min_level, hs_log_format format);

/* Parses "debug"/"info"/"warn"/"error" (and "warning"). Returns 0 on success, -1 if unknown. */
int hs_log_level_parse(const char *s, hs_log_level *out);

/* Parses "human"/"json". Returns 0 on success, -1 if unknown. */
int hs_log_format_parse(const char *s, hs_log_format *out);

/* Writes one message from `module` if `level` is at or above the minimum. */
void hs_log(hs_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void hs_logv(hs_log_level level, const char *module, const char *fmt, va_list ap);

#define hs_debug(mod, ...) hs_log(HS_LOG_DEBUG, mod, __VA_ARGS__)
#define hs_info(mod, ...)  hs_log(HS_LOG_INFO, mod, __VA_ARGS__)
#define hs_warn(mod, ...)  hs_log(HS_LOG_WARN, mod, __VA_ARGS__)
#define hs_error(mod, ...) hs_log(HS_LOG_ERROR, mod, __VA_ARGS__)

#endif
