import FoundationEssentials
import Glibc
import Dispatch

/// A binlog file name as the server reports it (`mysql-bin.000012`): a base and a sequence number.
/// Names come from the server and become local paths and remote arguments, so only plain names
/// pass: no `/`, no leading `.`, a numeric suffix.
public struct BinlogName: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var name: String
    public var base: String
    public var number: Int

    public init?(_ name: String) {
        guard !name.isEmpty, name.count <= 255, !name.hasPrefix("."), !name.hasPrefix("-"), !name.contains("/"),
              name.unicodeScalars.allSatisfy({ Self.allowed.contains($0) }),
              let dot = name.lastIndex(of: "."), dot != name.startIndex else { return nil }
        let suffix = name[name.index(after: dot)...]
        guard !suffix.isEmpty, suffix.allSatisfy(\.isASCII), suffix.allSatisfy(\.isNumber), let n = Int(suffix) else { return nil }
        self.name = name
        self.base = String(name[..<dot])
        self.number = n
    }

    public static func < (a: BinlogName, b: BinlogName) -> Bool {
        a.base != b.base ? a.base < b.base : a.number < b.number
    }

    public var description: String { name }

    /// Archive order of two file names: by base and number when both are binlog names, else by text.
    public static func precedes(_ a: String, _ b: String) -> Bool {
        switch (BinlogName(a), BinlogName(b)) {
        case let (x?, y?): return x < y
        default: return a < b
        }
    }

    private static let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-".unicodeScalars)
}

/// One row of `SHOW BINARY LOGS`.
public struct ServerBinlog: Sendable, Codable, Equatable {
    public var name: String
    public var size: Int64

    public init(name: String, size: Int64) {
        self.name = name
        self.size = size
    }
}

/// The server's list of binlogs, oldest first; the last one is the file it writes now.
public struct ServerBinlogList: Sendable, Equatable {
    public var files: [ServerBinlog]

    public init(files: [ServerBinlog]) { self.files = files }

    public var active: ServerBinlog? { files.last }
    /// Every file but the last: the server will not write to them again.
    public var closed: [ServerBinlog] { Array(files.dropLast()) }

    public func entry(_ name: String) -> ServerBinlog? { files.first { $0.name == name } }
    public func isActive(_ name: String) -> Bool { files.last?.name == name }

    /// Parses `SHOW BINARY LOGS` rows (`Log_name`, `File_size`); a name that is not a plain binlog
    /// name is a data error, never a path.
    public static func parse(_ rows: [Row], endpoint: String) throws -> ServerBinlogList {
        var files: [ServerBinlog] = []
        for r in rows {
            guard let name = r.first("Log_name"), let size = r.first("File_size").flatMap({ Int64($0) }) else {
                throw MBError(.dataError, "SHOW BINARY LOGS on \(q(endpoint)) returned a row without Log_name/File_size")
            }
            guard BinlogName(name) != nil else {
                throw MBError(.dataError, "SHOW BINARY LOGS on \(q(endpoint)) lists \(q(name)), which is not a plain binlog file name")
            }
            files.append(ServerBinlog(name: name, size: size))
        }
        return ServerBinlogList(files: files)
    }

    /// Asks the server. An unreachable server is `.unavailable`; binary logging off is a config error.
    public static func fetch(_ client: MySQLClient) throws -> ServerBinlogList {
        let rows: [Row]
        do {
            rows = try client.query("SHOW BINARY LOGS")
        } catch let e as MBError {
            if e.message.contains("You are not using binary logging") {
                throw MBError(.config, "\(q(client.endpoint)) does not write binary logs (log_bin is off)",
                              hint: "enable log_bin on the master, or point the timeline at a server that has it")
            }
            throw e
        }
        let list = try parse(rows, endpoint: client.endpoint)
        guard !list.files.isEmpty else {
            throw MBError(.dataError, "SHOW BINARY LOGS on \(q(client.endpoint)) returned no files")
        }
        return list
    }
}
