/* Connecting to a host service's abstract Unix socket: abstract socket
 * names belong to a network namespace, not to the file system, so a
 * container that shares the host's network namespace (docker run
 * --network=host) reaches every abstract socket of the host: CVE-2020-15257,
 * containerd-shim's API exposed to host-network containers
 * (https://research.nccgroup.com/2020/11/30/technical-advisory-containerd-containerd-shim-api-exposed-to-host-network-containers/).
 * The runner listens on an abstract socket (SELFTEST_ABSTRACT) and sends
 * its secret to whoever connects; the attack prints what it got. */
#include "attack.h"

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int attack_abstract_unix(void) {
    const char *name = need_env("SELFTEST_ABSTRACT");
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0)
        BLOCKED_ERRNO("socket(AF_UNIX)");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    if (len + 1 > sizeof a.sun_path)
        BLOCKED("SELFTEST_ABSTRACT is too long");
    memcpy(a.sun_path + 1, name, len); /* sun_path[0] = 0: abstract */
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    if (connect(s, (struct sockaddr *)&a, alen) < 0)
        BLOCKED_ERRNO("connect to the host's abstract socket");
    if (print_leak(s) < 0)
        BLOCKED_ERRNO("read from the host's socket");
    WORKED("talked to a host service over its abstract Unix socket");
}
