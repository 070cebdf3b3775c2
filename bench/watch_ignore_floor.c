#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
/* The kernel's floor for a muted directory under a fanotify filesystem mark
 * (bench/watch-RESULTS.md): 100 directories x 1,000 files (open/write
 * 64 B/close) written by this process, files per second of its own CPU
 * time, with nobody reading the group. Run as root on a fresh tmpfs ROOT.
 * MODE 0: no fanotify; 1: impermctl's filesystem mark (FID, DFID_NAME) and
 * its ignore marks on the 100 directories; 2: the same without FAN_MODIFY;
 * 4: everything ignored at the filesystem mark itself (no directory marks);
 * 5: a filesystem mark for directory-entry events only, with ignore marks;
 * 3: impermctl's marks with FAN_MODIFY alone as the content event (no
 * FAN_CLOSE_WRITE, no FAN_ATTRIB); 6: the per-directory design: a
 * filesystem mark for directory-entry events only, content events
 * (FAN_MODIFY, FAN_CLOSE_WRITE, FAN_ATTRIB, FAN_EVENT_ON_CHILD) on inode marks
 * of ROOT and ROOT/b (watched, not written here), the 100 directories muted by
 * ignore marks for directory-entry events without FAN_EVENT_ON_CHILD; 7: as 6
 * but the 100 directories carry content marks (writes heard: the burst's
 * kernel cost, read by nobody here); 8: impermctl's filesystem mark with
 * content events and no directory marks (the burst's cost before).
 * Usage: watch_ignore_floor ROOT MODE */
#define TV(t) ((t).tv_sec + (t).tv_usec / 1e6)
int main(int argc, char **argv) {
    const char *root = argv[1]; int mode = atoi(argv[2]); int n = 100000, m = 100;
    char path[4096], buf[64]; memset(buf, 'x', 64);
    unsigned long long base = FAN_CREATE|FAN_CLOSE_WRITE|FAN_ATTRIB|FAN_MOVED_FROM|FAN_MOVED_TO|FAN_DELETE|FAN_RENAME;
    if (mode == 1 || mode == 4 || mode == 8) base |= FAN_MODIFY;
    if (mode == 5) base = FAN_CREATE|FAN_MOVED_FROM|FAN_MOVED_TO|FAN_DELETE|FAN_RENAME;
    unsigned long long content = FAN_MODIFY|FAN_CLOSE_WRITE|FAN_ATTRIB|FAN_EVENT_ON_CHILD;
    if (mode == 6 || mode == 7) base = FAN_CREATE|FAN_MOVED_FROM|FAN_MOVED_TO|FAN_DELETE|FAN_RENAME;
    if (mode == 3) base = FAN_CREATE|FAN_MODIFY|FAN_MOVED_FROM|FAN_MOVED_TO|FAN_DELETE|FAN_RENAME;
    int fan = -1;
    snprintf(path, sizeof path, "%s/b", root); mkdir(path, 0755);
    for (int d = 0; d < m; d++) { snprintf(path, sizeof path, "%s/b/d%03d", root, d); mkdir(path, 0755); }
    if (mode) {
        fan = fanotify_init(FAN_CLASS_NOTIF|FAN_NONBLOCK|FAN_REPORT_DFID_NAME, O_RDONLY);
        if (fanotify_mark(fan, FAN_MARK_ADD|FAN_MARK_FILESYSTEM, base|FAN_ONDIR, AT_FDCWD, root)) { perror("sb"); return 1; }
        if (mode == 6 || mode == 7) {
            const char *w[2] = { "", "/b" };
            for (int i = 0; i < 2; i++) {
                snprintf(path, sizeof path, "%s%s", root, w[i]);
                if (fanotify_mark(fan, FAN_MARK_ADD|FAN_MARK_ONLYDIR, content, AT_FDCWD, path)) { perror("content"); return 1; }
            }
            for (int d = 0; d < m; d++) {
                snprintf(path, sizeof path, "%s/b/d%03d", root, d);
                int r = mode == 7
                    ? fanotify_mark(fan, FAN_MARK_ADD|FAN_MARK_ONLYDIR, content, AT_FDCWD, path)
                    : fanotify_mark(fan, FAN_MARK_ADD|FAN_MARK_IGNORE_SURV|FAN_MARK_EVICTABLE|FAN_MARK_ONLYDIR, base, AT_FDCWD, path);
                if (r) { perror("dir"); return 1; }
            }
        } else if (mode == 8) {
        } else if (mode == 4) {
            if (fanotify_mark(fan, FAN_MARK_ADD|FAN_MARK_IGNORE_SURV|FAN_MARK_FILESYSTEM, base, AT_FDCWD, root)) { perror("sbign"); return 1; }
        } else for (int d = 0; d < m; d++) {
            snprintf(path, sizeof path, "%s/b/d%03d", root, d);
            if (fanotify_mark(fan, FAN_MARK_ADD|FAN_MARK_IGNORE_SURV|FAN_MARK_EVICTABLE|FAN_MARK_ONLYDIR, base|FAN_EVENT_ON_CHILD, AT_FDCWD, path)) { perror("ign"); return 1; }
        }
    }
    struct rusage a, b; getrusage(RUSAGE_SELF, &a);
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/b/d%03d/f%06d", root, i % m, i);
        int fd = open(path, O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0644);
        write(fd, buf, 64); close(fd);
    }
    getrusage(RUSAGE_SELF, &b);
    double cpu = TV(b.ru_utime) - TV(a.ru_utime) + TV(b.ru_stime) - TV(a.ru_stime);
    char q[65536]; int got = mode ? (int)read(fan, q, sizeof q) : 0;
    printf("mode %d: %.0f files per CPU-s (queued bytes %d)\n", mode, n / cpu, got);
    return 0;
}
