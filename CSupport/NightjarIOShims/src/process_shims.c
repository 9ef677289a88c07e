#include "nightjar_io_shims.h"

#include <stdlib.h> /* defines __GLIBC__ where it is glibc */

#if defined(__GLIBC__)
#include <malloc.h>
#endif

int nj_limit_malloc_arenas(int count) {
#if defined(__GLIBC__) && defined(M_ARENA_MAX)
    return mallopt(M_ARENA_MAX, count);
#else
    (void)count;
    return 0;
#endif
}
