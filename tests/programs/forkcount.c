/* Forks up to N children that wait for their parent to end them, counts
 * the forks that succeed, prints "forks K errno E" (E: the first
 * failure's errno name, or "none"), then ends the children.
 *
 *   forkcount N */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 30;
    pid_t kids[1024];
    int k = 0, first = 0;
    for (int i = 0; i < n && i < 1024; i++) {
        pid_t p = fork();
        if (p == 0) {
            pause();
            _exit(0);
        }
        if (p < 0) {
            if (!first) first = errno;
            continue;
        }
        kids[k++] = p;
    }
    printf("forks %d errno %s\n", k, first == EAGAIN ? "EAGAIN" : first ? strerror(first) : "none");
    fflush(stdout);
    for (int i = 0; i < k; i++) kill(kids[i], SIGKILL);
    for (int i = 0; i < k; i++) waitpid(kids[i], NULL, 0);
    return 0;
}
