#include "common/interrupt.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t received;

static void on_signal(int sig) {
    if (received == sig) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    if (!received)
        received = sig;
}

void cb_interrupt_install(void) {
    /* SA_RESTART: calls the signal lands in go on; the polls notice it. */
    struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cb_interrupt_signal(void) {
    return received;
}

int cb_interrupt_check(cb_error_t **err) {
    int sig = received;
    if (!sig)
        return 0;
    cb_error_kind_set(err, CB_ERR_INTERRUPTED, "interrupted by %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
    (*err)->status = sig;
    return -1;
}
