/* B2 workload for the watcher benchmarks: mkdir M directories under ROOT,
 * then N x open(O_CREAT)/write 64 B/close spread over them, unthrottled.
 * Prints "files/s" by the wall clock, then files per second of the
 * writer's own CPU time (user + system, getrusage): on a shared machine the
 * second is what a watcher costs the writer itself (its kernel work in
 * the writer's syscalls), without the time spent waiting for a core.
 * Usage: watch_writer ROOT M N */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: %s ROOT M N\n", argv[0]); return 2; }
    const char *root = argv[1];
    long m = atol(argv[2]), n = atol(argv[3]);
    char path[4096], buf[64];
    for (int i = 0; i < 64; i++) buf[i] = 'x';
    struct timespec a, b;
    struct rusage ra, rb;
    getrusage(RUSAGE_SELF, &ra);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long d = 0; d < m; d++) {
        snprintf(path, sizeof path, "%s/d%03ld", root, d);
        if (mkdir(path, 0755) != 0) { perror(path); return 1; }
    }
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/d%03ld/f%06ld", root, i % m, i);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) { perror(path); return 1; }
        if (write(fd, buf, sizeof buf) != sizeof buf) { perror("write"); return 1; }
        close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    getrusage(RUSAGE_SELF, &rb);
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
#define TV(t) ((t).tv_sec + (t).tv_usec / 1e6)
    double cpu = TV(rb.ru_utime) - TV(ra.ru_utime) + TV(rb.ru_stime) - TV(ra.ru_stime);
    printf("%.0f %.0f\n", n / s, n / cpu);
    return 0;
}
