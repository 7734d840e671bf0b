/* The shared protocol of the selftest attack programs (see
 * runtime/src/selftest/verdict.rs, which reads it).
 *
 * Each attack is one function in its own file, run as `/attack NAME` in
 * a container. It prints "START NAME" first (main.c does), any detail
 * lines, then exactly one last line:
 *   RESULT worked  <what happened>   the attack did what it tries
 *   RESULT blocked <errno or reason> it did not
 * Attacks whose effect the runner can check on the host (a secret file
 * read, a host process touched, a host file changed) also print what
 * they obtained (e.g. "LEAK <text>"); there the runner's check on the
 * host, not the attack's own word, decides "escaped". */
#ifndef SELFTEST_ATTACK_H
#define SELFTEST_ATTACK_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Written by the attacks that reach the decoy's memory; the decoy is the
 * same static, non-PIE binary, so the variable has the same address in
 * it. The decoy exits with DECOY_EXIT_MEMORY when it sees DECOY_MAGIC. */
#define DECOY_MAGIC 0x5e1f7e57L
#define DECOY_EXIT_SIGNAL 42
#define DECOY_EXIT_MEMORY 43
extern volatile long decoy_flag;

#define WORKED(...)                                                                                \
    do {                                                                                           \
        printf("RESULT worked ");                                                                  \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        return 0;                                                                                  \
    } while (0)

#define BLOCKED(...)                                                                               \
    do {                                                                                           \
        printf("RESULT blocked ");                                                                 \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        return 0;                                                                                  \
    } while (0)

/* "blocked: <what> failed with ENAME" from the current errno. */
#define BLOCKED_ERRNO(what) BLOCKED("%s: %s", what, errname(errno))

static inline const char *errname(int e) {
    const char *n = strerrorname_np(e);
    return n ? n : "unknown errno";
}

/* An environment variable the runner sets; the attack ends "blocked"
 * with a clear reason if it is missing (never dereferences NULL). */
static inline const char *need_env(const char *name) {
    const char *v = getenv(name);
    if (!v || !*v) {
        printf("RESULT blocked missing %s in the environment\n", name);
        exit(0);
    }
    return v;
}

/* The decoy's host pid (SELFTEST_DECOY_PID). */
static inline int decoy_pid(void) { return atoi(need_env("SELFTEST_DECOY_PID")); }

/* Opens /proc/<decoy>/<what> with `flags`; its path is left in `path`
 * (for the report). */
static inline int open_decoy_file(const char *what, int flags, char *path, size_t cap) {
    snprintf(path, cap, "/proc/%d/%s", decoy_pid(), what);
    return open(path, flags);
}

/* Reads up to cap-1 bytes of fd into buf, NUL-terminated; -1 on error. */
long read_all(int fd, char *buf, size_t cap);

/* Reads a secret from fd and prints it as "LEAK <text>" for the runner
 * to compare; -1 (errno set) if it cannot be read. */
int print_leak(int fd);

#endif
