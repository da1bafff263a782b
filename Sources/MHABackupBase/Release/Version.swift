/// The version of mha-backup: the one place it is written. `mha-backup --version`, each hook's
/// `--version` and `scripts/package` (which reads the `version` line below for the .deb's name
/// and control file) all take it from here. FoundationEssentials only (the hooks link it).
public enum MHABackupVersion {
    public static let version = "0.1.0"

    /// `mha-backup 0.1.0`: what `--version` prints for an executable.
    public static func line(_ program: String) -> String { "\(program) \(version)" }
}
