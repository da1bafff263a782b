import FoundationEssentials
import Glibc
import Dispatch

/// Loaded config, MHA servers and the paths every command needs.
public struct Context: Sendable {
    public var config: BackupConfig
    public var mha: MHAAppConfig
    public var clock: Clock = .system

    public static func load(configPath: String) throws -> Context {
        let c = try BackupConfig.load(configPath)
        let mha = try MHAAppConfig.load(c.mhaConf)
        return Context(config: c, mha: mha)
    }
}
