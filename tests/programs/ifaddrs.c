/* Prints what glibc's getifaddrs() (a netlink dump of links and
 * addresses), SIOCGIFCONF/SIOCGIFFLAGS/SIOCGIFINDEX on a datagram socket
 * and getaddrinfo(AI_ADDRCONFIG) (netlink again, through __check_pf) see:
 * one line per fact, sorted by the caller, for comparing with runc. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <errno.h>
#include <unistd.h>

static const char *show(const struct sockaddr *sa, char *buf, size_t len) {
    if (!sa)
        return "-";
    if (sa->sa_family == AF_INET)
        return inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, len);
    if (sa->sa_family == AF_INET6)
        return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, len);
    snprintf(buf, len, "family%d", sa->sa_family);
    return buf;
}

int main(void) {
    struct ifaddrs *ifa, *p;
    char a[64], m[64];
    if (getifaddrs(&ifa) != 0) {
        perror("getifaddrs");
        return 1;
    }
    for (p = ifa; p; p = p->ifa_next) {
        if (!p->ifa_addr || p->ifa_addr->sa_family == AF_PACKET) {
            printf("getifaddrs %s packet up=%d loopback=%d\n", p->ifa_name,
                   !!(p->ifa_flags & IFF_UP), !!(p->ifa_flags & IFF_LOOPBACK));
            continue;
        }
        printf("getifaddrs %s %s/%s\n", p->ifa_name, show(p->ifa_addr, a, sizeof a),
               show(p->ifa_netmask, m, sizeof m));
    }
    freeifaddrs(ifa);

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq reqs[8];
    struct ifconf conf = {.ifc_len = sizeof reqs, .ifc_req = reqs};
    if (s < 0 || ioctl(s, SIOCGIFCONF, &conf) != 0) {
        perror("SIOCGIFCONF");
        return 1;
    }
    for (size_t i = 0; i < conf.ifc_len / sizeof(struct ifreq); i++) {
        struct ifreq r = reqs[i];
        printf("ifconf %s %s", r.ifr_name, show(&r.ifr_addr, a, sizeof a));
        if (ioctl(s, SIOCGIFINDEX, &r) == 0)
            printf(" index=%d", r.ifr_ifindex);
        if (ioctl(s, SIOCGIFFLAGS, &r) == 0)
            printf(" up=%d", !!(r.ifr_flags & IFF_UP));
        if (ioctl(s, SIOCGIFNETMASK, &r) == 0)
            printf(" mask=%s", show(&r.ifr_netmask, a, sizeof a));
        printf("\n");
    }
    struct ifreq bad = {0};
    strcpy(bad.ifr_name, "nosuch0");
    if (ioctl(s, SIOCGIFFLAGS, &bad) != 0)
        printf("ifreq nosuch0 %s\n", strerror(errno));
    printf("if_nametoindex lo %u\n", if_nametoindex("lo"));

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_ADDRCONFIG};
    struct addrinfo *res;
    int rc = getaddrinfo("127.0.0.1", "80", &hints, &res);
    printf("getaddrinfo AI_ADDRCONFIG rc=%d", rc);
    if (rc == 0) {
        printf(" %s", show(res->ai_addr, a, sizeof a));
        freeaddrinfo(res);
    }
    printf("\n");
    return 0;
}
