import Glibc
import MHABackupFailover

// Thin: MHA's argv in, MHA's exit code out (a lone --version or --help is a person's).
if let code = HookHelp.answer(executable: "mha-backup-report", argv: Array(CommandLine.arguments.dropFirst())) { exit(code) }
exit(Hooks.main(kind: .report, argv: Array(CommandLine.arguments.dropFirst())))
