import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCLI

/// The help of every command (CLI/Usage.swift), the hooks' --version/--help (Release/HookHelp.swift)
/// and the man page rendered from them.
@Suite("help, --version and the man page")
struct UsageTests {
    /// The commands CLI.usage lists (its first word on each indented line).
    static var summaryCommands: [String] {
        CLI.usage.split(separator: "\n").dropFirst().compactMap { line -> String? in
            guard line.hasPrefix("  "), !line.hasPrefix("   ") else { return nil }
            return line.split(separator: " ").first.map(String.init)
        }
    }

    @Test("every command of the summary has its help, and every help is a command the CLI knows")
    func everyCommandHasHelp() throws {
        let listed = Self.summaryCommands
        #expect(listed.count >= 14, "\(listed)")
        for c in listed { #expect(Usage.entry(c) != nil, "no Usage entry for \(c): add one in CLI/Usage.swift") }
        for e in Usage.commands where !["help", "hook-worker"].contains(e.name) {
            #expect(listed.contains(e.name), "Usage has \(e.name), CLI.usage does not list it")
        }
    }

    @Test("help CMD and CMD --help print the same text; help of an unknown command is a usage error")
    func helpForms() throws {
        #expect(try Usage.answer("help", ["restore"]))
        #expect(try Usage.answer("restore", ["--help"]))
        #expect(try Usage.answer("backup", ["full", "--help"]))
        #expect(try Usage.answer("--version", []))
        #expect(try !Usage.answer("help", []), "plain help prints CLI.usage")
        #expect(try !Usage.answer("restore", ["--latest", "--plan"]))
        #expect(try !Usage.answer("fence", ["up", "--reason", "-h", "x"]), "a value '-h' is not a help request")
        #expect(throws: MBError.self) { try Usage.answer("help", ["nope"]) }
        #expect(Usage.text(Usage.entry("restore")!).hasPrefix("usage: mha-backup [--config FILE] restore"))
    }

    @Test("each option the CLI accepts for a command is in that command's help")
    func optionsDocumented() throws {
        let accepted: [String: [String]] = [
            "check": ["json"], "backup": ["source", "method", "compression", "job-id", "wait", "ignore-fence", "json", "no-wait-fence"],
            "list": ["json"], "jobs": ["json"], "binlog": ["once-seconds", "source", "json", "stop"],
            "fence": ["ttl", "reason", "json"], "verify": ["level", "all", "latest", "json"],
            "restore": ["to-time", "to-position", "to-gtid", "target-dir", "port", "backup", "latest", "start", "plan", "json", "keep-work"],
            "drill": ["new-master", "dead-master-ssh"], "status": ["json"], "salvage": ["failover", "last"],
            "audit": ["failover", "last", "json", "report"], "alerts": ["severity", "kind", "summary", "details", "failover", "background", "json"], "metrics": ["stdout"], "sandbox": ["root", "base", "new-master", "hooks-dir", "host", "mysqld"],
        ]
        for (cmd, opts) in accepted {
            let e = try #require(Usage.entry(cmd))
            let synopsis = e.synopsis.joined(separator: " ")
            for o in opts { #expect(synopsis.contains("--\(o)"), "\(cmd): --\(o) is not in its synopsis") }
        }
    }

    @Test("a hook answers only a lone --version or --help; MHA's argv goes to the hook")
    func hookHelp() {
        #expect(HookHelp.answer(executable: "mha-backup-shutdown", argv: ["--version"]) == 0)
        #expect(HookHelp.answer(executable: "mha-backup-shutdown", argv: ["--help"]) == 0)
        #expect(HookHelp.answer(executable: "mha-backup-report", argv: ["-h"]) == 0)
        #expect(HookHelp.answer(executable: "mha-backup-shutdown", argv: []) == nil)
        #expect(HookHelp.answer(executable: "mha-backup-shutdown", argv: ["--command=stopssh", "--host=db1", "--help"]) == nil)
        #expect(HookHelp.answer(executable: "mha-backup-master-ip-failover", argv: ["--command=status"]) == nil)
        #expect(HookHelp.answer(executable: "mha-backup-report", argv: ["--version", "--orig_master_host=db1"]) == nil)
        for h in HookHelp.hooks {
            let t = HookHelp.text(executable: h.executable)
            #expect(t.hasPrefix("usage: \(h.executable) "))
            #expect(t.contains("\(h.setting)=/usr/bin/\(h.executable) --config="))
        }
        #expect(MHABackupVersion.line("mha-backup") == "mha-backup \(MHABackupVersion.version)")
    }

    @Test("the man page: every command and hook, no text line that roff would take for a request")
    func manPage() {
        let m = Usage.man(summary: CLI.usage)
        #expect(m.hasPrefix(".TH MHA\\-BACKUP 1 "))
        #expect(m.contains(MHABackupVersion.version))
        for e in Usage.commands { #expect(m.contains(".SS \(e.name.replacing("-", with: "\\-"))\n"), "\(e.name)") }
        for h in HookHelp.hooks { #expect(m.contains(".B \(h.executable.replacing("-", with: "\\-"))\n")) }
        let requests: Set<String> = [".TH", ".SH", ".SS", ".PP", ".TP", ".B", ".I", ".BR", ".nf", ".fi", ".br"]
        for line in m.split(separator: "\n") where line.hasPrefix(".") || line.hasPrefix("'") {
            #expect(requests.contains(String(line.split(separator: " ").first ?? "")), "not a request: \(line)")
        }
    }

    @Test("scripts/package reads the version from this source line; the Debian changelog names it")
    func versionOnePlace() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let changelog = try String(contentsOfFile: "\(repo)/packaging/deb/changelog", encoding: .utf8)
        #expect(changelog.hasPrefix("mha-backup (\(MHABackupVersion.version)) "), "packaging/deb/changelog's top entry is not \(MHABackupVersion.version)")
        let script = try String(contentsOfFile: "\(repo)/scripts/package", encoding: .utf8)
        #expect(script.contains("public static let version = "), "scripts/package no longer reads Version.swift's line")
    }
}
