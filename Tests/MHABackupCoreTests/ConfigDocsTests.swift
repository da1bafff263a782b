import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

/// INSTALL.md's configuration table and mha-samples/mha-backup.cnf against the parser's own list
/// of sections and keys (`BackupConfig.schema`, and the `[host NAME]` keys), so a key added to the
/// parser without documentation fails here.
@Suite("the config documentation covers every key the parser knows")
struct ConfigDocsTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let hostKeys: Set<String> = ["datadir", "socket", "remote_credentials"]

    static var known: Set<String> {
        var s = Set(BackupConfig.schema.flatMap { sec, keys in keys.map { "[\(sec)] \($0)" } })
        for k in hostKeys { s.insert("[host] \(k)") }
        for k in TierSettings.keys.union(["type"]) { s.insert("[tier] \(k)") }
        return s
    }

    static func read(_ rel: String) throws -> String {
        try #require(FileManager.default.contents(atPath: repo + "/" + rel).map { String(decoding: $0, as: UTF8.self) },
                     "\(rel) not found beside the tests")
    }

    /// `[section] key` of every row of the table under "## Configuration" (a row with an empty
    /// first cell continues the section above it; a cell may name several keys).
    static func installTable() throws -> Set<String> {
        let text = try read("INSTALL.md")
        let start = try #require(text.range(of: "| section | key | default | meaning |"))
        var out: Set<String> = []
        var section = ""
        for line in text[start.upperBound...].split(separator: "\n").dropFirst() {
            guard line.hasPrefix("|") else { break }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count > 3 else { continue }
            if let s = cells[1].firstMatch(of: /`\[([a-z-]+)[^\]]*\]`/) { section = String(s.1) }
            for k in cells[2].matches(of: /`([a-z_]+)`/) { out.insert("[\(section)] \(k.1)") }
        }
        return out
    }

    /// `[section] key` of every line of the sample, commented out or not.
    static func sample() throws -> Set<String> {
        var out: Set<String> = []
        var section = ""
        for line in try read("mha-samples/mha-backup.cnf").split(separator: "\n") {
            if let s = line.firstMatch(of: /^#?\s*\[([a-z-]+)[^\]]*\]/) { section = String(s.1); continue }
            if let k = line.firstMatch(of: /^#?\s*([a-z_]+)\s*=/) { out.insert("[\(section)] \(k.1)") }
        }
        return out
    }

    @Test("INSTALL.md's configuration table has every section and key")
    func installHasEveryKey() throws {
        let documented = try Self.installTable()
        #expect(documented.count > 40)
        let missing = Self.known.subtracting(documented).sorted()
        #expect(missing.isEmpty, "not in INSTALL.md's table: \(missing)")
    }

    @Test("mha-samples/mha-backup.cnf shows every section and key, and parses")
    func sampleHasEveryKey() throws {
        let missing = Self.known.subtracting(try Self.sample()).sorted()
        #expect(missing.isEmpty, "not in mha-samples/mha-backup.cnf: \(missing)")
        let ini = try INIFile.parse(try Self.read("mha-samples/mha-backup.cnf"), path: "mha-backup.cnf", inlineComments: true)
        _ = try BackupConfig.parse(ini)
    }

    @Test("the sample and the table name the same keys")
    func sampleMatchesTable() throws {
        let table = try Self.installTable()
        let sample = try Self.sample()
        #expect(sample.subtracting(table).sorted() == [], "in the sample, not in INSTALL.md")
        #expect(table.subtracting(sample).sorted() == [], "in INSTALL.md, not in the sample")
    }
}
