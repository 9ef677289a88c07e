/* Temporaries of output files still being written, removed when SIGTERM, SIGINT or SIGHUP
 * ends the process. A signal handler may only use async-signal-safe calls, so the paths live
 * in a fixed table of C strings that the handler walks with unlink(2). Swift owns the naming
 * and the lifetime (OutputFile); this file only keeps the table and the handler. */
#ifndef NIGHTJAR_OUTPUT_CLEANUP_H
#define NIGHTJAR_OUTPUT_CLEANUP_H

#ifdef __cplusplus
extern "C" {
#endif

/* Records `path` (at most 4095 bytes) as a temporary of this process. Returns the slot to pass
 * to nj_cleanup_forget, or -1 when the table is full or the path too long (the temporary is
 * then only removed by the next run's cleaning). */
int nj_cleanup_remember(const char *path);

/* Forgets a slot (the temporary was renamed into place or removed). */
void nj_cleanup_forget(int slot);

/* Installs the handler for SIGTERM, SIGINT and SIGHUP where their disposition is still the
 * default (a program with handlers of its own calls nj_cleanup_remove_all itself). Idempotent. */
void nj_cleanup_install_handlers(void);

/* Unlinks every remembered temporary of this process; async-signal-safe. */
void nj_cleanup_remove_all(void);

/* How many slots are in use (for tests). */
int nj_cleanup_count(void);

#ifdef __cplusplus
}
#endif

#endif
