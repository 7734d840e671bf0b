/* Prints what a C program learns about the machine it runs on, one
 * "name value" line each: the CPU count from sysconf (glibc reads
 * /sys/devices/system/cpu) and from sched_getaffinity, the physical memory
 * from sysconf (glibc asks sysinfo), and /proc/meminfo's MemTotal.
 *
 *   limits */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(void) {
    printf("nprocessors_onln %ld\n", sysconf(_SC_NPROCESSORS_ONLN));
    printf("nprocessors_conf %ld\n", sysconf(_SC_NPROCESSORS_CONF));
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        printf("affinity %d\n", CPU_COUNT(&set));
    else
        perror("sched_getaffinity");
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    printf("phys_kb %lld\n", (long long)pages * size / 1024);
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) {
        perror("/proc/meminfo");
        return 1;
    }
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %lld kB", &kb) == 1)
            break;
    fclose(f);
    printf("memtotal_kb %lld\n", kb);
    return 0;
}
