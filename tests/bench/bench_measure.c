/* bench_measure: runs one command and writes its wall time, peak RSS and CPU
 * time to a file, for tests/bench/run.
 *
 * Why not the shell: on the 2-core VM the project runs on, `date +%s%N` and
 * GNU time each cost 10 to 20 ms of fork and exec, as much as a cached
 * rebuild; here the clock is read in this process right before fork and
 * right after wait4, whose rusage gives the peak RSS (the largest of the
 * command and the descendants it waited for) and the CPU seconds.
 *
 * usage: bench_measure OUT COMMAND [ARGS...]
 *   OUT gets one line "WALL_MS MAXRSS_KIB USER_S SYS_S" (written even when
 *   the command fails). Exit status: the command's (128 + N for signal N,
 *   127 when it cannot be run).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double seconds(struct timeval tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_measure OUT COMMAND [ARGS...]\n");
        return 2;
    }
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench_measure: fork: %s\n", strerror(errno));
        return 127;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "bench_measure: %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status;
    struct rusage ru;
    pid_t got;
    do
        got = wait4(pid, &status, 0, &ru);
    while (got < 0 && errno == EINTR);
    double t1 = now_ms();
    if (got < 0) {
        fprintf(stderr, "bench_measure: wait4: %s\n", strerror(errno));
        return 127;
    }
    FILE *out = fopen(argv[1], "w");
    if (!out) {
        fprintf(stderr, "bench_measure: %s: %s\n", argv[1], strerror(errno));
        return 127;
    }
    fprintf(out, "%.1f %ld %.2f %.2f\n", t1 - t0, ru.ru_maxrss, seconds(ru.ru_utime), seconds(ru.ru_stime));
    if (fclose(out) != 0) {
        fprintf(stderr, "bench_measure: %s: %s\n", argv[1], strerror(errno));
        return 127;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
