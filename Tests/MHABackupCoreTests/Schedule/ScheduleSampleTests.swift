import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupCore

/// The timers and the cron file of mha-samples: the seed's schedule, every kind, valid calendars.
/// (`systemd-analyze verify` of every unit, templates as their app1 instance: SampleUnitTests.)
@Suite("the schedule in mha-samples/systemd and mha-samples/cron")
struct ScheduleSampleTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// The seed's schedule (and the tier sync at 04:00), as systemd calendars and as cron's 5 fields.
    static let seed: [RunKind: (calendar: String, cron: String)] = [
        .full: ("Sun *-*-* 02:00:00", "0 2 * * 0"), .incremental: ("*-*-* 03:00:00", "0 3 * * *"),
        .binlog: ("*:0/15", "*/15 * * * *"), .verify: ("*-*-* 08:00:00", "0 8 * * *"),
        .retention: ("*-*-* 01:00:00", "0 1 * * *"), .tier: ("*-*-* 04:00:00", "0 4 * * *"),
    ]

    func read(_ rel: String) throws -> String { try String(contentsOfFile: "\(Self.repo)/\(rel)", encoding: .utf8) }

    @Test("a template timer and service per kind; each OnCalendar is the seed's and systemd-analyze calendar takes it")
    func timers() throws {
        let analyze = try #require(ProcessRunner.which("systemd-analyze"), "systemd-analyze is missing: install Debian package 'systemd'")
        for kind in RunKind.allCases {
            let timer = try read("mha-samples/systemd/mha-backup-\(kind.rawValue)@.timer")
            let service = try read("mha-samples/systemd/mha-backup-\(kind.rawValue)@.service")
            #expect(service.contains("ExecStart=/usr/local/bin/mha-backup run \(kind.rawValue)\n"), "\(kind)")
            #expect(service.contains("Environment=MHA_BACKUP_CONFIG=/etc/mha-backup/%i.cnf\n"), "\(kind)")
            let cals = timer.split(separator: "\n").filter { $0.hasPrefix("OnCalendar=") }.map { String($0.dropFirst("OnCalendar=".count)) }
            #expect(cals == [Self.seed[kind]!.calendar], "\(kind): \(cals)")
            for c in cals {
                let r = try ProcessRunner().run(Command([analyze, "calendar", c]), timeout: 30)
                #expect(r.succeeded && r.stdoutString.contains("Next elapse:"), "\(c): \(r.stdoutString)\(r.stages[0].stderr)")
            }
        }
        // And a broken calendar is refused (the check can fail).
        let bad = try ProcessRunner().run(Command([analyze, "calendar", "Sunday 25:00"]), timeout: 30)
        #expect(!bad.succeeded)
    }

    @Test("mha-samples/cron/mha-backup: every line 5 valid fields, user, command; the same schedule")
    func cron() throws {
        let text = try read("mha-samples/cron/mha-backup")
        var seen: [RunKind: String] = [:]
        let ranges = [0...59, 0...23, 1...31, 1...12, 0...7]
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if let eq = line.firstIndex(of: "="), !line[..<eq].contains(" ") { continue }   // SHELL=, PATH=
            let f = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            try #require(f.count >= 7, "not 5 fields + user + command: \(line)")
            for (i, field) in f[0..<5].enumerated() {
                #expect(Self.cronField(field, ranges[i]), "field \(i + 1) \(q(field)) of: \(line)")
            }
            #expect(f[5] == "root")
            #expect(f[6].hasPrefix("/"), "command not an absolute path: \(line)")
            #expect(Array(f[7...].prefix(3)) == ["--config", "/etc/mha-backup/app1.cnf", "run"], "\(line)")
            let kind = try #require(f.last.flatMap(RunKind.init(rawValue:)), "\(line)")
            seen[kind] = f[0..<5].joined(separator: " ")
        }
        #expect(seen == Self.seed.mapValues(\.cron))
        #expect(!Self.cronField("61", 0...59) && !Self.cronField("*/0", 0...59) && !Self.cronField("a", 0...59))
    }

    /// `*`, `*/n`, `a`, `a-b`, `a-b/n` and lists of them, inside the field's range.
    static func cronField(_ s: String, _ range: ClosedRange<Int>) -> Bool {
        s.split(separator: ",", omittingEmptySubsequences: false).allSatisfy { part in
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { return false }
            if pieces.count == 2 { guard let n = Int(pieces[1]), n > 0 else { return false } }
            let base = pieces[0]
            if base == "*" { return true }
            let ends = base.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...2).contains(ends.count), ends.allSatisfy({ $0.map(range.contains) ?? false }) else { return false }
            return ends.count == 1 || ends[0]! <= ends[1]!
        }
    }
}
