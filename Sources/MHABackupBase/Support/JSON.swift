import Foundation

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
            if let x = Formatters.shared.parse(s) { return x }
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

public func iso8601(_ d: Date) -> String { Formatters.shared.format(d) }

/// ISO 8601 formatters are costly to make; a hook on MHA's path parses and prints dozens.
package final class Formatters: @unchecked Sendable {
    package static let shared = Formatters()
    private let lock = NSLock()
    private let fractional: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
    private let plain: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f
    }()

    /// UTC, POSIX locale, one formatter per pattern (made on first use).
    private var utc: [String: DateFormatter] = [:]

    func format(_ d: Date) -> String { lock.lock(); defer { lock.unlock() }; return fractional.string(from: d) }
    func parse(_ s: String) -> Date? {
        lock.lock(); defer { lock.unlock() }
        return fractional.date(from: s) ?? plain.date(from: s)
    }

    package func formatUTC(_ d: Date, _ pattern: String) -> String { lock.lock(); defer { lock.unlock() }; return utcFormatter(pattern).string(from: d) }
    package func parseUTC(_ s: String, _ pattern: String) -> Date? { lock.lock(); defer { lock.unlock() }; return utcFormatter(pattern).date(from: s) }

    private func utcFormatter(_ pattern: String) -> DateFormatter {
        if let f = utc[pattern] { return f }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = pattern
        utc[pattern] = f
        return f
    }
}

/// Writes a line to stderr, unbuffered.
public func eprint(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

/// Writes to stderr without a newline (progress lines that redraw with `\r`).
public func eprintRaw(_ s: String) {
    FileHandle.standardError.write(Data(s.utf8))
}

/// `20261125T143553Z`: ids and file names. gmtime_r, not a DateFormatter (that loads zoneinfo).
public func compactUTC(_ d: Date) -> String {
    var t = time_t(d.timeIntervalSince1970)
    var tm = tm()
    gmtime_r(&t, &tm)
    return String(format: "%04d%02d%02dT%02d%02d%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec)
}
