import Foundation

enum SandboxCommand {
    static func run(args: Arguments) throws {
        guard let sub = args.positional.first else {
            throw MBError.usage("sandbox needs one of: up, down, status, env, kill-master")
        }
        var sb = Sandbox(root: args["root"] ?? ProcessInfo.processInfo.environment["MHA_BACKUP_SANDBOX"] ?? Sandbox.defaultRoot,
                         repo: repoRoot())
        sb.log = { print($0) }
        switch sub {
        case "up":
            try sb.up()
        case "down":
            try sb.down()
        case "env":
            print("export MHA_BACKUP_CONFIG=\(ShellQuote.quote(sb.backupCnf))")
        case "status":
            let st = sb.status()
            if args.has("json") { print(JSON.string(st)) } else {
                if !sb.isUp { print("sandbox is not up (\(sb.root))") }
                for s in st { print("\(s.host)  mysqld=\(s.mysqld ? "up" : "down")  sshd=\(s.sshd ? "up" : "down")  role=\(s.role)") }
            }
        case "kill-master":
            guard args.has("host") != args.has("mysqld") else {
                throw MBError.usage("kill-master needs exactly one of --host (mysqld and sshd) or --mysqld")
            }
            try sb.killMaster(wholeHost: args.has("host"))
        default:
            throw MBError.usage("unknown sandbox command \(q(sub))")
        }
    }

    /// The repository the binary was built from (…/.build/debug/mha-backup → …), for hooks/.
    static func repoRoot() -> String? {
        if let r = ProcessInfo.processInfo.environment["MHA_BACKUP_REPO"] { return r }
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        for _ in 0..<5 {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return nil
    }
}
