/* perf_event_open(2): the host kernel's perf subsystem, a source of
 * privilege escalations (CVE-2013-2094, CVE-2022-1729) and of
 * side channels on other tenants. Opens a software counter of itself. */
#include "attack.h"

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

int attack_perf_event_open(void) {
    struct perf_event_attr a;
    memset(&a, 0, sizeof a);
    a.type = PERF_TYPE_SOFTWARE;
    a.size = sizeof a;
    a.config = PERF_COUNT_SW_TASK_CLOCK;
    a.exclude_kernel = 1;
    long fd = syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
    if (fd < 0)
        BLOCKED_ERRNO("perf_event_open(task clock)");
    WORKED("opened a host perf event (fd %ld)", fd);
}
