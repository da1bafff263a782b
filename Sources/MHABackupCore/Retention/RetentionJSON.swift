import Foundation
import MHABackupBase

extension RetentionPlan {
    /// The document `JSON.encode(plan)` makes (the same keys, sorted; dates ISO 8601), written one
    /// item a line as it goes: a plan of 100,000 binlogs is not built a second time in memory.
    public func writeJSON(_ write: (String) -> Void) throws {
        var buf = "{\n"
        func flush(_ force: Bool = false) {
            if force || buf.utf8.count > 1 << 16 { write(buf); buf = "" }
        }
        func items(_ key: String, _ list: [RetentionItem], last: Bool = false) {
            buf += "  \(Self.quoted(key)) : ["
            for (i, it) in list.enumerated() {
                buf += i == 0 ? "\n    " : ",\n    "
                Self.append(it, to: &buf)
                flush()
            }
            buf += list.isEmpty ? "]" : "\n  ]"
            buf += last ? "\n" : ",\n"
        }
        func small<T: Encodable>(_ key: String, _ v: T, last: Bool = false) throws {
            buf += "  \(Self.quoted(key)) : " + String(decoding: try JSON.encode(v, pretty: false), as: UTF8.self) + (last ? "\n" : ",\n")
        }
        items("backups", backups)
        items("binlogs", binlogs)
        try small("notes", notes)
        buf += "  \"now\" : \(Self.quoted(iso8601(now))),\n"
        if let p = pitrFrom { buf += "  \"pitrFrom\" : \(Self.quoted(p)),\n" }
        try small("policy", policy)
        try small("summary", summary, last: true)
        buf += "}\n"
        flush(true)
    }

    static func append(_ it: RetentionItem, to buf: inout String) {
        buf += "{\"action\":\"\(it.action.rawValue)\",\"bytes\":\(it.bytes),"
        if let f = it.folder { buf += "\"folder\":\(quoted(f)),"}
        buf += "\"host\":\(quoted(it.host)),\"id\":\(quoted(it.id)),\"kind\":\"\(it.kind.rawValue)\",\"port\":\(it.port),\"reasons\":["
        buf += it.reasons.map(quoted).joined(separator: ",") + "],"
        if let s = it.status { buf += "\"status\":\(quoted(s)),"}
        buf += "\"time\":\(quoted(iso8601(it.time)))"
        if let t = it.type { buf += ",\"type\":\(quoted(t))" }
        buf += "}"
    }

    /// A JSON string literal (quote, backslash and control characters escaped).
    static func quoted(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) else { return "\"\(s)\"" }
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if u.value < 0x20 { out += "\\u00" + padded(u.value, width: 2, radix: 16) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
