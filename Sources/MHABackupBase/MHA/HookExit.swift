/// What MHA reads in a hook's exit code (MasterFailover.pm, `exec_system`): 0 done; 10 "failed,
/// proceed", which for shutdown_script means "mysqld is stopped and ssh works" (MHA then saves the
/// dead master's binlog); anything else aborts the failover.
public enum HookExit: Int32, Sendable {
    case ok = 0
    case abort = 1
    case stoppedSSHWorks = 10
}
