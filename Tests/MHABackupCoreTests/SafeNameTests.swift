import Foundation
import Testing
@testable import MHABackupBase
@testable import MHABackupFailover
@testable import MHABackupCore
@testable import MHABackupCLI
@testable import MHABackupSandbox

@Suite("SafeName: names that become paths or remote arguments")
struct SafeNameTests {
    static let hostile: [String] = [
        "", ".", "..", "../x", "x/../../../etc", "x/y", "/", "/etc", "a\0b", "\0", "a\nb", "x\n", "\r", "a\tb",
        "-x", "--job-id", "-", ".hidden", "a..b", "a b", " a", "a ", "$(id)", "`id`", "a;b", "a|b", "a'b", "a\"b",
        "a\\b", "*", "a?", "~root", "é", "x\u{301}", "\u{202E}x", "😀", "\u{FEFF}a", "a:b",
        String(repeating: "a", count: SafeName.maxLength + 1), String(repeating: "a", count: 100_000),
    ]

    @Test("ids: our own ids pass", arguments: [
        "20261125T143553Z-full-a1b2c3", "20261125T143553Z-incr-00ff00-after-failover", "fo-20261125T143553Z-127.0.0.11",
        "fo-20261125T143553Z-db1.example.com", "nightly_1", "J1", String(repeating: "a", count: SafeName.maxLength),
    ])
    func ownIds(id: String) throws {
        #expect(SafeName.isValid(id, .id))
        try SafeName.check(id, .id, what: "option '--job-id'")
    }

    @Test("ids: hostile values are refused", arguments: hostile)
    func hostileIds(id: String) {
        #expect(!SafeName.isValid(id, .id), "\(SafeName.shown(id))")
    }

    @Test("hosts: names and addresses from MHA pass, hostile ones do not")
    func hosts() {
        for h in ["127.0.0.11", "db1.example.com", "db-1", "server1", "fe80::1", "master", "replica"] {
            #expect(SafeName.isValid(h, .host), "\(h)")
        }
        for h in Self.hostile where h != "a:b" && h.count != SafeName.maxLength + 1 {  // hosts may be 253 long
            #expect(!SafeName.isValid(h, .host), "\(SafeName.shown(h))")
        }
    }

    @Test("the error is one line, exit 64, names the option and shows the value escaped and shortened")
    func errorMessage() throws {
        for v in ["x/../../../etc", "a\nb\0c", String(repeating: "z", count: 5000), "-rf"] {
            let e = try #require(throws: MBError.self) { try SafeName.check(v, .id, what: "option '--job-id'") }
            #expect(e.code == .usage)
            #expect(e.message.contains("'--job-id'"), "\(e.message)")
            #expect(!e.message.contains("\n") && !e.message.contains("\0"), "\(e.message)")
            #expect(e.message.count < 400, "\(e.message.count)")
            #expect(e.hint == nil)
        }
        let e = try #require(throws: MBError.self) { try SafeName.check("a\nb", .id, what: "option '--backup'") }
        #expect(e.message.contains(#"'a\nb'"#), "\(e.message)")
    }

    @Test("every CLI option that names a job, backup, failover or host is checked while parsing")
    func argumentsCheckNames() throws {
        for key in ["job-id", "backup", "failover", "source", "new-master"] {
            let e = try #require(throws: MBError.self) {
                try Arguments(["--\(key)", "x/../../../etc"], valued: [key], flags: [])
            }
            #expect(e.code == .usage && e.message.contains("'--\(key)'"), "\(e.message)")
            let eq = try #require(throws: MBError.self) { try Arguments(["--\(key)=../x"], valued: [key], flags: []) }
            #expect(eq.code == .usage && eq.message.contains("'--\(key)'"), "\(eq.message)")
        }
        let ok = try Arguments(["--job-id", "nightly-1", "--source", "127.0.0.12", "--backup", "20261125T143553Z-full-a1b2c3"],
                               valued: ["job-id", "source", "backup"], flags: [])
        #expect(ok["job-id"] == "nightly-1")
    }

    @Test("remote_tmpdir must be an absolute path without '..', control characters or a leading '-'")
    func remoteTmpdir() throws {
        func load(_ v: String) throws -> BackupConfig {
            try BackupConfig.parse(try INIFile.parse("[mha-backup]\nmha_conf = /a\ncredentials = /b\n[backup]\nremote_tmpdir = \(v)\n",
                                                     path: "b.cnf", inlineComments: true))
        }
        #expect(try load("/var/tmp").remoteTmpdir == "/var/tmp")
        #expect(try load("/data/mha backup tmp").remoteTmpdir == "/data/mha backup tmp")
        for bad in ["/var/tmp/../../etc", "/..", "/var/../", "relative/tmp", "/var/tmp\u{7}"] {
            let e = try #require(throws: MBError.self) { try load(bad) }
            #expect(e.code == .config && e.message.contains("remote_tmpdir"), "\(e.message)")
        }
    }
}
