//! Issue 3: threads. A pthread program (mutexes, condition variables,
//! barriers, thread-local storage, join, cancel, a thread exiting while
//! others run, exit_group from a thread, execve from a threaded process),
//! built static and dynamic with gcc, must give the same output under the
//! Sentry (both backends) as natively (the control).

use std::fs;
use std::process::Command;

use sandbox_tests::{assert_clean, native_in_chroot, Bundle, Runtime};

const PROGRAM: &str = r#"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t c = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t b;
static __thread long tls;
static long counter, done;

static void *work(void *arg) {
    tls = (long)arg;
    pthread_barrier_wait(&b);
    for (int i = 0; i < 20000; i++) { pthread_mutex_lock(&m); counter++; pthread_mutex_unlock(&m); }
    pthread_mutex_lock(&m); done++; pthread_cond_broadcast(&c); pthread_mutex_unlock(&m);
    return (void *)(tls * 10);
}

static void *sleeper(void *arg) { (void)arg; for (;;) pause(); return NULL; }
static void *quitter(void *arg) { (void)arg; pthread_exit((void *)7); }
static void *ender(void *arg) { (void)arg; usleep(10000); exit(9); }

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "exit-from-thread")) {
        pthread_t t;
        pthread_create(&t, NULL, ender, NULL);
        for (;;) pause();
    }
    if (argc > 1 && !strcmp(argv[1], "exec-from-threads")) {
        pthread_t t;
        pthread_create(&t, NULL, sleeper, NULL);
        execl("/bin/echo", "echo", "exec replaced the threads", (char *)NULL);
        return 3;
    }
    enum { N = 8 };
    pthread_t th[N];
    pthread_barrier_init(&b, NULL, N);
    for (long i = 0; i < N; i++)
        if (pthread_create(&th[i], NULL, work, (void *)i)) { puts("pthread_create failed"); return 1; }
    pthread_mutex_lock(&m);
    while (done < N) pthread_cond_wait(&c, &m);
    pthread_mutex_unlock(&m);
    long sum = 0;
    for (int i = 0; i < N; i++) { void *r; pthread_join(th[i], &r); sum += (long)r; }
    printf("counter %ld sum %ld\n", counter, sum);

    pthread_t q; void *qr;
    pthread_create(&q, NULL, quitter, NULL);
    pthread_join(q, &qr);
    printf("pthread_exit value %ld\n", (long)qr);

    pthread_t s; void *sr;
    pthread_create(&s, NULL, sleeper, NULL);
    pthread_cancel(s);
    pthread_join(s, &sr);
    printf("cancelled %d\n", sr == PTHREAD_CANCELED);
    printf("main is the leader %d\n", (int)(syscall(SYS_gettid) == getpid()));
    return 0;
}
"#;

const SCRIPT: &str = "threads; echo status=$?; threads exit-from-thread; echo status=$?; \
                      threads exec-from-threads; echo status=$?; threads-static; echo status=$?";

fn bundle(tag: &str) -> Bundle {
    let b = Bundle::sh(tag, SCRIPT);
    let src = b.path().join("threads.c");
    fs::write(&src, PROGRAM).expect("write threads.c");
    sandbox_tests::cprog::build_both(&b.rootfs(), &src, "threads", &[]);
    // pthread_exit and pthread_cancel load libgcc_s to unwind.
    let libgcc = Command::new("gcc")
        .arg("-print-file-name=libgcc_s.so.1")
        .output()
        .expect("gcc runs");
    let libgcc = fs::canonicalize(String::from_utf8_lossy(&libgcc.stdout).trim())
        .expect("libgcc_s.so.1 exists");
    sandbox_tests::cprog::copy_to_root(
        &b.rootfs(),
        std::path::Path::new("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
        &libgcc,
    );
    b
}

const EXPECTED: &str = "counter 160000 sum 280\npthread_exit value 7\ncancelled 1\nmain is the leader 1\nstatus=0\n\
                        status=9\nexec replaced the threads\nstatus=0\n\
                        counter 160000 sum 280\npthread_exit value 7\ncancelled 1\nmain is the leader 1\nstatus=0\n";

#[test]
fn native_control_threads() {
    let b = bundle("threads-native");
    let out = native_in_chroot(&b, SCRIPT);
    assert_eq!(out.stdout, EXPECTED, "\n{out}");
}

#[test]
fn sandbox_threads() {
    let b = bundle("threads");
    let rt = Runtime::sandbox();
    let out = rt.run(&b);
    assert_eq!(out.code(), Some(0), "\n{out}");
    assert_eq!(out.stdout, EXPECTED, "\n{out}");
    assert_clean(rt.root(), &b.id, b.path());
}

#[test]
fn microvm_threads() {
    let Some(rt) = Runtime::sandbox_vm() else {
        return;
    };
    let b = bundle("threads-vm");
    let out = rt.run(&b);
    assert_eq!(out.code(), Some(0), "\n{out}");
    assert_eq!(out.stdout, EXPECTED, "\n{out}");
    assert_clean(rt.root(), &b.id, b.path());
}
