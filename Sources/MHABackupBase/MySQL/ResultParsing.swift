import FoundationEssentials
import Glibc
import Dispatch

/// One result row: column name to value (nil for SQL NULL).
public typealias Row = [String: String?]

/// Parsers for the two text forms of a client's result: `--batch` (tab separated, escaped) and
/// vertical (`\G` / `-E`), the form DBAs paste and docs print.
public enum ResultText {
    /// `mariadb --batch` output with a header line. `\t \n \\ \0` are escaped; `NULL` is NULL.
    public static func parseBatch(_ text: String) -> [Row] {
        var lines = Self.lines(text)
        if lines.last == "" { lines.removeLast() }
        guard let header = lines.first else { return [] }
        let cols = header.split(separator: "\t", omittingEmptySubsequences: false).map { unescape(String($0)) }
        return lines.dropFirst().map { line in
            let vals = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            var row: Row = [:]
            for (i, c) in cols.enumerated() {
                let v = i < vals.count ? vals[i] : ""
                row[c] = v == "NULL" ? .some(nil) : .some(unescape(v))
            }
            return row
        }
    }

    /// Splits at every LF byte. Splitting the String by Character would not: Swift treats CR LF as
    /// one Character, so a value ending in a raw CR (the client does not escape CR) would glue its
    /// row to the next one.
    static func lines(_ text: String) -> [String] {
        text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
            .map { String(String.UnicodeScalarView($0)) }
    }

    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = ""
        var it = s.makeIterator()
        while let c = it.next() {
            if c == "\\", let n = it.next() {
                switch n {
                case "t": out.append("\t")
                case "n": out.append("\n")
                case "0": out.append("\0")
                case "\\": out.append("\\")
                default: out.append("\\"); out.append(n)
                }
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Vertical output: `*** 1. row ***` separators and right-aligned `Key: value` lines.
    /// Values may span lines (e.g. Executed_Gtid_Set on MySQL); continuation lines are joined.
    /// A pasted session's trailer (`1 row in set (0.00 sec)`, `Empty set`) or a following prompt
    /// (`mysql>`, `MariaDB [x]>`) ends the row; it is not a continuation of the last value.
    public static func parseVertical(_ text: String) -> [Row] {
        var rows: [Row] = []
        var current: Row? = nil
        var lastKey: String? = nil
        for raw in Self.lines(text) {
            let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : raw
            if line.trimmedBlanks().hasPrefix("*****") {
                if let c = current { rows.append(c) }
                current = [:]
                lastKey = nil
                continue
            }
            guard current != nil else { continue }
            let trimmed = line.trimmedBlanks()
            if isSessionTrailer(trimmed) {
                if let c = current { rows.append(c) }
                current = nil
                lastKey = nil
                continue
            }
            if let r = trimmed.firstRange(of: ": "), isKey(trimmed[..<r.lowerBound]) {
                let k = String(trimmed[..<r.lowerBound])
                let v = String(trimmed[r.upperBound...])
                current![k] = v == "NULL" ? .some(nil) : .some(v)
                lastKey = k
            } else if trimmed.hasSuffix(":"), isKey(trimmed.dropLast()) {
                let k = String(trimmed.dropLast())
                current![k] = .some("")
                lastKey = k
            } else if let k = lastKey, !trimmed.isEmpty, line.hasPrefix(" ") || line.hasPrefix("\t") || trimmed.first?.isHexDigit == true {
                let prev = (current![k] ?? nil) ?? ""
                current![k] = .some(prev + "\n" + trimmed)
            }
        }
        if let c = current { rows.append(c) }
        return rows
    }

    /// `1 row in set (0.00 sec)`, `2 rows in set, 1 warning (0.00 sec)`, `Empty set (0.00 sec)`, or a prompt.
    private static func isSessionTrailer(_ s: String) -> Bool {
        if s.hasPrefix("Empty set") || s.hasPrefix("mysql>") || s.hasPrefix("MariaDB [")
            || (s.hasPrefix("MySQL ") && s.contains(">")) {
            return true
        }
        return matchesRegex(s, #"^\d+ rows? in set\b"#)
    }

    private static func isKey<S: StringProtocol>(_ s: S) -> Bool {
        !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }
    }
}

extension Dictionary where Key == String, Value == String? {
    /// The first of several spellings that is present and not NULL.
    public func first(_ names: String...) -> String? {
        for n in names { if let v = self[n], let s = v { return s } }
        return nil
    }
}
