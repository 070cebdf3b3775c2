/* B2 workload for the watcher benchmarks: mkdir M directories under ROOT,
 * then N x open(O_CREAT)/write 64 B/close spread over them, unthrottled.
 * Prints "files/s" by the wall clock, then files per second of the
 * writer's own CPU time (user + system, getrusage): on a shared machine the
 * second is what a watcher costs the writer itself (its kernel work in
 * the writer's syscalls), without the time spent waiting for a core.
 *
 * Paired (TWIN and CHUNK given): the same M directories and N files are
 * also made under TWIN (an unwatched filesystem of the same kind), the
 * files in chunks of CHUNK alternating between ROOT and TWIN (ABBA order),
 * each chunk timed by this thread's CPU clock (CLOCK_THREAD_CPUTIME_ID).
 * Prints files per CPU-second into ROOT, into TWIN, and their ratio
 * (ROOT / TWIN). Both halves run in the same process at the same time, so
 * what slows the whole machine slows both: the ratio is what the marks on
 * ROOT cost its writer (0.97-1.02 run to run with no watcher, against
 * 0.7-1.2 for separate runs; bench/watch-RESULTS.md).
 * With FLOOR=1 in the environment (paired only), the writer first places
 * on ROOT, itself, the fanotify marks the watcher leaves for a muted or
 * ignored directory (bench/watch_ignore_floor.c mode 6: a filesystem mark
 * for directory-entry events, content marks with FAN_EVENT_ON_CHILD on
 * ROOT and its parent, ignore marks for directory-entry events on the M
 * directories) and nobody reads them: the kernel's floor for those
 * workloads, in the same run as the watcher.
 * Usage: watch_writer ROOT M N [TWIN CHUNK] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/fanotify.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double thread_cpu(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int mkdirs(const char *root, long m) {
    char path[4096];
    for (long d = 0; d < m; d++) {
        snprintf(path, sizeof path, "%s/d%03ld", root, d);
        if (mkdir(path, 0755) != 0) { perror(path); return 1; }
    }
    return 0;
}

static int one(const char *root, long i, long m) {
    static const char buf[64] = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
    char path[4096];
    snprintf(path, sizeof path, "%s/d%03ld/f%06ld", root, i % m, i);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) { perror(path); return 1; }
    if (write(fd, buf, sizeof buf) != sizeof buf) { perror("write"); return 1; }
    close(fd);
    return 0;
}

static int floor_marks(const char *root, long m) {
    unsigned long long dirent = FAN_CREATE | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_DELETE;
    unsigned long long content = FAN_MODIFY | FAN_CLOSE_WRITE | FAN_ATTRIB | FAN_EVENT_ON_CHILD;
    char path[4096];
    int fan = fanotify_init(FAN_CLASS_NOTIF | FAN_NONBLOCK | FAN_REPORT_DFID_NAME, O_RDONLY);
    if (fan < 0 || fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, dirent | FAN_ONDIR, AT_FDCWD, root)) {
        perror("fanotify"); return 1;
    }
    snprintf(path, sizeof path, "%s/..", root);
    if (fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_ONLYDIR, content, AT_FDCWD, root) ||
        fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_ONLYDIR, content, AT_FDCWD, path)) {
        perror("content mark"); return 1;
    }
    for (long d = 0; d < m; d++) {
        snprintf(path, sizeof path, "%s/d%03ld", root, d);
        if (fanotify_mark(fan, FAN_MARK_ADD | FAN_MARK_IGNORE_SURV | FAN_MARK_EVICTABLE | FAN_MARK_ONLYDIR,
                          dirent | FAN_RENAME, AT_FDCWD, path)) { perror("ignore mark"); return 1; }
    }
    return 0; /* the group lives until the process exits */
}

static int paired(const char *root, const char *twin, long m, long n, long chunk) {
    const char *r[2] = {root, twin};
    double cpu[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        double t0 = thread_cpu();
        if (mkdirs(r[k], m)) return 1;
        cpu[k] += thread_cpu() - t0;
    }
    if (getenv("FLOOR") && floor_marks(root, m)) return 1;
    for (long base = 0; base < n; base += chunk) {
        for (int j = 0; j < 2; j++) {
            int k = (base / chunk) % 2 ? 1 - j : j;
            double t0 = thread_cpu();
            for (long i = base; i < base + chunk && i < n; i++)
                if (one(r[k], i, m)) return 1;
            cpu[k] += thread_cpu() - t0;
        }
    }
    printf("%.0f %.0f %.4f\n", n / cpu[0], n / cpu[1], cpu[1] / cpu[0]);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 4 && argc != 6) { fprintf(stderr, "usage: %s ROOT M N [TWIN CHUNK]\n", argv[0]); return 2; }
    const char *root = argv[1];
    long m = atol(argv[2]), n = atol(argv[3]);
    if (argc == 6) return paired(root, argv[4], m, n, atol(argv[5]));
    struct timespec a, b;
    struct rusage ra, rb;
    getrusage(RUSAGE_SELF, &ra);
    clock_gettime(CLOCK_MONOTONIC, &a);
    if (mkdirs(root, m)) return 1;
    for (long i = 0; i < n; i++)
        if (one(root, i, m)) return 1;
    clock_gettime(CLOCK_MONOTONIC, &b);
    getrusage(RUSAGE_SELF, &rb);
    double s = (b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9;
#define TV(t) ((t).tv_sec + (t).tv_usec / 1e6)
    double cpu = TV(rb.ru_utime) - TV(ra.ru_utime) + TV(rb.ru_stime) - TV(ra.ru_stime);
    printf("%.0f %.0f\n", n / s, n / cpu);
    return 0;
}
