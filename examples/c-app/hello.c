/* The C example's program: greets whom its arguments name and says how it
 * was built, so a test can tell the image ran this very binary. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

int main(int argc, char **argv) {
    struct utsname u;
    const char *who = argc > 1 ? argv[1] : "world";
    if (uname(&u) != 0)
        strcpy(u.machine, "unknown");
    printf("hello, %s: a static C binary built by cbuild, running on %s\n", who, u.machine);
#ifdef BUILD_ID
    printf("build %s\n", BUILD_ID);
#endif
    return 0;
}
