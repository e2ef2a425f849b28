/* The loopback interface of a RUN step's own network namespace, see
 * run_security.h. */
#include "builder/run_security.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "common/util.h"

int cb_run_loopback_up(cb_error_t **err) {
    /* Any socket will do for interface ioctls; this one needs no module. */
    cb_autoclose int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cb_error_set(err, errno, "loopback: open a socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", sizeof "lo");
    if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
        return cb_error_set(err, errno, "loopback: read the flags of lo");
    if (ifr.ifr_flags & IFF_UP)
        return 0;
    /* The kernel gives lo 127.0.0.1/8 and ::1 when it comes up. */
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
        return cb_error_set(err, errno, "loopback: bring lo up");
    return 0;
}
