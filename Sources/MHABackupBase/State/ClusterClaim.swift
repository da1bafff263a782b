import FoundationEssentials
import Glibc

/// One manager host, many clusters: each cluster's state_dir and store_dir must be its own (its
/// fence, jobs, timeline and catalog would otherwise fence, pause or re-point another cluster).
/// The first command of a cluster writes `cluster.owner` (its mha_conf) into each folder that
/// exists; a config of another cluster pointing at the same folder is then refused (exit 78).
public enum ClusterClaim {
    public static let fileName = "cluster.owner"

    /// Checks (and on first use writes) the owner of `config`'s state_dir and store_dir.
    public static func check(_ config: BackupConfig) throws {
        for (key, dir) in [("state_dir", config.stateDir), ("store_dir", config.storeDir)] {
            var st = stat()
            guard stat(dir, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { continue }
            let path = "\(dir)/\(fileName)"
            if let data = FileManager.default.contents(atPath: path) {
                let owner = String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init)?.trimmedBlanks() ?? ""
                if owner.isEmpty || owner == config.mhaConf { continue }
                throw MBError(.config, "\(key) \(q(dir)) of \(q(config.path)) belongs to the cluster of \(q(owner)) (\(q(path))), not to \(q(config.mhaConf))",
                              hint: "give each cluster its own state_dir and store_dir (INSTALL.md, \"Many clusters\"); if the folder really moved to this cluster, remove \(q(path))")
            }
            // Not ours to create when we may not write (a read-only command by another user): skip.
            try? AtomicFile.write(config.mhaConf + "\n", to: path, mode: 0o640)
        }
    }
}
