import FoundationEssentials
import Glibc
import Dispatch

public enum JSON {
    public static func encode<T: Encodable>(_ v: T, pretty: Bool = true) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, enc in
            var c = enc.singleValueContainer()
            try c.encode(iso8601(date))
        }
        return try e.encode(v)
    }

    public static func string<T: Encodable>(_ v: T, pretty: Bool = true) -> String {
        (try? encode(v, pretty: pretty)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    /// Dates are ISO 8601 with milliseconds (audit order needs them); plain seconds are accepted.
    public static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .custom { dec in
            let s = try dec.singleValueContainer().decode(String.self)
            if let x = ISO8601.parse(s) { return x }
            throw DecodingError.dataCorrupted(.init(codingPath: dec.codingPath, debugDescription: "bad date \(s)"))
        }
        return d
    }

    public static func decode<T: Decodable>(_ t: T.Type, from data: Data, file: String) throws -> T {
        let d = decoder
        do { return try d.decode(t, from: data) } catch {
            throw MBError(.dataError, "cannot read \(q(file)): \(error)")
        }
    }

    public static func load<T: Decodable>(_ t: T.Type, path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MBError(.noInput, "cannot read \(q(path))")
        }
        return try decode(t, from: data, file: path)
    }
}

/// A clock that tests can replace.
public struct Clock: Sendable {
    public var now: @Sendable () -> Date
    public init(now: @escaping @Sendable () -> Date = { Date() }) { self.now = now }
    public static let system = Clock()
}

public func iso8601(_ d: Date) -> String { ISO8601.format(d) }

/// Writes a line to stderr, unbuffered.
public func eprint(_ s: String) {
    writeAll(2, Array((s + "\n").utf8))
}

/// Writes to stderr without a newline (progress lines that redraw with `\r`).
public func eprintRaw(_ s: String) {
    writeAll(2, Array(s.utf8))
}

/// write(2) until done (EINTR retried); errors dropped: stderr may be gone.
package func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    bytes.withUnsafeBytes { raw in
        var off = 0
        while off < raw.count {
            let n = write(fd, raw.baseAddress! + off, raw.count - off)
            if n < 0 { if errno == EINTR { continue }; return }
            off += n
        }
    }
}

/// `20261125T143553Z`: ids and file names. gmtime_r, not a DateFormatter (that loads zoneinfo).
public func compactUTC(_ d: Date) -> String {
    var t = time_t(d.timeIntervalSince1970)
    var tm = tm()
    gmtime_r(&t, &tm)
    return "\(padded(Int(tm.tm_year) + 1900, width: 4))\(padded(tm.tm_mon + 1, width: 2))\(padded(tm.tm_mday, width: 2))T\(padded(tm.tm_hour, width: 2))\(padded(tm.tm_min, width: 2))\(padded(tm.tm_sec, width: 2))Z"
}
