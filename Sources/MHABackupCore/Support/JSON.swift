import Foundation

public enum JSON {
    public static func encode<T: Encodable>(_ v: T, pretty: Bool = true) throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return try e.encode(v)
    }

    public static func string<T: Encodable>(_ v: T, pretty: Bool = true) -> String {
        (try? encode(v, pretty: pretty)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    public static func decode<T: Decodable>(_ t: T.Type, from data: Data, file: String) throws -> T {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
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

public func iso8601(_ d: Date) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.string(from: d)
}

/// Writes a line to stderr, unbuffered.
public func eprint(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
