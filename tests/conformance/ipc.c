/* System V IPC: shared memory, semaphores and message queues, checked
 * against shmget(2), shmat(2), shmctl(2), semget(2), semop(2),
 * semctl(2), msgget(2), msgsnd(2), msgrcv(2) and msgctl(2), and POSIX
 * message queues against mq_open(3), mq_send(3), mq_receive(3),
 * mq_notify(3) and mq_getattr(3). The native
 * control shares the host's IPC namespace, so keys are made unique per run
 * and every object is removed at the end. */
#include "check.h"
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

union semun { int val; struct semid_ds *buf; unsigned short *array; };

/* A key nobody else uses: this run's pid and a salt. */
static key_t fresh_key(int salt) {
    return (key_t)(0x5a000000 | ((getpid() & 0xfff) << 8) | (salt & 0xff));
}

static volatile sig_atomic_t usr1;
static void on_usr1(int sig) { (void)sig; usr1++; }

/* Sends SIGUSR1 to `pid` after `ms`, from a child; returns the child. */
static pid_t signal_later(pid_t pid, long ms) {
    pid_t c = fork();
    if (c == 0) { sleep_ms(ms); kill(pid, SIGUSR1); _exit(0); }
    return c;
}

static int child_status(pid_t pid) {
    int st = 0;
    if (wait_bounded(pid, &st, 5000) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void shm_checks(void) {
    int id = OK("shmget-private", shmget(IPC_PRIVATE, 10000, IPC_CREAT | 0600));
    char *p = shmat(id, NULL, 0);
    CHECK("shmat", p != (void *)-1, "%s", ename(errno));
    if (p == (void *)-1) return;
    CHECK("shm-zero-filled", p[0] == 0 && p[9999] == 0, "not zero");
    strcpy(p, "hello");
    char *q = shmat(id, NULL, 0);
    CHECK("shmat-twice-same-memory", q != (void *)-1 && q != p && !strcmp(q, "hello"), "%p %p", (void *)p, (void *)q);

    struct shmid_ds ds;
    OK("shmctl-stat", shmctl(id, IPC_STAT, &ds));
    EQ("shmctl-stat-segsz", ds.shm_segsz, 10000);
    EQ("shmctl-stat-nattch", ds.shm_nattch, 2);
    EQ("shmctl-stat-cpid", ds.shm_cpid, getpid());
    EQ("shmctl-stat-lpid", ds.shm_lpid, getpid());
    EQ("shmctl-stat-mode", ds.shm_perm.mode & 0777, 0600);
    EQ("shmctl-stat-uid", ds.shm_perm.uid, geteuid());
    CHECK("shmctl-stat-atime", ds.shm_atime > 0 && ds.shm_ctime > 0, "atime %ld ctime %ld", (long)ds.shm_atime, (long)ds.shm_ctime);

    /* /proc/self/maps names the attachment. */
    char maps[65536];
    int fd = open("/proc/self/maps", O_RDONLY);
    long n = 0, r;
    while (fd >= 0 && (r = read(fd, maps + n, sizeof maps - 1 - n)) > 0) n += r;
    maps[n > 0 ? n : 0] = 0;
    close(fd);
    char line[64];
    snprintf(line, sizeof line, "%08lx-", (unsigned long)p);
    char *at = strstr(maps, line);
    char *eol = at ? strchr(at, '\n') : NULL;
    if (eol) *eol = 0;
    CHECK("shm-proc-maps-name", at && strstr(at, "/SYSV00000000 (deleted)") && strstr(at, " rw-s "), "%s", at ? at : "no line");
    if (eol) *eol = '\n';

    /* A forked child shares the attachment. */
    pid_t c = fork();
    if (c == 0) { strcpy(p, "from child"); _exit(0); }
    child_status(c);
    CHECK("shm-fork-shares", !strcmp(q, "from child"), "read %s", q);
    c = fork();
    if (c == 0) {
        struct shmid_ds d;
        shmctl(id, IPC_STAT, &d);
        _exit(d.shm_nattch == 4 ? 0 : (int)d.shm_nattch + 10);
    }
    EQ("shm-fork-nattch", child_status(c), 0);
    OK("shmctl-stat-after-exit", shmctl(id, IPC_STAT, &ds));
    EQ("shm-exit-detaches", ds.shm_nattch, 2);

    OK("shmdt", shmdt(q));
    ERR("shmdt-again-einval", shmdt(q), EINVAL);
    ERR("shmdt-middle-einval", shmdt(p + 4096), EINVAL);
    ERR("shmdt-unaligned-einval", shmdt(p + 1), EINVAL);
    shmctl(id, IPC_STAT, &ds);
    EQ("shmdt-nattch", ds.shm_nattch, 1);

    /* Read-only attachments. */
    char *ro = shmat(id, NULL, SHM_RDONLY);
    CHECK("shmat-rdonly-reads", ro != (void *)-1 && !strcmp(ro, "from child"), "%s", ro == (void *)-1 ? ename(errno) : ro);
    c = fork();
    if (c == 0) { ro[0] = 'x'; _exit(0); }
    EQ("shmat-rdonly-write-segv", child_status(c), 128 + SIGSEGV);
    shmdt(ro);

    /* Attaching at an address. */
    char *hole = mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(hole, 1 << 20);
    char *fixed = shmat(id, hole + 8192, 0);
    CHECK("shmat-at-address", fixed == hole + 8192 && !strcmp(fixed, "from child"), "got %p wanted %p", (void *)fixed, (void *)(hole + 8192));
    ERR("shmat-overlap-einval", (long)shmat(id, hole + 8192, 0), EINVAL);
    CHECK("shmat-remap-replaces", shmat(id, hole + 8192, SHM_REMAP) == hole + 8192, "%s", ename(errno));
    ERR("shmat-unaligned-einval", (long)shmat(id, hole + 100, 0), EINVAL);
    char *rnd = shmat(id, hole + 100 + 65536, SHM_RND);
    CHECK("shmat-rnd-rounds-down", rnd == hole + 65536, "got %p wanted %p", (void *)rnd, (void *)(hole + 65536));
    ERR("shmat-remap-null-einval", (long)shmat(id, NULL, SHM_REMAP), EINVAL);
    ERR("shmat-bad-id-einval", (long)shmat(id + 1000000, NULL, 0), EINVAL);
    shmdt(fixed);
    shmdt(rnd);

    /* IPC_SET, then IPC_RMID while attached: the id lives until the last detach. */
    ds.shm_perm.mode = 0640;
    OK("shmctl-set", shmctl(id, IPC_SET, &ds));
    shmctl(id, IPC_STAT, &ds);
    EQ("shmctl-set-mode", ds.shm_perm.mode & 0777, 0640);
    OK("shmctl-rmid-attached", shmctl(id, IPC_RMID, NULL));
    OK("shmctl-stat-after-rmid", shmctl(id, IPC_STAT, &ds));
    CHECK("shm-dest-flag", ds.shm_perm.mode & SHM_DEST, "mode %o", ds.shm_perm.mode);
    CHECK("shm-usable-after-rmid", !strcmp(p, "from child"), "read %s", p);
    OK("shmdt-last", shmdt(p));
    ERR("shm-gone-after-last-detach", shmctl(id, IPC_STAT, &ds), EINVAL);
    ERR("shmctl-bad-cmd-einval", shmctl(0, 12345, &ds), EINVAL);
}

static void shm_key_checks(void) {
    key_t k = fresh_key(1);
    int id = OK("shmget-key-create", shmget(k, 4096, IPC_CREAT | IPC_EXCL | 0600));
    EQ("shmget-key-finds-same", shmget(k, 100, 0), id);
    ERR("shmget-key-excl-eexist", shmget(k, 4096, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
    ERR("shmget-key-bigger-einval", shmget(k, 8192, 0), EINVAL);
    ERR("shmget-missing-enoent", shmget(fresh_key(2), 4096, 0600), ENOENT);
    ERR("shmget-zero-size-einval", shmget(IPC_PRIVATE, 0, IPC_CREAT | 0600), EINVAL);
    struct shmid_ds ds;
    shmctl(id, IPC_STAT, &ds);
    EQ("shmctl-stat-key", ds.shm_perm.__key, k);
    char *p = shmat(id, NULL, 0);
    shmctl(id, IPC_RMID, NULL);
    ERR("shmget-key-gone-after-rmid", shmget(k, 4096, 0), ENOENT);
    int id2 = shmget(k, 4096, IPC_CREAT | 0600);
    CHECK("shmget-key-reused-new-id", id2 >= 0 && id2 != id, "id %d then %d", id, id2);
    shmdt(p);
    /* Another user: permissions and ownership. */
    pid_t c = fork();
    if (c == 0) {
        if (setresuid(12345, 12345, 12345) != 0) _exit(99);
        int bits = 0;
        if (!(shmget(k, 4096, 0600) == -1 && errno == EACCES)) bits |= 1;
        if (!(shmat(id2, NULL, SHM_RDONLY) == (void *)-1 && errno == EACCES)) bits |= 2;
        if (!(shmctl(id2, IPC_RMID, NULL) == -1 && errno == EPERM)) bits |= 4;
        struct shmid_ds d;
        if (!(shmctl(id2, IPC_STAT, &d) == -1 && errno == EACCES)) bits |= 8;
        _exit(bits);
    }
    EQ("shm-other-user-denied", child_status(c), 0);
    shmctl(id2, IPC_RMID, NULL);
}

static int semval(int id, int n) { return semctl(id, n, GETVAL); }

static void sem_checks(void) {
    int id = OK("semget-private", semget(IPC_PRIVATE, 3, IPC_CREAT | 0600));
    EQ("sem-initial-zero", semval(id, 0), 0);
    OK("semctl-setval", semctl(id, 0, SETVAL, (union semun){ .val = 5 }));
    EQ("semctl-getval", semval(id, 0), 5);
    EQ("semctl-getpid-after-setval", semctl(id, 0, GETPID), getpid());
    unsigned short all[3] = { 1, 2, 3 }, got[3] = { 0 };
    OK("semctl-setall", semctl(id, 0, SETALL, (union semun){ .array = all }));
    OK("semctl-getall", semctl(id, 0, GETALL, (union semun){ .array = got }));
    CHECK("semctl-getall-values", got[0] == 1 && got[1] == 2 && got[2] == 3, "%d %d %d", got[0], got[1], got[2]);
    ERR("semctl-setval-erange", semctl(id, 0, SETVAL, (union semun){ .val = 32768 }), ERANGE);
    ERR("semctl-setval-negative-erange", semctl(id, 0, SETVAL, (union semun){ .val = -1 }), ERANGE);
    ERR("semctl-getval-bad-num-einval", semctl(id, 3, GETVAL), EINVAL);
    struct semid_ds ds;
    OK("semctl-stat", semctl(id, 0, IPC_STAT, (union semun){ .buf = &ds }));
    EQ("semctl-stat-nsems", ds.sem_nsems, 3);
    EQ("semctl-stat-mode", ds.sem_perm.mode & 0777, 0600);

    struct sembuf up = { 0, 2, 0 };
    OK("semop-add", semop(id, &up, 1));
    EQ("semop-add-value", semval(id, 0), 3);
    EQ("semop-sets-pid", semctl(id, 0, GETPID), getpid());
    struct sembuf two[2] = { { 0, -1, IPC_NOWAIT }, { 1, -5, IPC_NOWAIT } };
    ERR("semop-nowait-eagain", semop(id, two, 2), EAGAIN);
    EQ("semop-all-or-nothing", semval(id, 0), 3);
    struct sembuf bad = { 3, 1, 0 };
    ERR("semop-bad-num-efbig", semop(id, &bad, 1), EFBIG);
    ERR("semop-zero-ops-einval", semop(id, &up, 0), EINVAL);
    static struct sembuf many[501];
    ERR("semop-too-many-e2big", semop(id, many, 501), E2BIG);
    semctl(id, 2, SETVAL, (union semun){ .val = 32767 });
    struct sembuf over = { 2, 1, 0 };
    ERR("semop-overflow-erange", semop(id, &over, 1), ERANGE);
    ERR("semget-more-sems-einval", semget(fresh_key(3), 1, IPC_CREAT | 0600) >= 0 ? semget(fresh_key(3), 5, 0) : -2, EINVAL);
    semctl(semget(fresh_key(3), 0, 0), 0, IPC_RMID);
    ERR("semget-zero-nsems-einval", semget(IPC_PRIVATE, 0, IPC_CREAT | 0600), EINVAL);

    /* A decrement waits for a post from another process; GETNCNT sees it. */
    semctl(id, 1, SETVAL, (union semun){ .val = 0 });
    pid_t c = fork();
    if (c == 0) {
        sleep_ms(200);
        int ncnt = semctl(id, 1, GETNCNT);
        struct sembuf post = { 1, 1, 0 };
        semop(id, &post, 1);
        _exit(ncnt);
    }
    struct sembuf wait1 = { 1, -1, 0 };
    OK("semop-blocks-until-post", semop(id, &wait1, 1));
    EQ("semctl-getncnt-while-waiting", child_status(c), 1);
    EQ("semop-post-consumed", semval(id, 1), 0);

    /* Waiting for zero; GETZCNT. */
    semctl(id, 1, SETVAL, (union semun){ .val = 1 });
    c = fork();
    if (c == 0) {
        sleep_ms(200);
        int zcnt = semctl(id, 1, GETZCNT);
        semctl(id, 1, SETVAL, (union semun){ .val = 0 });
        _exit(zcnt);
    }
    struct sembuf zero = { 1, 0, 0 };
    OK("semop-wait-for-zero", semop(id, &zero, 1));
    EQ("semctl-getzcnt-while-waiting", child_status(c), 1);

    /* Timeouts and signals. */
    struct timespec ts = { 0, 100 * 1000000 };
    long long t0 = 0;
    { struct timespec n; clock_gettime(CLOCK_MONOTONIC, &n); t0 = n.tv_sec * 1000LL + n.tv_nsec / 1000000; }
    ERR("semtimedop-timeout-eagain", semtimedop(id, &wait1, 1, &ts), EAGAIN);
    { struct timespec n; clock_gettime(CLOCK_MONOTONIC, &n); long long el = n.tv_sec * 1000LL + n.tv_nsec / 1000000 - t0;
      CHECK("semtimedop-waited", el >= 90, "returned after %lld ms", el); }
    struct timespec badts = { 0, 1000000000 };
    ERR("semtimedop-bad-timeout-einval", semtimedop(id, &wait1, 1, &badts), EINVAL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    c = signal_later(getpid(), 150);
    ERR("semop-signal-eintr-despite-sa-restart", semop(id, &wait1, 1), EINTR);
    child_status(c);
    EQ("semop-signal-handler-ran", usr1, 1);
    EQ("semctl-getncnt-after-eintr", semctl(id, 1, GETNCNT), 0);

    /* SEM_UNDO: a process's adjustments are reverted when it exits. */
    semctl(id, 0, SETVAL, (union semun){ .val = 4 });
    c = fork();
    if (c == 0) {
        struct sembuf take = { 0, -3, SEM_UNDO };
        _exit(semop(id, &take, 1) == 0 && semval(id, 0) == 1 ? 0 : 1);
    }
    EQ("sem-undo-applied-in-child", child_status(c), 0);
    EQ("sem-undo-reverted-at-exit", semval(id, 0), 4);
    EQ("sem-undo-exit-sets-pid", semctl(id, 0, GETPID), c);

    /* Removal wakes a waiter with EIDRM. */
    c = fork();
    if (c == 0) { sleep_ms(150); semctl(id, 0, IPC_RMID); _exit(0); }
    ERR("semop-removed-eidrm", semop(id, &wait1, 1), EIDRM);
    child_status(c);
    ERR("semctl-removed-einval", semctl(id, 0, GETVAL), EINVAL);

    /* Permissions. */
    int id2 = semget(IPC_PRIVATE, 1, IPC_CREAT | 0644);
    c = fork();
    if (c == 0) {
        if (setresuid(12345, 12345, 12345) != 0) _exit(99);
        int bits = 0;
        if (semctl(id2, 0, GETVAL) != 0) bits |= 1;
        struct sembuf inc = { 0, 1, 0 };
        if (!(semop(id2, &inc, 1) == -1 && errno == EACCES)) bits |= 2;
        if (!(semctl(id2, 0, SETVAL, (union semun){ .val = 1 }) == -1 && errno == EACCES)) bits |= 4;
        if (!(semctl(id2, 0, IPC_RMID) == -1 && errno == EPERM)) bits |= 8;
        _exit(bits);
    }
    EQ("sem-other-user-read-only", child_status(c), 0);
    semctl(id2, 0, IPC_RMID);
}

struct msg { long mtype; char text[64]; };

static void msg_checks(void) {
    int id = OK("msgget-private", msgget(IPC_PRIVATE, IPC_CREAT | 0600));
    struct msg m = { 1, "one" };
    OK("msgsnd", msgsnd(id, &m, 4, 0));
    m.mtype = 3; strcpy(m.text, "three");
    msgsnd(id, &m, 6, 0);
    m.mtype = 2; strcpy(m.text, "two");
    msgsnd(id, &m, 4, 0);
    struct msqid_ds ds;
    OK("msgctl-stat", msgctl(id, IPC_STAT, &ds));
    EQ("msgctl-stat-qnum", ds.msg_qnum, 3);
    EQ("msgctl-stat-cbytes", ds.__msg_cbytes, 14);
    EQ("msgctl-stat-lspid", ds.msg_lspid, getpid());
    CHECK("msgctl-stat-qbytes", ds.msg_qbytes >= 16384, "qbytes %lu", (unsigned long)ds.msg_qbytes);
    struct msg r;
    EQ("msgrcv-type-exact", msgrcv(id, &r, sizeof r.text, 2, 0), 4);
    CHECK("msgrcv-type-exact-text", r.mtype == 2 && !strcmp(r.text, "two"), "%ld %s", r.mtype, r.text);
    EQ("msgrcv-type-except", msgrcv(id, &r, sizeof r.text, 1, MSG_EXCEPT), 6);
    EQ("msgrcv-type-except-got", r.mtype, 3);
    m.mtype = 5; msgsnd(id, &m, 4, 0);
    EQ("msgrcv-type-negative", msgrcv(id, &r, sizeof r.text, -4, 0), 4);
    EQ("msgrcv-type-negative-lowest", r.mtype, 1);
    ERR("msgrcv-nowait-enomsg", msgrcv(id, &r, sizeof r.text, 4, IPC_NOWAIT), ENOMSG);
    ERR("msgrcv-too-small-e2big", msgrcv(id, &r, 2, 0, 0), E2BIG);
    EQ("msgrcv-noerror-truncates", msgrcv(id, &r, 2, 0, MSG_NOERROR), 2);
    OK("msgctl-stat-empty", msgctl(id, IPC_STAT, &ds));
    EQ("msgctl-stat-qnum-empty", ds.msg_qnum, 0);
    EQ("msgctl-stat-lrpid", ds.msg_lrpid, getpid());
    m.mtype = 0;
    ERR("msgsnd-type-zero-einval", msgsnd(id, &m, 4, 0), EINVAL);
    m.mtype = 1;
    static char big[8200];
    ERR("msgsnd-too-big-einval", msgsnd(id, big, 8193, 0), EINVAL);
    ERR("msgsnd-bad-id-einval", msgsnd(id + 1000000, &m, 4, 0), EINVAL);

    /* A receiver waits for a sender. */
    pid_t c = fork();
    if (c == 0) { sleep_ms(150); struct msg s = { 7, "late" }; msgsnd(id, &s, 5, 0); _exit(0); }
    EQ("msgrcv-blocks-until-send", msgrcv(id, &r, sizeof r.text, 7, 0), 5);
    child_status(c);

    /* A full queue: IPC_NOWAIT fails, a blocked sender waits for room. */
    ds.msg_qbytes = 100;
    OK("msgctl-set-qbytes", msgctl(id, IPC_SET, &ds));
    msgctl(id, IPC_STAT, &ds);
    EQ("msgctl-set-qbytes-read-back", ds.msg_qbytes, 100);
    static char fill[8 + 100];
    *(long *)fill = 1;
    OK("msgsnd-fill", msgsnd(id, fill, 100, 0));
    ERR("msgsnd-full-eagain", msgsnd(id, &m, 1, IPC_NOWAIT), EAGAIN);
    c = fork();
    if (c == 0) { sleep_ms(150); msgrcv(id, fill, 100, 0, 0); _exit(0); }
    OK("msgsnd-blocks-until-room", msgsnd(id, &m, 1, 0));
    child_status(c);

    /* Signals interrupt a waiting receiver; removal wakes it with EIDRM. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    c = signal_later(getpid(), 150);
    ERR("msgrcv-signal-eintr", msgrcv(id, &r, sizeof r.text, 99, 0), EINTR);
    child_status(c);
    c = fork();
    if (c == 0) { sleep_ms(150); msgctl(id, IPC_RMID, NULL); _exit(0); }
    ERR("msgrcv-removed-eidrm", msgrcv(id, &r, sizeof r.text, 99, 0), EIDRM);
    child_status(c);
    ERR("msgctl-removed-einval", msgctl(id, IPC_STAT, &ds), EINVAL);

    key_t k = fresh_key(4);
    int kid = OK("msgget-key", msgget(k, IPC_CREAT | IPC_EXCL | 0600));
    EQ("msgget-key-same", msgget(k, 0), kid);
    ERR("msgget-key-excl-eexist", msgget(k, IPC_CREAT | IPC_EXCL), EEXIST);
    c = fork();
    if (c == 0) {
        if (setresuid(12345, 12345, 12345) != 0) _exit(99);
        struct msg s = { 1, "x" };
        int bits = 0;
        if (!(msgsnd(kid, &s, 1, IPC_NOWAIT) == -1 && errno == EACCES)) bits |= 1;
        if (!(msgget(k, 0600) == -1 && errno == EACCES)) bits |= 2;
        _exit(bits);
    }
    EQ("msg-other-user-denied", child_status(c), 0);
    msgctl(kid, IPC_RMID, NULL);
}

static volatile sig_atomic_t mq_sigs;
static volatile int mq_code, mq_value, mq_pid;
static void on_mq(int sig, siginfo_t *si, void *uc) {
    (void)sig; (void)uc;
    mq_sigs++;
    mq_code = si->si_code;
    mq_value = si->si_value.sival_int;
    mq_pid = si->si_pid;
}

static void mq_checks(void) {
    char name[64];
    snprintf(name, sizeof name, "/conf-ipc-%d", getpid());
    struct mq_attr attr = { .mq_maxmsg = 4, .mq_msgsize = 64 }, got;
    mqd_t q = OK("mq-open-create", mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
    ERR("mq-open-excl-eexist", mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr), EEXIST);
    OK("mq-getattr", mq_getattr(q, &got));
    CHECK("mq-getattr-values", got.mq_maxmsg == 4 && got.mq_msgsize == 64 && got.mq_curmsgs == 0 && got.mq_flags == 0,
          "maxmsg %ld msgsize %ld curmsgs %ld flags %ld", got.mq_maxmsg, got.mq_msgsize, got.mq_curmsgs, got.mq_flags);
    OK("mq-send", mq_send(q, "low", 4, 1));
    mq_send(q, "high", 5, 9);
    mq_send(q, "low2", 5, 1);
    mq_getattr(q, &got);
    EQ("mq-curmsgs", got.mq_curmsgs, 3);
    struct pollfd pfd = { q, POLLIN | POLLOUT, 0 };
    EQ("mq-poll", poll(&pfd, 1, 0), 1);
    EQ("mq-poll-in-out", pfd.revents, POLLIN | POLLOUT);
    char buf[64];
    unsigned prio = 0;
    EQ("mq-receive-highest-first", mq_receive(q, buf, sizeof buf, &prio), 5);
    CHECK("mq-receive-highest-text", !strcmp(buf, "high") && prio == 9, "%s prio %u", buf, prio);
    mq_receive(q, buf, sizeof buf, &prio);
    CHECK("mq-receive-fifo-within-priority", !strcmp(buf, "low"), "%s", buf);
    ERR("mq-receive-small-buffer-emsgsize", mq_receive(q, buf, 10, NULL), EMSGSIZE);
    mq_receive(q, buf, sizeof buf, NULL);
    static char big[100];
    ERR("mq-send-too-long-emsgsize", mq_send(q, big, 65, 0), EMSGSIZE);
    ERR("mq-send-bad-prio-einval", mq_send(q, "x", 1, 32768), EINVAL);
    struct timespec abs;
    clock_gettime(CLOCK_REALTIME, &abs);
    abs.tv_nsec += 100 * 1000000;
    if (abs.tv_nsec >= 1000000000) { abs.tv_sec++; abs.tv_nsec -= 1000000000; }
    ERR("mq-timedreceive-timeout", mq_timedreceive(q, buf, sizeof buf, NULL, &abs), ETIMEDOUT);

    /* A receiver waits for a sender. */
    pid_t c = fork();
    if (c == 0) { sleep_ms(150); mqd_t q2 = mq_open(name, O_WRONLY); mq_send(q2, "late", 5, 3); _exit(0); }
    EQ("mq-receive-blocks-until-send", mq_receive(q, buf, sizeof buf, &prio), 5);
    child_status(c);

    /* Non-blocking mode through mq_setattr; a full queue. */
    struct mq_attr nb = { .mq_flags = O_NONBLOCK }, old;
    OK("mq-setattr-nonblock", mq_setattr(q, &nb, &old));
    EQ("mq-setattr-old-flags", old.mq_flags, 0);
    ERR("mq-receive-empty-eagain", mq_receive(q, buf, sizeof buf, NULL), EAGAIN);
    for (int i = 0; i < 4; i++) mq_send(q, "f", 1, 0);
    ERR("mq-send-full-eagain", mq_send(q, "f", 1, 0), EAGAIN);
    pfd.revents = 0;
    poll(&pfd, 1, 0);
    EQ("mq-poll-full", pfd.revents, POLLIN);
    while (mq_receive(q, buf, sizeof buf, NULL) > 0) {}
    nb.mq_flags = 0;
    mq_setattr(q, &nb, NULL);

    /* Notification: a signal when a message reaches the empty queue. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_mq;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGUSR2, &sa, NULL);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_SIGNAL;
    ev.sigev_signo = SIGUSR2;
    ev.sigev_value.sival_int = 4321;
    OK("mq-notify", mq_notify(q, &ev));
    c = fork();
    if (c == 0) _exit(mq_notify(q, &ev) == -1 && errno == EBUSY ? 0 : 1);
    EQ("mq-notify-other-ebusy", child_status(c), 0);
    mq_send(q, "n", 1, 0);
    for (int i = 0; i < 200 && !mq_sigs; i++) sleep_ms(5);
    CHECK("mq-notify-signal", mq_sigs == 1 && mq_code == SI_MESGQ && mq_value == 4321 && mq_pid == getpid(),
          "%d signals, code %d, value %d, pid %d", (int)mq_sigs, mq_code, mq_value, mq_pid);
    mq_send(q, "n", 1, 0);
    sleep_ms(50);
    EQ("mq-notify-once", mq_sigs, 1);
    OK("mq-notify-again", mq_notify(q, &ev));
    OK("mq-notify-remove", mq_notify(q, NULL));

    mqd_t ro = mq_open(name, O_RDONLY);
    ERR("mq-send-readonly-ebadf", mq_send(ro, "x", 1, 0), EBADF);
    mq_close(ro);
    ERR("mq-send-not-a-queue-ebadf", mq_send(0, "x", 1, 0), EBADF);
    OK("mq-unlink", mq_unlink(name));
    ERR("mq-open-unlinked-enoent", mq_open(name, O_RDWR), ENOENT);
    EQ("mq-usable-after-unlink", mq_receive(q, buf, sizeof buf, NULL), 1);
    ERR("mq-unlink-missing-enoent", mq_unlink(name), ENOENT);
    ERR("mq-open-slash-eacces", mq_open("/a/b", O_RDWR | O_CREAT, 0600, NULL), EACCES);
    struct mq_attr zero = { .mq_maxmsg = 0, .mq_msgsize = 8 };
    ERR("mq-open-zero-maxmsg-einval", mq_open(name, O_RDWR | O_CREAT, 0600, &zero), EINVAL);
    mq_close(q);
}

static void checks(void) {
    group("shm", shm_checks, 15000);
    group("shm-keys", shm_key_checks, 10000);
    group("sem", sem_checks, 15000);
    group("msg", msg_checks, 15000);
    group("mqueue", mq_checks, 10000);
}
