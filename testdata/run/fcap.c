/* fcap: a tiny stand-in for setcap/getcap, built static by the RUN tests so
 * a busybox image can set a file capability from inside a RUN step.
 *
 *   fcap set FILE HEX   writes security.capability (VFS_CAP_REVISION_2):
 *                       permitted = HEX (low 32 bits), effective flag set
 *   fcap get FILE       prints "v2 permitted=HEX effective=0|1" or
 *                       "v3 permitted=HEX effective=0|1 rootid=N"
 *
 * The standard library only: no libcap in the image. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#define XATTR_NAME "security.capability"
#define REV_MASK 0xFF000000u
#define REV2 0x02000000u
#define REV3 0x03000000u
#define FLAG_EFFECTIVE 0x000001u

struct cap_data {
    uint32_t magic_etc;
    struct {
        uint32_t permitted, inheritable;
    } data[2];
    uint32_t rootid; /* v3 only */
};

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "set") == 0) {
        struct cap_data c = {.magic_etc = REV2 | FLAG_EFFECTIVE};
        c.data[0].permitted = (uint32_t)strtoul(argv[3], NULL, 16);
        if (setxattr(argv[2], XATTR_NAME, &c, 4 + 2 * 8, 0) < 0) {
            fprintf(stderr, "fcap: setxattr %s: %s\n", argv[2], strerror(errno));
            return 1;
        }
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "get") == 0) {
        struct cap_data c = {0};
        ssize_t n = getxattr(argv[2], XATTR_NAME, &c, sizeof c);
        if (n < 0) {
            fprintf(stderr, "fcap: getxattr %s: %s\n", argv[2], strerror(errno));
            return 1;
        }
        uint32_t rev = c.magic_etc & REV_MASK;
        int eff = (c.magic_etc & FLAG_EFFECTIVE) != 0;
        if (rev == REV3 && n == 24)
            printf("v3 permitted=%x effective=%d rootid=%u\n", c.data[0].permitted, eff, c.rootid);
        else if (rev == REV2 && n == 20)
            printf("v2 permitted=%x effective=%d\n", c.data[0].permitted, eff);
        else
            printf("unknown revision %08x size %zd\n", rev, n);
        return 0;
    }
    fprintf(stderr, "usage: fcap set FILE HEX | fcap get FILE\n");
    return 2;
}
