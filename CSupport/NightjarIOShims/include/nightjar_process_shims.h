/* Process-wide settings that only C can reach (glibc's mallopt). */
#ifndef NIGHTJAR_PROCESS_SHIMS_H
#define NIGHTJAR_PROCESS_SHIMS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Caps how many malloc arenas glibc creates (mallopt M_ARENA_MAX); 1 on success, 0 where
 * refused or not glibc. */
int nj_limit_malloc_arenas(int count);

#ifdef __cplusplus
}
#endif

#endif
