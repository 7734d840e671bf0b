/* Threads: futex operations, robust lists, pthread synchronisation,
 * thread identity, thread exit, and signals aimed at threads, checked
 * against futex(2), set_robust_list(2), gettid(2), tgkill(2),
 * pthread_mutexattr_setrobust(3) and signal(7). Each group runs in its own
 * process with a bound, so a lost wake-up fails only its own checks. */
#include "check.h"
#include <dirent.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>

static long futex(_Atomic int *uaddr, int op, int val, const struct timespec *ts, _Atomic int *uaddr2, int val3) {
    return syscall(SYS_futex, uaddr, op, val, ts, uaddr2, val3);
}

static _Atomic int f1, f2, ready;

static void *waiter(void *arg) {
    long bits = (long)arg;
    atomic_fetch_add(&ready, 1);
    long r;
    do {
        if (bits) r = futex(&f1, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, 0, NULL, NULL, (int)bits);
        else r = futex(&f1, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    } while (r == -1 && errno == EINTR);
    return (void *)r;
}

/* Waits until `n` waiters have announced themselves, then gives them time to sleep. */
static void await_ready(int n) {
    while (atomic_load(&ready) < n) sched_yield();
    sleep_ms(100);
}

static void futex_checks(void) {
    f1 = 5;
    ERR("futex-wait-mismatch-eagain", futex(&f1, FUTEX_WAIT_PRIVATE, 4, NULL, NULL, 0), EAGAIN);
    struct timespec rel = { 0, 50 * 1000000 };
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    ERR("futex-wait-timeout-etimedout", futex(&f1, FUTEX_WAIT_PRIVATE, 5, &rel, NULL, 0), ETIMEDOUT);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    CHECK("futex-wait-timeout-waits", ms >= 45 && ms < 2000, "waited %ld ms", ms);
    clock_gettime(CLOCK_MONOTONIC, &a);
    a.tv_nsec += 50 * 1000000;
    if (a.tv_nsec >= 1000000000) { a.tv_sec++; a.tv_nsec -= 1000000000; }
    ERR("futex-wait-bitset-abs-etimedout", futex(&f1, FUTEX_WAIT_BITSET_PRIVATE, 5, &a, NULL, FUTEX_BITSET_MATCH_ANY), ETIMEDOUT);
    ERR("futex-wait-bitset-zero-einval", futex(&f1, FUTEX_WAIT_BITSET_PRIVATE, 5, NULL, NULL, 0), EINVAL);
    struct timespec bad = { 0, 1000000000 };
    ERR("futex-wait-bad-timeout-einval", futex(&f1, FUTEX_WAIT_PRIVATE, 5, &bad, NULL, 0), EINVAL);
    EQ("futex-wake-nobody", futex(&f1, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), 0);
    ERR("futex-bad-op-enosys", futex(&f1, 99, 0, NULL, NULL, 0), ENOSYS);
    ERR("futex-unaligned-einval", syscall(SYS_futex, (char *)&f1 + 1, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), EINVAL);
    ERR("futex-wait-bad-address-efault", syscall(SYS_futex, (int *)8, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0), EFAULT);

    /* WAKE wakes exactly the number asked for. */
    f1 = 0;
    ready = 0;
    pthread_t t[3];
    for (long i = 0; i < 3; i++) pthread_create(&t[i], NULL, waiter, NULL);
    await_ready(3);
    EQ("futex-wake-one", futex(&f1, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), 1);
    EQ("futex-wake-rest", futex(&f1, FUTEX_WAKE_PRIVATE, 10, NULL, NULL, 0), 2);
    void *r;
    long zeros = 0;
    for (int i = 0; i < 3; i++) { pthread_join(t[i], &r); zeros += r == NULL; }
    EQ("futex-wait-returns-0", zeros, 3);

    /* WAKE_BITSET only wakes waiters whose bits intersect. */
    ready = 0;
    pthread_create(&t[0], NULL, waiter, (void *)1L);
    await_ready(1);
    EQ("futex-wake-bitset-miss", futex(&f1, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 2), 0);
    EQ("futex-wake-bitset-hit", futex(&f1, FUTEX_WAKE_BITSET_PRIVATE, 1, NULL, NULL, 1), 1);
    pthread_join(t[0], NULL);

    /* CMP_REQUEUE: wake one, move one to f2; EAGAIN when the value changed. */
    ready = 0;
    for (long i = 0; i < 2; i++) pthread_create(&t[i], NULL, waiter, NULL);
    await_ready(2);
    ERR("futex-cmp-requeue-mismatch-eagain", futex(&f1, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1L, &f2, 7), EAGAIN);
    EQ("futex-cmp-requeue", futex(&f1, FUTEX_CMP_REQUEUE_PRIVATE, 1, (void *)1L, &f2, 0), 2);
    sleep_ms(50);
    EQ("futex-requeued-waiter-on-f2", futex(&f2, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), 1);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);

    /* WAKE_OP: *f2 = 1 (old value 0 == 0, so f2's waiters are woken too). */
    f2 = 0;
    int op = FUTEX_OP(FUTEX_OP_SET, 1, FUTEX_OP_CMP_EQ, 0);
    EQ("futex-wake-op", futex(&f1, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &f2, op), 0);
    EQ("futex-wake-op-sets-value", f2, 1);
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t bar;
static int plain_counter, done_threads;
static __thread int tls_value;
static _Atomic int tls_ok;

static void *worker(void *arg) {
    tls_value = (int)(long)arg;
    pthread_barrier_wait(&bar);
    for (int i = 0; i < 10000; i++) {
        pthread_mutex_lock(&mu);
        plain_counter++;
        pthread_mutex_unlock(&mu);
    }
    if (tls_value == (int)(long)arg) atomic_fetch_add(&tls_ok, 1);
    pthread_mutex_lock(&mu);
    done_threads++;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    return (void *)(long)gettid();
}

static void pthread_checks(void) {
    enum { N = 4 };
    pthread_t t[N];
    pthread_barrier_init(&bar, NULL, N);
    for (long i = 0; i < N; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    pthread_mutex_lock(&mu);
    while (done_threads < N) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    long tids[N];
    for (int i = 0; i < N; i++) { void *r; pthread_join(t[i], &r); tids[i] = (long)r; }
    EQ("mutex-counter", plain_counter, N * 10000);
    EQ("tls-per-thread", tls_ok, N);
    int distinct = 1;
    for (int i = 0; i < N; i++) {
        if (tids[i] == getpid()) distinct = 0;
        for (int j = 0; j < i; j++) if (tids[i] == tids[j]) distinct = 0;
    }
    CHECK("gettid-distinct-in-threads", distinct, "thread ids %ld %ld %ld %ld (pid %d)", tids[0], tids[1], tids[2], tids[3], getpid());
    EQ("main-thread-tid-is-pid", gettid(), getpid());

    struct timespec abs;
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_nsec += 50 * 1000000;
    if (abs.tv_nsec >= 1000000000) { abs.tv_sec++; abs.tv_nsec -= 1000000000; }
    pthread_mutex_lock(&mu);
    EQ("cond-timedwait-etimedout", pthread_cond_timedwait(&cv, &mu, &abs), ETIMEDOUT);
    pthread_mutex_unlock(&mu);
    pthread_mutex_t em;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&em, &ma);
    pthread_mutex_lock(&em);
    EQ("errorcheck-mutex-edeadlk", pthread_mutex_lock(&em), EDEADLK);
    pthread_mutex_unlock(&em);
    EQ("mutex-trylock-free", pthread_mutex_trylock(&em), 0);
}

static void *getpid_thread(void *arg) {
    (void)arg;
    return (void *)(long)getpid();
}
static void *exiting_thread(void *arg) {
    (void)arg;
    pthread_exit((void *)42L);
}
static void *sleeping_thread(void *arg) {
    (void)arg;
    for (;;) sleep_ms(100);
    return NULL;
}
static void *exit_group_thread(void *arg) {
    (void)arg;
    sleep_ms(50);
    exit(3);
}

static void robust_owner_dies(pthread_mutex_t *m) {
    pthread_mutex_lock(m);
}
static void *robust_thread(void *arg) {
    robust_owner_dies(arg);
    return NULL; /* exits holding the mutex */
}

static void lifecycle_checks(void) {
    pthread_t t;
    void *r;
    pthread_create(&t, NULL, getpid_thread, NULL);
    pthread_join(t, &r);
    EQ("getpid-same-in-thread", (long)r, getpid());
    pthread_create(&t, NULL, exiting_thread, NULL);
    pthread_join(t, &r);
    EQ("pthread-exit-value", (long)r, 42);

    /* A thread exits while others run; the process goes on. */
    pthread_t s;
    pthread_create(&s, NULL, sleeping_thread, NULL);
    pthread_create(&t, NULL, exiting_thread, NULL);
    pthread_join(t, &r);
    EQ("thread-exit-while-others-run", (long)r, 42);
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) n += e->d_name[0] != '.';
        closedir(d);
    }
    EQ("proc-self-task-count", n, 2);

    /* exit() from a thread ends the whole process with its status. */
    pid_t pid = fork();
    if (pid == 0) {
        pthread_t x;
        pthread_create(&x, NULL, exit_group_thread, NULL);
        for (;;) sleep_ms(100);
    }
    int st;
    EQ("exit-from-thread-status", (wait_bounded(pid, &st, 3000) == pid && WIFEXITED(st)) ? WEXITSTATUS(st) : -1, 3);

    struct robust_list_head *head = NULL;
    size_t len = 0;
    OK("get-robust-list", syscall(SYS_get_robust_list, 0, &head, &len));
    CHECK("robust-list-set-by-libc", head != NULL && len == sizeof(struct robust_list_head), "head %p len %zu", (void *)head, len);
    ERR("set-robust-list-bad-len-einval", syscall(SYS_set_robust_list, head, len + 1), EINVAL);

    /* A robust mutex whose owner died: the next locker gets EOWNERDEAD. */
    pthread_mutex_t rm;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&rm, &ma);
    pthread_create(&t, NULL, robust_thread, &rm);
    pthread_join(t, NULL);
    struct timespec abs;
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_sec += 1;
    EQ("robust-mutex-eownerdead", pthread_mutex_timedlock(&rm, &abs), EOWNERDEAD);
}

static _Atomic long handled_tid;
static _Atomic int target_ready;
static long target_tid;

static void on_usr1(int sig) {
    (void)sig;
    handled_tid = gettid();
}
static void *target_thread(void *arg) {
    (void)arg;
    target_tid = gettid();
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
    target_ready = 1;
    for (int i = 0; i < 300 && !handled_tid; i++) sleep_ms(10);
    return NULL;
}

static void signal_checks(void) {
    signal(SIGUSR1, on_usr1);
    pthread_t t;
    target_ready = 0;
    handled_tid = 0;
    pthread_create(&t, NULL, target_thread, NULL);
    while (!target_ready) sched_yield();
    OK("tgkill-thread", syscall(SYS_tgkill, getpid(), target_tid, SIGUSR1));
    pthread_join(t, NULL);
    EQ("tgkill-runs-in-target-thread", handled_tid, target_tid);

    /* A process-directed signal goes to a thread that does not block it. */
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    target_ready = 0;
    handled_tid = 0;
    pthread_create(&t, NULL, target_thread, NULL);
    while (!target_ready) sched_yield();
    kill(getpid(), SIGUSR1);
    pthread_join(t, NULL);
    EQ("kill-picks-unblocking-thread", handled_tid, target_tid);
    sigset_t mine;
    pthread_sigmask(SIG_BLOCK, NULL, &mine);
    EQ("thread-mask-is-per-thread", sigismember(&mine, SIGUSR1), 1);
    ERR("tgkill-dead-thread-esrch", syscall(SYS_tgkill, getpid(), target_tid, SIGUSR1), ESRCH);
    signal(SIGUSR1, SIG_IGN);
    pthread_sigmask(SIG_UNBLOCK, &s, NULL);
}

/* A robust, process-shared mutex in a shared mapping, as glibc lays it out
 * for lockers in different processes. */
static pthread_mutex_t *shared_robust_mutex(void) {
    pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return NULL;
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(m, &ma);
    return m;
}

/* Locks `m` for at most two seconds; the result of the lock. */
static int lock_bounded(pthread_mutex_t *m) {
    struct timespec abs;
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_sec += 2;
    return pthread_mutex_timedlock(m, &abs);
}

/* Takes the next locker's EOWNERDEAD, then proves the mutex usable again. */
static void check_owner_died(const char *name, const char *again, pthread_mutex_t *m) {
    int r = lock_bounded(m);
    EQ(name, r, EOWNERDEAD);
    if (r == EOWNERDEAD) {
        pthread_mutex_consistent(m);
        pthread_mutex_unlock(m);
        int r2 = lock_bounded(m);
        EQ(again, r2, 0);
        if (r2 == 0) pthread_mutex_unlock(m);
    } else {
        fail(again, "not reached");
    }
}

static _Atomic int robust_locked;
static void *robust_lock_and_wait(void *arg) {
    pthread_mutex_lock(arg);
    robust_locked = 1;
    for (;;) sleep_ms(100);
    return NULL;
}

static void robust_checks(void) {
    pthread_mutex_t *m = shared_robust_mutex();
    CHECK("robust-shared-mapping", m != NULL, "mmap: %s", ename(errno));
    if (!m) return;
    int st;

    /* Another process dies holding the lock (exit with nobody waiting). */
    pid_t pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(m);
        _exit(0);
    }
    wait_bounded(pid, &st, 3000);
    check_owner_died("robust-process-exit-eownerdead", "robust-process-exit-consistent", m);

    /* A waiter already blocked when the owner dies is woken. */
    pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(m);
        sleep_ms(200);
        _exit(0);
    }
    sleep_ms(50);
    check_owner_died("robust-blocked-waiter-woken", "robust-blocked-waiter-consistent", m);
    wait_bounded(pid, &st, 3000);

    /* exit_group: a thread other than the exiting one holds the lock. */
    pid = fork();
    if (pid == 0) {
        pthread_t t;
        pthread_create(&t, NULL, robust_lock_and_wait, m);
        while (!robust_locked) sleep_ms(5);
        exit(0);
    }
    wait_bounded(pid, &st, 3000);
    check_owner_died("robust-exit-group-eownerdead", "robust-exit-group-consistent", m);

    /* A killed process releases its locks too. */
    pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(m);
        for (;;) sleep_ms(100);
    }
    sleep_ms(50);
    kill(pid, SIGKILL);
    wait_bounded(pid, &st, 3000);
    check_owner_died("robust-killed-eownerdead", "robust-killed-consistent", m);

    /* execve releases the old image's locks (the new one has no list). */
    pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(m);
        execl("/bin/true", "true", (char *)NULL);
        _exit(127);
    }
    EQ("robust-exec-status", (wait_bounded(pid, &st, 3000) == pid && WIFEXITED(st)) ? WEXITSTATUS(st) : -1, 0);
    check_owner_died("robust-exec-eownerdead", "robust-exec-consistent", m);

    /* A list whose head points at unmapped memory is walked without harm. */
    pid = fork();
    if (pid == 0) {
        syscall(SYS_set_robust_list, (void *)16, sizeof(struct robust_list_head));
        _exit(7);
    }
    EQ("robust-bad-head-exit-status", (wait_bounded(pid, &st, 3000) == pid && WIFEXITED(st)) ? WEXITSTATUS(st) : -1, 7);

    /* A list that loops on itself is walked a bounded number of times. */
    pid = fork();
    if (pid == 0) {
        static struct robust_list_head head;
        static struct robust_list loop;
        loop.next = &loop;
        head.list.next = &loop;
        head.futex_offset = 8;
        head.list_op_pending = NULL;
        syscall(SYS_set_robust_list, &head, sizeof head);
        _exit(8);
    }
    EQ("robust-looping-list-exit-status", (wait_bounded(pid, &st, 3000) == pid && WIFEXITED(st)) ? WEXITSTATUS(st) : -1, 8);
}

/* Priority-inheritance futexes (futex(2), FUTEX_LOCK_PI and friends): the
 * owner-TID word protocol, and glibc's PTHREAD_PRIO_INHERIT mutexes on it. */
#ifndef FUTEX_LOCK_PI2
#define FUTEX_LOCK_PI2 13
#endif

static _Atomic int pi_word, pi_holding, pi_release, pi_waiter_tid;
static _Atomic long pi_waiter_result = 1;

static long pi_op(int op, const struct timespec *ts) {
    return futex(&pi_word, op | FUTEX_PRIVATE_FLAG, 0, ts, NULL, 0);
}

/* Takes the lock, says so, and holds it until told to release it (with
 * FUTEX_UNLOCK_PI when pi_release is 1, by exiting when it is 2). */
static void *pi_holder(void *arg) {
    (void)arg;
    pi_op(FUTEX_LOCK_PI, NULL);
    pi_holding = 1;
    while (!pi_release) sleep_ms(1);
    if (pi_release == 1) pi_op(FUTEX_UNLOCK_PI, NULL);
    return NULL;
}

/* Blocks in FUTEX_LOCK_PI and keeps the lock it gets. */
static void *pi_waiter(void *arg) {
    (void)arg;
    pi_waiter_tid = syscall(SYS_gettid);
    long r = pi_op(FUTEX_LOCK_PI, NULL);
    pi_waiter_result = r == 0 ? 0 : errno;
    return NULL;
}

/* Starts a holder and waits until it owns the lock. */
static pthread_t pi_start_holder(void) {
    pthread_t t;
    pi_word = 0;
    pi_holding = pi_release = 0;
    pthread_create(&t, NULL, pi_holder, NULL);
    while (!pi_holding) sleep_ms(1);
    return t;
}

static struct timespec abs_after(clockid_t clock, long ms) {
    struct timespec ts;
    clock_gettime(clock, &ts);
    ts.tv_nsec += (ms % 1000) * 1000000L;
    ts.tv_sec += ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    return ts;
}

static _Atomic long pi_counter;
static pthread_mutex_t pi_mutex;
static void *pi_incrementer(void *arg) {
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&pi_mutex);
        long v = pi_counter;
        if (i % 64 == 0) sched_yield();
        pi_counter = v + 1;
        pthread_mutex_unlock(&pi_mutex);
    }
    return NULL;
}

static void *pi_mutex_holder(void *arg) {
    pthread_mutex_lock(arg);
    pi_holding = 1;
    while (!pi_release) sleep_ms(1);
    if (pi_release == 1) pthread_mutex_unlock(arg);
    return NULL;
}

static void pi_checks(void) {
    int tid = syscall(SYS_gettid);
    pi_word = 0;
    EQ("pi-lock-free", pi_op(FUTEX_LOCK_PI, NULL), 0);
    EQ("pi-lock-owner-tid", pi_word, tid);
    ERR("pi-lock-self-edeadlk", pi_op(FUTEX_LOCK_PI, NULL), EDEADLK);
    ERR("pi-trylock-self-edeadlk", pi_op(FUTEX_TRYLOCK_PI, NULL), EDEADLK);
    EQ("pi-unlock", pi_op(FUTEX_UNLOCK_PI, NULL), 0);
    EQ("pi-unlock-clears-word", pi_word, 0);
    ERR("pi-unlock-unowned-eperm", pi_op(FUTEX_UNLOCK_PI, NULL), EPERM);
    EQ("pi-trylock-free", pi_op(FUTEX_TRYLOCK_PI, NULL), 0);
    EQ("pi-trylock-owner-tid", pi_word, tid);
    pi_op(FUTEX_UNLOCK_PI, NULL);
    ERR("pi-lock-realtime-flag-enosys",
        futex(&pi_word, FUTEX_LOCK_PI | FUTEX_CLOCK_REALTIME, 0, NULL, NULL, 0), ENOSYS);
    struct timespec bad = { 0, 2000000000L };
    pthread_t h = pi_start_holder();
    ERR("pi-lock-bad-timeout-einval", pi_op(FUTEX_LOCK_PI, &bad), EINVAL);

    /* Held by another thread. */
    ERR("pi-unlock-not-owner-eperm", pi_op(FUTEX_UNLOCK_PI, NULL), EPERM);
    ERR("pi-trylock-held-eagain", pi_op(FUTEX_TRYLOCK_PI, NULL), EAGAIN);
    struct timespec rt = abs_after(CLOCK_REALTIME, 50);
    ERR("pi-lock-realtime-timeout", pi_op(FUTEX_LOCK_PI, &rt), ETIMEDOUT);
    struct timespec mono = abs_after(CLOCK_MONOTONIC, 50);
    ERR("pi-lock2-monotonic-timeout", pi_op(FUTEX_LOCK_PI2, &mono), ETIMEDOUT);
    rt = abs_after(CLOCK_REALTIME, 50);
    ERR("pi-lock2-realtime-timeout",
        futex(&pi_word, FUTEX_LOCK_PI2 | FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME, 0, &rt, NULL, 0), ETIMEDOUT);

    /* A blocked waiter: the word says so, FUTEX_WAKE refuses, and the
     * unlock hands the lock straight to the waiter. */
    pthread_t w;
    pi_waiter_tid = 0;
    pi_waiter_result = 1;
    pthread_create(&w, NULL, pi_waiter, NULL);
    while (!pi_waiter_tid) sleep_ms(1);
    sleep_ms(100);
    CHECK("pi-waiters-bit", (pi_word & FUTEX_WAITERS) && (pi_word & FUTEX_TID_MASK) != (unsigned)pi_waiter_tid,
          "word %#x", pi_word);
    ERR("pi-wake-einval", futex(&pi_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), EINVAL);
    pi_release = 1;
    pthread_join(h, NULL);
    pthread_join(w, NULL);
    EQ("pi-handover-waiter-locked", pi_waiter_result, 0);
    EQ("pi-handover-word-names-waiter", pi_word & FUTEX_TID_MASK, pi_waiter_tid);

    /* The owner exits (no robust list) while a thread waits: the waiter
     * gets the lock. */
    h = pi_start_holder();
    pi_waiter_tid = 0;
    pi_waiter_result = 1;
    pthread_create(&w, NULL, pi_waiter, NULL);
    while (!pi_waiter_tid) sleep_ms(1);
    sleep_ms(100);
    pi_release = 2;
    pthread_join(h, NULL);
    pthread_join(w, NULL);
    EQ("pi-owner-exit-waiter-locked", pi_waiter_result, 0);
    EQ("pi-owner-exit-word-names-waiter", pi_word & FUTEX_TID_MASK, pi_waiter_tid);

    /* An owner that does not exist. */
    pid_t gone = fork();
    if (gone == 0) _exit(0);
    int st;
    wait_bounded(gone, &st, 3000);
    pi_word = gone;
    ERR("pi-lock-dead-owner-esrch", pi_op(FUTEX_LOCK_PI, NULL), ESRCH);

    /* glibc's PTHREAD_PRIO_INHERIT mutexes. */
    pthread_mutexattr_t ma;
    pthread_mutexattr_init(&ma);
    EQ("pi-mutexattr-protocol", pthread_mutexattr_setprotocol(&ma, PTHREAD_PRIO_INHERIT), 0);
    pthread_mutex_init(&pi_mutex, &ma);
    pthread_t ts[4];
    pi_counter = 0;
    for (int i = 0; i < 4; i++) pthread_create(&ts[i], NULL, pi_incrementer, NULL);
    for (int i = 0; i < 4; i++) pthread_join(ts[i], NULL);
    EQ("pi-mutex-counts", pi_counter, 8000);
    pi_holding = pi_release = 0;
    pthread_create(&h, NULL, pi_mutex_holder, &pi_mutex);
    while (!pi_holding) sleep_ms(1);
    EQ("pi-mutex-trylock-ebusy", pthread_mutex_trylock(&pi_mutex), EBUSY);
    struct timespec soon = abs_after(CLOCK_REALTIME, 50);
    EQ("pi-mutex-timedlock-etimedout", pthread_mutex_timedlock(&pi_mutex, &soon), ETIMEDOUT);
    pi_release = 1;
    pthread_join(h, NULL);
    EQ("pi-mutex-lock-after-unlock", pthread_mutex_lock(&pi_mutex), 0);
    pthread_mutex_unlock(&pi_mutex);

    /* Robust and PI: the owner thread exits, a blocked waiter gets
     * EOWNERDEAD, the mutex is usable again once consistent. */
    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&pi_mutex, &ma);
    pi_holding = pi_release = 0;
    pthread_create(&h, NULL, pi_mutex_holder, &pi_mutex);
    while (!pi_holding) sleep_ms(1);
    pi_release = 2;
    check_owner_died("pi-robust-thread-exit-eownerdead", "pi-robust-thread-exit-consistent", &pi_mutex);
    pthread_join(h, NULL);

    /* Robust, PI and process-shared: the owning process dies. */
    pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        fail("pi-robust-process-exit-eownerdead", "mmap: %s", ename(errno));
        return;
    }
    pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
    pthread_mutex_init(m, &ma);
    pid_t pid = fork();
    if (pid == 0) {
        pthread_mutex_lock(m);
        sleep_ms(200);
        _exit(0);
    }
    sleep_ms(50);
    check_owner_died("pi-robust-process-exit-eownerdead", "pi-robust-process-exit-consistent", m);
    wait_bounded(pid, &st, 3000);
}

/* execve from a thread other than the leader (execve(2), de_thread): the
 * other threads die, the exec'ing thread takes over the leader's pid, keeps
 * its own signal mask and pending signals, and the process's pending
 * signals stay; the old leader's own pending signals go. The new image is
 * this program again, told by its environment to report on itself (before
 * main, so the checks' fork does not get in the way) and exit 42. */
__attribute__((constructor)) static void exec_report(void) {
    const char *tag = getenv("CONF_EXEC_TAG"), *want = getenv("CONF_EXEC_PID");
    if (!tag || !want) return;
    char n[80];
#define EXEC_NAME(what) (snprintf(n, sizeof n, "exec-%s-%s", tag, what), n)
    pid_t pid = getpid();
    EQ(EXEC_NAME("pid-kept"), pid, atol(want));
    EQ(EXEC_NAME("tid-is-pid"), syscall(SYS_gettid), pid);
    int tasks = -1;
    DIR *d = opendir("/proc/self/task");
    if (d) {
        tasks = 0;
        for (struct dirent *e; (e = readdir(d));) tasks += e->d_name[0] != '.';
        closedir(d);
    }
    EQ(EXEC_NAME("one-task"), tasks, 1);
    sigset_t m, p;
    sigprocmask(SIG_SETMASK, NULL, &m);
    CHECK(EXEC_NAME("thread-mask-kept"), sigismember(&m, SIGPROF) && sigismember(&m, SIGUSR2),
          "SIGPROF blocked %d, SIGUSR2 blocked %d", sigismember(&m, SIGPROF), sigismember(&m, SIGUSR2));
    sigpending(&p);
    CHECK(EXEC_NAME("process-pending-kept"), sigismember(&p, SIGUSR2), "SIGUSR2 not pending");
    CHECK(EXEC_NAME("own-pending-kept"), sigismember(&p, SIGWINCH), "SIGWINCH not pending");
    CHECK(EXEC_NAME("leader-pending-gone"), !sigismember(&p, SIGUSR1), "SIGUSR1 still pending");
#undef EXEC_NAME
    _exit(check_failures ? 1 : 42);
}

/* This program's path, read while /proc/self/exe still resolves (a process
 * whose leader has exited has none). */
static char exec_path[4096];

static void *exec_spinner(void *arg) {
    (void)arg;
    for (volatile unsigned long i = 0;; i++) {}
    return NULL;
}

/* Blocks SIGPROF for itself only, queues SIGWINCH to itself, and execs. */
static void *exec_from_thread(void *arg) {
    const char *tag = arg;
    sigset_t s;
    sigemptyset(&s);
    sigaddset(&s, SIGPROF);
    pthread_sigmask(SIG_BLOCK, &s, NULL);
    syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGWINCH);
    sleep_ms(100); /* the leader blocks, exits or spins by now */
    char tag_env[64], pid_env[64];
    snprintf(tag_env, sizeof tag_env, "CONF_EXEC_TAG=%s", tag);
    snprintf(pid_env, sizeof pid_env, "CONF_EXEC_PID=%d", getpid());
    char *argv[] = { "conf-threads", NULL }, *envp[] = { tag_env, pid_env, NULL };
    execve(exec_path, argv, envp);
    say("# exec-%s: execve from a thread: %s", tag, ename(errno));
    _exit(127);
}

enum exec_leader { LEADER_JOINS, LEADER_SPINS, LEADER_EXITS };

static void exec_variant(const char *tag, enum exec_leader leader, int spinners) {
    pid_t pid = fork();
    if (pid == 0) {
        /* Blocked everywhere: the signals stay pending across the exec. */
        sigset_t s;
        sigemptyset(&s);
        sigaddset(&s, SIGUSR1);
        sigaddset(&s, SIGUSR2);
        sigaddset(&s, SIGWINCH);
        sigprocmask(SIG_BLOCK, &s, NULL);
        kill(getpid(), SIGUSR2);
        syscall(SYS_tgkill, getpid(), getpid(), SIGUSR1);
        pthread_t t;
        for (int i = 0; i < spinners; i++) pthread_create(&t, NULL, exec_spinner, NULL);
        pthread_create(&t, NULL, exec_from_thread, (void *)tag);
        switch (leader) {
        case LEADER_JOINS: pthread_join(t, NULL); break;
        case LEADER_SPINS: exec_spinner(NULL); break;
        case LEADER_EXITS: pthread_exit(NULL);
        }
        _exit(126);
    }
    int st = 0;
    char n[80];
    snprintf(n, sizeof n, "exec-%s-new-image-status", tag);
    pid_t r = wait_bounded(pid, &st, 5000);
    EQ(n, (r == pid && WIFEXITED(st)) ? WEXITSTATUS(st) : -1, 42);
}

static void exec_checks(void) {
    if (readlink("/proc/self/exe", exec_path, sizeof exec_path - 1) < 0) say("# readlink /proc/self/exe: %s", ename(errno));
    exec_variant("leader-blocked", LEADER_JOINS, 0);
    exec_variant("threads-spin", LEADER_SPINS, 2);
    exec_variant("leader-exited", LEADER_EXITS, 1);
}

/* Issue 16: FUTEX_WAKE with a count of 0 wakes one waiter, as Linux does
 * (its wake loop wakes the first matching waiter before it compares the
 * count). The waiter's own timeout bounds a lost wake-up. */
static void *timed_waiter(void *arg) {
    (void)arg;
    atomic_fetch_add(&ready, 1);
    struct timespec limit = { 3, 0 };
    long r;
    do r = futex(&f1, FUTEX_WAIT_PRIVATE, 0, &limit, NULL, 0);
    while (r == -1 && errno == EINTR);
    return (void *)(long)(r == -1 ? -errno : r);
}

static void futex_wake_zero_checks(void) {
    f1 = 0;
    ready = 0;
    pthread_t t;
    pthread_create(&t, NULL, timed_waiter, NULL);
    await_ready(1);
    EQ("futex-wake-zero-wakes-one", futex(&f1, FUTEX_WAKE_PRIVATE, 0, NULL, NULL, 0), 1);
    void *r = (void *)-1L;
    pthread_join(t, &r);
    EQ("futex-wake-zero-waiter-returns-0", (long)r, 0);
    EQ("futex-wake-zero-nobody", futex(&f1, FUTEX_WAKE_PRIVATE, 0, NULL, NULL, 0), 0);
}

/* Issue 16: unshare from a multi-threaded process: the flags that would
 * split the thread group (CLONE_THREAD, CLONE_SIGHAND, CLONE_VM, and
 * CLONE_NEWUSER, which implies CLONE_THREAD) are EINVAL; CLONE_FILES and
 * CLONE_FS unshare the caller's own tables (unshare(2)). */
static void *parked(void *arg) {
    (void)arg;
    atomic_fetch_add(&ready, 1);
    for (;;) pause();
    return NULL;
}

static void unshare_threads_checks(void) {
    ready = 0;
    pthread_t t;
    pthread_create(&t, NULL, parked, NULL);
    await_ready(1);
    alarm(5);
    ERR("unshare-threaded-newuser-einval", unshare(CLONE_NEWUSER), EINVAL);
    ERR("unshare-threaded-thread-einval", unshare(CLONE_THREAD), EINVAL);
    ERR("unshare-threaded-sighand-einval", unshare(CLONE_SIGHAND), EINVAL);
    ERR("unshare-threaded-vm-einval", unshare(CLONE_VM), EINVAL);
    EQ("unshare-threaded-files", unshare(CLONE_FILES), 0);
    EQ("unshare-threaded-fs", unshare(CLONE_FS), 0);
    EQ("unshare-threaded-none", unshare(0), 0);
    alarm(0);
}

static void *f2_waiter(void *arg) {
    int expect = (int)(long)arg;
    atomic_fetch_add(&ready, 1);
    long r;
    do r = futex(&f2, FUTEX_WAIT_PRIVATE, expect, NULL, NULL, 0);
    while (r == -1 && errno == EINTR);
    return NULL;
}

/* One FUTEX_WAKE_OP on f1 (nobody waits there) and f2 (one waiter): the
 * number woken, and f2's new value through `newval`. */
static long wake_op_once(int init, int op, int *newval) {
    f2 = init;
    ready = 0;
    pthread_t t;
    pthread_create(&t, NULL, f2_waiter, (void *)(long)init);
    await_ready(1);
    long r = futex(&f1, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &f2, op);
    *newval = f2;
    if (r != 1) futex(&f2, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    pthread_join(t, NULL);
    return r;
}

/* Issue 16: FUTEX_WAKE_OP with every operation and comparison: the old
 * value of *uaddr2 is compared, the operation's result stored. */
static void futex_wake_op_checks(void) {
    static const struct {
        const char *name;
        int op, oparg, cmp, cmparg, init, want, woken;
    } cases[] = {
        { "set-eq", FUTEX_OP_SET, 7, FUTEX_OP_CMP_EQ, 3, 3, 7, 1 },
        { "add-ne", FUTEX_OP_ADD, 5, FUTEX_OP_CMP_NE, 3, 3, 8, 0 },
        { "or-lt", FUTEX_OP_OR, 0x10, FUTEX_OP_CMP_LT, 4, 3, 0x13, 1 },
        { "andn-le", FUTEX_OP_ANDN, 1, FUTEX_OP_CMP_LE, 2, 3, 2, 0 },
        { "xor-gt", FUTEX_OP_XOR, 0xf, FUTEX_OP_CMP_GT, 2, 3, 12, 1 },
        { "set-ge-equal", FUTEX_OP_SET, 9, FUTEX_OP_CMP_GE, 3, 3, 9, 1 },
        { "set-oparg-shift", FUTEX_OP_SET | FUTEX_OP_OPARG_SHIFT, 4, FUTEX_OP_CMP_EQ, 3, 3, 16, 1 },
        { "add-negative", FUTEX_OP_ADD, -1, FUTEX_OP_CMP_EQ, -1, 3, 2, 0 },
        { "cmp-negative-arg", FUTEX_OP_SET, 0, FUTEX_OP_CMP_GT, -5, -1, 0, 1 },
    };
    char name[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int op = FUTEX_OP(cases[i].op, cases[i].oparg, cases[i].cmp, cases[i].cmparg);
        int got = 0;
        long woken = wake_op_once(cases[i].init, op, &got);
        snprintf(name, sizeof name, "futex-wake-op-%s-woken", cases[i].name);
        EQ(name, woken, cases[i].woken);
        snprintf(name, sizeof name, "futex-wake-op-%s-value", cases[i].name);
        EQ(name, got, cases[i].want);
    }
    f2 = 0;
    ERR("futex-wake-op-bad-op-enosys", futex(&f1, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &f2, FUTEX_OP(7, 0, 0, 0)), ENOSYS);
    ERR("futex-wake-op-bad-cmp-enosys", futex(&f1, FUTEX_WAKE_OP_PRIVATE, 1, (void *)1L, &f2, FUTEX_OP(0, 0, 8, 0)), ENOSYS);
    ERR("futex-wake-op-bad-uaddr2-efault", syscall(SYS_futex, &f1, FUTEX_WAKE_OP_PRIVATE, 1, 1L, (int *)8, FUTEX_OP(0, 1, 0, 0)), EFAULT);
}

/* Issue 16: a shared futex in MAP_SHARED memory wakes across fork; a
 * private one keyed by a copied-on-write page does not reach the other
 * process. */
static void futex_shared_fork_checks(void) {
    _Atomic int *shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    shm[0] = 0;
    shm[1] = 0;
    pid_t pid = fork();
    if (pid == 0) {
        atomic_store(&shm[1], 1);
        long r;
        do r = syscall(SYS_futex, &shm[0], FUTEX_WAIT, 0, NULL, NULL, 0);
        while (r == -1 && errno == EINTR);
        _exit(r == 0 ? 0 : 1);
    }
    while (atomic_load(&shm[1]) == 0) sched_yield();
    sleep_ms(100);
    shm[0] = 1;
    EQ("futex-shared-wakes-across-fork", syscall(SYS_futex, &shm[0], FUTEX_WAKE, 1, NULL, NULL, 0), 1);
    int st = 0;
    CHECK("futex-shared-waiter-returns", wait_bounded(pid, &st, 5000) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", wstatus(st));

    /* A private futex on a page the child has copied on write. */
    f1 = 0;
    pid = fork();
    if (pid == 0) {
        f1 = 0; /* its own copy of the page */
        atomic_store(&shm[2], 1);
        struct timespec ts = { 0, 300 * 1000000 };
        long r = futex(&f1, FUTEX_WAIT_PRIVATE, 0, &ts, NULL, 0);
        _exit(r == -1 && errno == ETIMEDOUT ? 0 : 1);
    }
    while (atomic_load(&shm[2]) == 0) sched_yield();
    sleep_ms(50);
    EQ("futex-private-not-across-fork", futex(&f1, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0), 0);
    CHECK("futex-private-child-times-out", wait_bounded(pid, &st, 5000) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s", wstatus(st));
    munmap((void *)shm, 4096);
}

static void checks(void) {
    group("futex", futex_checks, 10000);
    group("futex-wake-zero", futex_wake_zero_checks, 10000);
    group("futex-wake-op", futex_wake_op_checks, 10000);
    group("futex-shared-fork", futex_shared_fork_checks, 10000);
    group("unshare-threads", unshare_threads_checks, 10000);
    group("pthread", pthread_checks, 10000);
    group("lifecycle", lifecycle_checks, 10000);
    group("signals", signal_checks, 10000);
    group("robust", robust_checks, 15000);
    group("pi", pi_checks, 15000);
    group("exec", exec_checks, 20000);
}
