import Foundation
import Testing
@testable import MHABackupBase

/// The base layer's stand-ins for full Foundation (the hooks link FoundationEssentials only),
/// checked against Foundation itself.
@Suite("Essentials: what the base does without full Foundation")
struct EssentialsTests {
    @Test("ISO 8601 with milliseconds prints as Foundation's formatter and parses back")
    func iso8601() throws {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for t in [0.0, 1.5, 817_852_039.654, 1_796_000_000.999, 951_782_400.001 /* 2000-02-29 */, -1.25] {
            let d = Date(timeIntervalSinceReferenceDate: t)
            #expect(ISO8601.format(d) == f.string(from: d), "t=\(t)")
            let back = try #require(ISO8601.parse(ISO8601.format(d)))
            #expect(abs(back.timeIntervalSince(d)) < 0.001)
        }
        #expect(ISO8601.parse("2026-12-01T21:07:19Z") == Date(timeIntervalSince1970: 1_796_159_239))
        #expect(ISO8601.parse("2026-12-01T22:07:19+01:00") == Date(timeIntervalSince1970: 1_796_159_239))
        #expect(ISO8601.parse("2026-12-01T20:37:19-0030") == Date(timeIntervalSince1970: 1_796_159_239))
        for bad in ["", "2026-12-01", "2026-13-01T00:00:00Z", "2026-12-01T21:07:19", "2026-12-01T21:07:19Zx", "2026-12-01T21:07:19.Z"] {
            #expect(ISO8601.parse(bad) == nil, "\(bad)")
        }
    }

    @Test("Path.base and Path.dir answer what NSString's path components answered")
    func paths() {
        // (Foundation 6.3's NSString path methods trap on some of these, so the answers are written out.)
        let cases: [(String, String, String)] = [("/a/b/c", "c", "/a/b"), ("/a/b/", "b", "/a"), ("a", "a", ""), ("/a", "a", "/"),
                                                 ("/", "/", "/"), ("a/b", "b", "a"), ("/var/lib/x.json", "x.json", "/var/lib"),
                                                 ("rel/dir/", "dir", "rel")]
        for (p, base, dir) in cases {
            #expect(Path.base(p) == base, "base of \(p)")
            #expect(Path.dir(p) == dir, "dir of \(p)")
        }
    }

    @Test("trimmed and trimmedBlanks agree with trimmingCharacters")
    func trimming() {
        for s in ["", "  ", " a b ", "\tx\n", "\n\n y \r\n", "z"] {
            #expect(s.trimmed() == s.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(s.trimmedBlanks() == s.trimmingCharacters(in: .whitespaces))
        }
    }

    @Test("padded, hex and oneDecimal print as String(format:)")
    func numbers() {
        #expect(padded(0o640, width: 4, radix: 8) == String(format: "%04o", 0o640))
        #expect(padded(0xabc, width: 6, radix: 16) == String(format: "%06x", 0xabc))
        #expect(hex([0, 1, 0xab, 0xff]) == "0001abff")
        for v in [0.0, 1.04, 1.06, 12.34, 1023.99, 99.96, -3.14] {
            #expect(oneDecimal(v) == String(format: "%.1f", v), "\(v)")
        }
    }

    @Test("the hand-written password mask answers what the regular expression answers, on 20,000 random texts")
    func redactionAgainstRegex() throws {
        let re = try Regex(#"((?:password|passwd)[A-Za-z_]*\s*[=:]\s*)('[^']*'|"[^"]*"|\S+)"#).ignoresCase()
        let parts = ["password", "PASSWD", "Password_x", "passw", "pass", "=", ":", " ", "  ", "\t", "\n", "'", "\"", "a b", "x", "--",
                     "secret", "é", "9", "_", "-o", "PasswordAuthentication=no"]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let text = (0..<Int.random(in: 1...9, using: &rng)).map { _ in parts.randomElement(using: &rng)! }.joined()
            let want = text.replacing(re) { m in (m.output[1].substring ?? "") + Redaction.mask }
            #expect(Redaction.maskPasswordValues(text) == want, "\(text.debugDescription)")
        }
    }

    @Test("the password mask, case-insensitively")
    func redaction() {
        #expect(Redaction.redact(text: "x PASSWORD=abc y") == "x PASSWORD=\(Redaction.mask) y")
        #expect(Redaction.redact(text: "passwd: 'a b' end") == "passwd: \(Redaction.mask) end")
        #expect(ToolOutput.matches(#"id=(\d+)"#, in: "ID=1 id=22") == ["1", "22"])
    }
}

@Suite("WorkerRequest: the hook's request to its worker, rendered and parsed by the same code")
struct WorkerRequestTests {
    @Test("every task and option survives argv and back")
    func roundTrip() throws {
        let cases = [
            WorkerRequest(.afterStop, failoverId: "20261201T210000Z-abc123", salvage: true, attempt: 2),
            WorkerRequest(.afterStop, failoverId: "f1", salvage: true, attempt: 1, salvageOnly: true),
            WorkerRequest(.afterReport, failoverId: "f2", conf: "/etc/mha/app1.cnf", success: true),
            WorkerRequest(.afterSwitch, failoverId: "f3"),
            WorkerRequest(.salvage, failoverId: "f4"),
        ]
        for r in cases {
            var opts: [String: String] = [:]
            var flags: Set<String> = []
            var i = 1
            let a = r.argv
            while i < a.count {
                let k = String(a[i].dropFirst(2))
                if WorkerRequest.valuedOptions.contains(k) { opts[k] = a[i + 1]; i += 2 } else { flags.insert(k); i += 1 }
            }
            #expect(try WorkerRequest.parse(task: a[0], options: opts, flags: flags) == r)
        }
    }

    @Test("an unknown task, a missing id and a bad attempt are usage errors (64)")
    func errors() {
        for (task, opts) in [("after-lunch", ["failover": "x"]), ("after-stop", [:]), ("after-stop", ["failover": "x", "attempt": "0"])] {
            #expect(throws: MBError.self) { try WorkerRequest.parse(task: task, options: opts, flags: []) }
            #expect((try? WorkerRequest.parse(task: task, options: opts, flags: [])) == nil)
        }
    }
}

@Suite("the layers the hooks link stay on FoundationEssentials")
struct LayerImportTests {
    @Test("no file of MHABackupBase or MHABackupFailover imports Foundation (the hooks would link it and ICU again)")
    func noFoundation() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var checked = 0
        for layer in ["MHABackupBase", "MHABackupFailover"] {
            let dir = root.appendingPathComponent("Sources/\(layer)").path
            let files = try #require(FileManager.default.enumerator(atPath: dir)).compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") }
            for f in files {
                let text = try String(contentsOfFile: "\(dir)/\(f)", encoding: .utf8)
                for line in text.split(separator: "\n") where line.hasPrefix("import ") || line.hasPrefix("@_exported import ") {
                    let module = line.split(separator: " ").last.map(String.init) ?? ""
                    #expect(!["Foundation", "FoundationNetworking", "FoundationXML", "FoundationInternationalization"].contains(module),
                            "\(layer)/\(f): \(line)")
                }
                checked += 1
            }
        }
        #expect(checked > 40, "found only \(checked) files: wrong root \(root.path)?")
    }
}
