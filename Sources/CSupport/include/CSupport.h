#ifndef MHA_BACKUP_CSUPPORT_H
#define MHA_BACKUP_CSUPPORT_H
#include <spawn.h>
/// pipe2(O_CLOEXEC): both ends close-on-exec atomically, so no concurrent spawn inherits them.
int mb_pipe_cloexec(int fds[2]);
/// posix_spawn_file_actions_addchdir_np (glibc >= 2.29).
int mb_spawn_addchdir(posix_spawn_file_actions_t *fa, const char *path);
/// Closes every descriptor above 2 (hooks inherit MHA's database sessions).
void mb_close_fds_above_stderr(void);
#endif
