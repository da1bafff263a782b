import Glibc
import MHABackupFailover

// Thin: MHA's argv in, MHA's exit code out.
exit(Hooks.main(kind: .masterIPOnlineChange, argv: Array(CommandLine.arguments.dropFirst())))
