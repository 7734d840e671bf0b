/* AF_PACKET sockets with CAP_NET_RAW (Docker grants it by default): the
 * host kernel's packet socket code, behind CVE-2020-14386 and
 * CVE-2017-7308 (both container escapes), also forges frames on the
 * container's link. Opens one and binds it to every protocol. */
#include "attack.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <sys/socket.h>

int attack_packet_socket(void) {
    int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (s < 0)
        BLOCKED_ERRNO("socket(AF_PACKET, SOCK_RAW)");
    WORKED("the host kernel gave a packet socket (fd %d)", s);
}
