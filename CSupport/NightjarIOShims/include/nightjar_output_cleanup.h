/* Temporaries of output files still being written, removed when SIGTERM, SIGINT or SIGHUP
 * ends the process. A signal handler may only use async-signal-safe calls, so the paths live
 * in a fixed table of C strings that the handler walks with unlink(2). Swift owns the naming
 * and the lifetime (OutputFile); this file only keeps the table and the handler. */
#ifndef NIGHTJAR_OUTPUT_CLEANUP_H
#define NIGHTJAR_OUTPUT_CLEANUP_H

#ifdef __cplusplus
extern "C" {
#endif

/* Creates a temporary with open(path, flags, mode) and records it in one step, so that a
 * signal arriving on any thread either finds it recorded or finds no file. Returns the file
 * descriptor (or -1 with errno set) and stores the slot for nj_cleanup_forget in *slot_out
 * (-1 when the table is full or the path too long, or the open failed). */
int nj_cleanup_create(const char *path, int flags, unsigned mode, int *slot_out);

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
