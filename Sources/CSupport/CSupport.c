#define _GNU_SOURCE
#include <fcntl.h>
#include <unistd.h>
#include <spawn.h>
#include <dirent.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include "CSupport.h"

int mb_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int mb_spawn_addchdir(posix_spawn_file_actions_t *fa, const char *path) {
    return posix_spawn_file_actions_addchdir_np(fa, path);
}

void mb_close_fds_above_stderr(void) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3U, ~0U, 0) == 0) return;
#endif
    DIR *d = opendir("/proc/self/fd");
    if (!d) { for (int fd = 3; fd < 1024; fd++) close(fd); return; }
    int dfd = dirfd(d);
    int fds[4096]; int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 4096) {
        int fd = atoi(e->d_name);
        if (fd > 2 && fd != dfd) fds[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++) close(fds[i]);
}
