import Foundation
import MHABackupCLI

// Thin: parse argv in the core's CLI and exit with its code.
exit(CLI.main(Array(CommandLine.arguments.dropFirst())))
