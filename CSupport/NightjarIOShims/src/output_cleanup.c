#include "nightjar_output_cleanup.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#define NJ_CLEANUP_SLOTS 64
#define NJ_CLEANUP_PATH 4096

/* state: 0 free, 1 being filled or emptied, 2 holds a path. The handler reads only slots in
 * state 2 whose owner is the current process (a forked decoder child inherits the table and
 * must not remove its parent's files). */
static struct {
    volatile int state;
    volatile pid_t owner;
    char path[NJ_CLEANUP_PATH];
} slots[NJ_CLEANUP_SLOTS];

int nj_cleanup_remember(const char *path) {
    size_t length = strlen(path);
    if (length >= NJ_CLEANUP_PATH) return -1;
    for (int i = 0; i < NJ_CLEANUP_SLOTS; i++) {
        int expected = 0;
        if (__atomic_compare_exchange_n(&slots[i].state, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
            memcpy(slots[i].path, path, length + 1);
            slots[i].owner = getpid();
            __atomic_store_n(&slots[i].state, 2, __ATOMIC_RELEASE);
            return i;
        }
    }
    return -1;
}

void nj_cleanup_forget(int slot) {
    if (slot < 0 || slot >= NJ_CLEANUP_SLOTS) return;
    __atomic_store_n(&slots[slot].state, 0, __ATOMIC_RELEASE);
}

void nj_cleanup_remove_all(void) {
    pid_t self = getpid();
    for (int i = 0; i < NJ_CLEANUP_SLOTS; i++) {
        if (__atomic_load_n(&slots[i].state, __ATOMIC_ACQUIRE) == 2 && slots[i].owner == self) {
            unlink(slots[i].path);
        }
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
