#include "nightjar_output_cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NJ_CLEANUP_SLOTS 64
#define NJ_CLEANUP_PATH 4096

/* state: 0 free, 1 being filled, 2 holds a path, 3 holds a path whose file is being created.
 * The handler reads only slots whose owner is the current process (a forked decoder child
 * inherits the table and must not remove its parent's files). */
static struct {
    volatile int state;
    volatile pid_t owner;
    char path[NJ_CLEANUP_PATH];
} slots[NJ_CLEANUP_SLOTS];

int nj_cleanup_create(const char *path, int flags, unsigned mode, int *slot_out) {
    *slot_out = -1;
    size_t length = strlen(path);
    int slot = -1;
    if (length < NJ_CLEANUP_PATH) {
        for (int i = 0; i < NJ_CLEANUP_SLOTS && slot < 0; i++) {
            int expected = 0;
            if (__atomic_compare_exchange_n(&slots[i].state, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) slot = i;
        }
    }
    if (slot < 0) return open(path, flags, mode);
    memcpy(slots[slot].path, path, length + 1);
    slots[slot].owner = getpid();
    /* The handler must not run on this thread while the slot is in state 3: it would wait for
     * an open that cannot finish. Any other thread that takes the signal waits for it. */
    sigset_t block, previous;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &previous);
    __atomic_store_n(&slots[slot].state, 3, __ATOMIC_RELEASE);
    int fd = open(path, flags, mode);
    int saved_errno = errno;
    __atomic_store_n(&slots[slot].state, fd >= 0 ? 2 : 0, __ATOMIC_RELEASE);
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    errno = saved_errno;
    if (fd >= 0) *slot_out = slot;
    return fd;
}

void nj_cleanup_forget(int slot) {
    if (slot < 0 || slot >= NJ_CLEANUP_SLOTS) return;
    __atomic_store_n(&slots[slot].state, 0, __ATOMIC_RELEASE);
}

void nj_cleanup_remove_all(void) {
    pid_t self = getpid();
    for (int i = 0; i < NJ_CLEANUP_SLOTS; i++) {
        if (slots[i].owner != self) continue;
        /* A file being created on another thread: wait (bounded) until its open returns, so
         * that it is not created just after this pass. */
        const struct timespec pause = {0, 1000000};
        for (int waited = 0; waited < 2000 && __atomic_load_n(&slots[i].state, __ATOMIC_ACQUIRE) == 3; waited++) {
            nanosleep(&pause, NULL);
        }
        if (__atomic_load_n(&slots[i].state, __ATOMIC_ACQUIRE) == 2) unlink(slots[i].path);
    }
}

int nj_cleanup_count(void) {
    int count = 0;
    for (int i = 0; i < NJ_CLEANUP_SLOTS; i++) count += __atomic_load_n(&slots[i].state, __ATOMIC_ACQUIRE) == 2;
    return count;
}

/* SA_RESETHAND puts the default action back and SA_NODEFER lets raise() deliver at once, so
 * the process still ends by the signal (its parent sees WIFSIGNALED, as without the handler). */
static void remove_and_reraise(int signal_number) {
    int saved_errno = errno;
    nj_cleanup_remove_all();
    errno = saved_errno;
    raise(signal_number);
}

void nj_cleanup_install_handlers(void) {
    static volatile int installed = 0;
    if (__atomic_exchange_n(&installed, 1, __ATOMIC_ACQ_REL)) return;
    const int signals[] = {SIGTERM, SIGINT, SIGHUP};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        struct sigaction current;
        if (sigaction(signals[i], NULL, &current) != 0) continue;
        if (current.sa_handler != SIG_DFL || (current.sa_flags & SA_SIGINFO)) continue;
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = remove_and_reraise;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESETHAND | SA_NODEFER;
        sigaction(signals[i], &action, NULL);
    }
}
