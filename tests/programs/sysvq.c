/* sysvq make KEY | sysvq find KEY: creates a System V message queue under
 * KEY, or says whether one exists in the caller's IPC namespace ("found",
 * or "absent" when msgget fails with ENOENT). Used by tests/tests/pods.rs to
 * tell a pod's shared IPC namespace from a container's own. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: sysvq make|find KEY\n");
        return 2;
    }
    key_t key = (key_t)strtol(argv[2], NULL, 0);
    if (strcmp(argv[1], "make") == 0) {
        if (msgget(key, IPC_CREAT | 0600) < 0) {
            perror("msgget");
            return 1;
        }
        puts("made");
        return 0;
    }
    if (msgget(key, 0) >= 0) {
        puts("found");
        return 0;
    }
    if (errno == ENOENT) {
        puts("absent");
        return 0;
    }
    perror("msgget");
    return 1;
}
