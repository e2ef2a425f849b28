/* Capabilities of a RUN step: Docker's default set, with raw prctl and
 * capset calls (no libcap), see run_security.h. */
#include "builder/run_security.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

/* moby's oci/caps/defaults.go: DefaultCapabilities. */
static const int default_caps[] = {
    CAP_CHOWN,   CAP_DAC_OVERRIDE, CAP_FSETID,  CAP_FOWNER,  CAP_MKNOD,
    CAP_NET_RAW, CAP_SETGID,       CAP_SETUID,  CAP_SETFCAP, CAP_SETPCAP,
    CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL, CAP_AUDIT_WRITE,
};

static uint64_t default_mask(void) {
    uint64_t mask = 0;
    for (size_t i = 0; i < CB_ARRAY_LEN(default_caps); i++)
        mask |= UINT64_C(1) << default_caps[i];
    return mask;
}

/* The highest capability this kernel knows. A capability set holds 64 bits,
 * so that is the limit. Without /proc the kernel is asked cap by cap:
 * PR_CAPBSET_READ fails with EINVAL past the last one. */
static int last_cap_known = -1;

/* Read in the parent (cb_run_caps_prepare): the child then opens nothing. */
static int last_cap(void) {
    if (last_cap_known >= 0)
        return last_cap_known;
    int last = -1;
    cb_autofclose FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
    if (f == NULL || fscanf(f, "%d", &last) != 1 || last < 0) {
        last = 0;
        while (last < 63 && prctl(PR_CAPBSET_READ, (unsigned long)last + 1, 0, 0, 0) >= 0)
            last++;
    }
    last_cap_known = last > 63 ? 63 : last;
    return last_cap_known;
}

void cb_run_caps_prepare(void) {
    (void)last_cap();
}

int cb_run_caps_limit(bool keep_default, cb_error_t **err) {
    uint64_t keep = keep_default ? default_mask() : 0;

    /* The bounding set first: dropping from it needs CAP_SETPCAP, which the
     * capset below may take away. */
    int last = last_cap();
    for (int cap = 0; cap <= last; cap++) {
        if (keep & (UINT64_C(1) << cap))
            continue;
        if (prctl(PR_CAPBSET_DROP, (unsigned long)cap, 0, 0, 0) < 0 && errno != EINVAL)
            return cb_error_set(err, errno, "drop capability %d from the bounding set", cap);
    }

    /* EINVAL: a kernel before 4.3 has no ambient set. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return cb_error_set(err, errno, "clear the ambient capabilities");
    /* A later setuid away from 0 must clear permitted and effective. */
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0)
        return cb_error_set(err, errno, "clear PR_SET_KEEPCAPS");

    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {{0}};
    if (syscall(SYS_capget, &hdr, data) < 0)
        return cb_error_set(err, errno, "read the capability sets");
    /* capset cannot add to the permitted set, so a capability of the default
     * set that the process lacks stays missing rather than failing the step. */
    uint64_t permitted = ((uint64_t)data[1].permitted << 32 | data[0].permitted) & keep;
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
        data[i].permitted = (uint32_t)(permitted >> (32 * i));
        data[i].effective = data[i].permitted;
        data[i].inheritable = 0;
    }
    if (syscall(SYS_capset, &hdr, data) < 0)
        return cb_error_set(err, errno, "set the capability sets to %#llx",
                            (unsigned long long)permitted);
    return 0;
}
