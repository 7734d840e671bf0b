/*
 * The Sentry's vDSO: clock_gettime, gettimeofday, time, clock_getres and
 * getcpu answered in the application's own address space, without a trap.
 *
 * The time comes from the data page ("vvar") the Sentry maps read-only one
 * page below this image and keeps current (sentry/src/vdso/vvar.rs is the
 * other half of this layout; keep the two in step). Each clock is a line
 *
 *     ns = base_ns + ((tsc - base_tsc) * mult) >> 32
 *
 * read under a sequence lock. Whatever the page cannot answer (CPU-time
 * clocks, unknown ids, a TSC the Sentry does not trust) goes to the real
 * `syscall` instruction, which traps into the Sentry like any system call;
 * like Linux's vDSO, such a fallback returns the raw result (-errno), which
 * glibc handles as it does a system call's.
 *
 * Built freestanding (no libc, no relocations) by sentry/build.rs.
 */
#include <stdint.h>
#include <stddef.h>

/* The layout of the data page (see vvar.rs). */
#define VVAR_TSC_OK 1u

struct vvar_clock {
	uint64_t base_ns;
	uint64_t mult;
};

enum { VC_REALTIME, VC_MONOTONIC, VC_BOOTTIME, VC_RAW, VC_COUNT };

struct vvar {
	uint32_t seq;
	uint32_t flags;
	uint64_t base_tsc;
	uint64_t coarse_ns;
	struct vvar_clock clocks[VC_COUNT];
};

/* Placed by the linker script one page below the image's first byte. */
extern const volatile struct vvar vvar_page __attribute__((visibility("hidden")));

struct timespec_k {
	long tv_sec;
	long tv_nsec;
};

struct timeval_k {
	long tv_sec;
	long tv_usec;
};

struct timezone_k {
	int tz_minuteswest;
	int tz_dsttime;
};

#define CLOCK_REALTIME 0
#define CLOCK_MONOTONIC 1
#define CLOCK_MONOTONIC_RAW 4
#define CLOCK_REALTIME_COARSE 5
#define CLOCK_MONOTONIC_COARSE 6
#define CLOCK_BOOTTIME 7

#define NR_gettimeofday 96
#define NR_time 201
#define NR_clock_gettime 228
#define NR_clock_getres 229
#define NR_getcpu 309

#define NSEC_PER_SEC 1000000000ull

#define barrier() __asm__ __volatile__("" ::: "memory")

static inline long syscall3(long nr, long a, long b, long c)
{
	long ret;
	__asm__ __volatile__("syscall"
			     : "=a"(ret)
			     : "a"(nr), "D"(a), "S"(b), "d"(c)
			     : "rcx", "r11", "memory");
	return ret;
}

/* lfence keeps rdtsc from running ahead of the loads before it. */
static inline uint64_t rdtsc_ordered(void)
{
	uint32_t lo, hi;
	__asm__ __volatile__("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return ((uint64_t)hi << 32) | lo;
}

/*
 * The clock `which` (a VC_ index) in nanoseconds; 0 when the page cannot
 * answer, in which case the caller makes the system call.
 */
static int read_clock(int which, int coarse, uint64_t *out)
{
	const volatile struct vvar *v = &vvar_page;
	for (;;) {
		uint32_t seq = v->seq;
		barrier();
		if (seq & 1) {
			__asm__ __volatile__("pause");
			continue;
		}
		if (!(v->flags & VVAR_TSC_OK))
			return 0;
		uint64_t base_tsc = v->base_tsc;
		uint64_t base_ns = v->clocks[which].base_ns;
		uint64_t mult = v->clocks[which].mult;
		uint64_t tick = v->coarse_ns;
		uint64_t tsc = rdtsc_ordered();
		barrier();
		if (v->seq != seq)
			continue;
		/* A TSC read just before an update lands at the new base. */
		uint64_t delta = tsc > base_tsc ? tsc - base_tsc : 0;
		uint64_t ns = base_ns + (uint64_t)(((unsigned __int128)delta * mult) >> 32);
		/* Coarse clocks: the last tick's value, as Linux reports it. */
		if (coarse && tick > 1)
			ns -= ns % tick;
		*out = ns;
		return 1;
	}
}

/* Which line a clock id reads, or -1; *coarse says it is a _COARSE one. */
static int clock_index(int id, int *coarse)
{
	*coarse = 0;
	switch (id) {
	case CLOCK_REALTIME:
		return VC_REALTIME;
	case CLOCK_MONOTONIC:
		return VC_MONOTONIC;
	case CLOCK_BOOTTIME:
		return VC_BOOTTIME;
	case CLOCK_MONOTONIC_RAW:
		return VC_RAW;
	case CLOCK_REALTIME_COARSE:
		*coarse = 1;
		return VC_REALTIME;
	case CLOCK_MONOTONIC_COARSE:
		*coarse = 1;
		return VC_MONOTONIC;
	default:
		return -1;
	}
}

int __vdso_clock_gettime(int id, struct timespec_k *ts)
{
	int coarse;
	int which = clock_index(id, &coarse);
	uint64_t ns;
	if (which < 0 || !read_clock(which, coarse, &ns))
		return syscall3(NR_clock_gettime, id, (long)ts, 0);
	ts->tv_sec = ns / NSEC_PER_SEC;
	ts->tv_nsec = ns % NSEC_PER_SEC;
	return 0;
}

int __vdso_gettimeofday(struct timeval_k *tv, struct timezone_k *tz)
{
	uint64_t ns;
	if (!read_clock(VC_REALTIME, 0, &ns))
		return syscall3(NR_gettimeofday, (long)tv, (long)tz, 0);
	if (tv) {
		tv->tv_sec = ns / NSEC_PER_SEC;
		tv->tv_usec = (ns % NSEC_PER_SEC) / 1000;
	}
	/* The sandbox's time zone is UTC, as the Sentry's gettimeofday says. */
	if (tz) {
		tz->tz_minuteswest = 0;
		tz->tz_dsttime = 0;
	}
	return 0;
}

long __vdso_time(long *t)
{
	uint64_t ns;
	if (!read_clock(VC_REALTIME, 0, &ns))
		return syscall3(NR_time, (long)t, 0, 0);
	long sec = ns / NSEC_PER_SEC;
	if (t)
		*t = sec;
	return sec;
}

int __vdso_clock_getres(int id, struct timespec_k *res)
{
	int coarse;
	const volatile struct vvar *v = &vvar_page;
	uint64_t tick = v->coarse_ns;
	if (clock_index(id, &coarse) < 0 || !(v->flags & VVAR_TSC_OK) || (coarse && tick == 0))
		return syscall3(NR_clock_getres, id, (long)res, 0);
	if (res) {
		res->tv_sec = 0;
		res->tv_nsec = coarse ? tick : 1;
	}
	return 0;
}

/*
 * The Sentry's getcpu reports CPU 0, node 0 (the sandbox does not expose
 * the host's CPU numbers); so does this, without the trap.
 */
int __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache)
{
	(void)cache;
	if (cpu)
		*cpu = 0;
	if (node)
		*node = 0;
	return 0;
}

/* Linux's vDSO exports the plain names too. */
int clock_gettime(int, struct timespec_k *) __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct timeval_k *, struct timezone_k *)
	__attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) __attribute__((weak, alias("__vdso_time")));
int clock_getres(int, struct timespec_k *) __attribute__((weak, alias("__vdso_clock_getres")));
int getcpu(unsigned *, unsigned *, void *) __attribute__((weak, alias("__vdso_getcpu")));
