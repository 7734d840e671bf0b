/* A server slower to accept than its clients are to connect, for the
 * network tests: listens on PORT with a backlog of 1, says "listening",
 * waits DELAY_MS without accepting (the queue overflows meanwhile), then
 * accepts N connections one at a time; each sends one byte and gets
 * "ok\n". Prints "served N" and exits 0 when all were served.
 *
 *   slowaccept PORT N DELAY_MS
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: slowaccept PORT N DELAY_MS\n");
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[2]), delay = atoi(argv[3]);
    int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1)) {
        perror("listen");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    struct timespec ts = {delay / 1000, (delay % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    for (int i = 0; i < n; i++) {
        int c = accept(l, NULL, NULL);
        char b;
        if (c < 0 || read(c, &b, 1) != 1 || write(c, "ok\n", 3) != 3) {
            perror("serving");
            return 1;
        }
        close(c);
    }
    printf("served %d\n", n);
    return 0;
}
