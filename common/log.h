/*
 * log: levelled, printf-checked log lines to stderr, as text or JSON.
 *
 * The level and format are process-wide: set once by main() from the config
 * before any loop runs (the one piece of state common/ keeps, as pgbouncer's
 * log does). Macros test the level before any argument is evaluated.
 * Secrets never go through here: use log_redact_url() on connection strings.
 */
#ifndef MW_LOG_H
#define MW_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_TEXT = 0, LOG_JSON };

void log_setup(enum log_level level, enum log_format format, const char *component);
bool log_enabled(enum log_level level);

/* user_db_id < 0 and entry == NULL mean "no such context". */
void log_write(enum log_level level, int64_t user_db_id, const char *entry, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define log_error(...) do { if (log_enabled(LOG_ERROR)) log_write(LOG_ERROR, -1, NULL, __VA_ARGS__); } while (0)
#define log_warn(...)  do { if (log_enabled(LOG_WARN))  log_write(LOG_WARN,  -1, NULL, __VA_ARGS__); } while (0)
#define log_info(...)  do { if (log_enabled(LOG_INFO))  log_write(LOG_INFO,  -1, NULL, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_write(LOG_DEBUG, -1, NULL, __VA_ARGS__); } while (0)

/* With the user and stream entry in front (pgbouncer's slog_*). */
#define ulog_error(u, e, ...) do { if (log_enabled(LOG_ERROR)) log_write(LOG_ERROR, (u), (e), __VA_ARGS__); } while (0)
#define ulog_warn(u, e, ...)  do { if (log_enabled(LOG_WARN))  log_write(LOG_WARN,  (u), (e), __VA_ARGS__); } while (0)
#define ulog_info(u, e, ...)  do { if (log_enabled(LOG_INFO))  log_write(LOG_INFO,  (u), (e), __VA_ARGS__); } while (0)
#define ulog_debug(u, e, ...) do { if (log_enabled(LOG_DEBUG)) log_write(LOG_DEBUG, (u), (e), __VA_ARGS__); } while (0)

/*
 * Copies url into out (size outlen) with any password replaced by "***":
 * "postgres://u:pw@h/db" -> "postgres://u:***@h/db", and "password=..." in a
 * libpq keyword string. Always NUL-terminates; returns out.
 */
char *log_redact_url(const char *url, char *out, size_t outlen);

/* Aborts with a log line: allocation failure in a daemon is not recoverable. */
void *mw_malloc(size_t n);
void *mw_calloc(size_t n, size_t size);
void *mw_realloc(void *p, size_t n);
char *mw_strdup(const char *s);
char *mw_strndup(const char *s, size_t n);

#endif
