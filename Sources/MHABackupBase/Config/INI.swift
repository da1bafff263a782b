import FoundationEssentials
import Glibc
import Dispatch

/// An INI file in MHA's own style: `[section]`, `key = value`, `#` and `;` comment lines.
/// Keys keep their order and their line numbers, so errors can name file, line and key.
public struct INIFile: Sendable {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: String
        public var line: Int
    }

    public struct Section: Sendable {
        public var name: String
        public var line: Int
        public var entries: [Entry]

        public func value(_ key: String) -> String? { entries.last(where: { $0.key == key })?.value }
        public func entry(_ key: String) -> Entry? { entries.last(where: { $0.key == key }) }
    }

    public var path: String
    public var sections: [Section]

    public func section(_ name: String) -> Section? { sections.first(where: { $0.name == name }) }

    /// Parses text. `inlineComments`: a ` #` or ` ;` after a value starts a comment (our own
    /// files); MHA's Config::Tiny keeps the whole rest of the line, so its files parse without.
    public static func parse(_ text: String, path: String, inlineComments: Bool) throws -> INIFile {
        var sections: [Section] = []
        var current: Section? = nil
        var lineNo = 0
        // "\r\n" is one Character in Swift: normalise line ends before splitting.
        let text = text.replacing("\r\n", with: "\n")
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            var line = rawLine.hasSuffix("\r") ? String(rawLine.dropLast()) : String(rawLine)
            line = line.trimmedBlanks()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]") else {
                    throw MBError.config("\(path):\(lineNo): malformed section header \(q(line))")
                }
                if let c = current { sections.append(c) }
                let name = line.dropFirst().dropLast().trimmedBlanks()
                current = Section(name: name, line: lineNo, entries: [])
                continue
            }
            guard let eq = line.firstIndex(of: "=") else {
                throw MBError.config("\(path):\(lineNo): expected 'key = value', got \(q(line))")
            }
            let key = line[..<eq].trimmedBlanks()
            var value = String(line[line.index(after: eq)...]).trimmedBlanks()
            if inlineComments, value.contains("#") || value.contains(";"), let r = (try? Regex(#"\s[#;]"#)).flatMap({ value.firstMatch(of: $0)?.range }) {
                value = String(value[..<r.lowerBound]).trimmedBlanks()
            }
            guard !key.isEmpty else {
                throw MBError.config("\(path):\(lineNo): empty key")
            }
            if current == nil {
                throw MBError.config("\(path):\(lineNo): key \(q(key)) outside any [section]")
            }
            current!.entries.append(Entry(key: key, value: value, line: lineNo))
        }
        if let c = current { sections.append(c) }
        return INIFile(path: path, sections: sections)
    }

    public static func load(_ path: String, inlineComments: Bool) throws -> INIFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MBError(.config, "cannot read config file \(q(path))", hint: "check the path and that it is readable")
        }
        return try parse(String(decoding: data, as: UTF8.self), path: path, inlineComments: inlineComments)
    }
}

/// Refuses a file that group or others can read (config and credentials hold secrets).
public func requirePrivate(_ path: String, what: String) throws {
    var st = stat()
    guard stat(path, &st) == 0 else {
        throw MBError(.config, "cannot stat \(what) \(q(path)): \(String(cString: strerror(errno)))")
    }
    let mode = st.st_mode & 0o777
    if mode & 0o077 != 0 {
        throw MBError(.insecureFile,
                      "\(what) \(q(path)) has mode \(padded(mode, width: 4, radix: 8)); group and others must not read it",
                      hint: "chmod 600 \(path)")
    }
}
