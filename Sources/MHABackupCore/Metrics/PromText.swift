import FoundationEssentials
import MHABackupBase

/// One metric family of Prometheus's text exposition format (version 0.0.4): a name, its HELP and
/// TYPE, and its samples. node_exporter's textfile collector reads exactly this.
public struct MetricFamily: Sendable, Equatable {
    public enum Kind: String, Sendable { case gauge, counter }

    public struct Sample: Sendable, Equatable {
        public var labels: [(String, String)]
        public var value: Double

        public init(_ labels: [(String, String)], _ value: Double) {
            self.labels = labels
            self.value = value
        }

        public static func == (a: Sample, b: Sample) -> Bool {
            a.value == b.value && a.labels.count == b.labels.count
                && zip(a.labels, b.labels).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        }
    }

    public var name: String
    public var help: String
    public var kind: Kind
    public var samples: [Sample]

    public init(_ name: String, _ kind: Kind, _ help: String, _ samples: [Sample] = []) {
        self.name = name
        self.kind = kind
        self.help = help
        self.samples = samples
    }
}

/// Renders families: one `# HELP` and one `# TYPE` line a family, then its samples. Families of
/// the same name are merged (the first HELP and TYPE win); a family without samples is left out
/// (its HELP/TYPE alone would say nothing).
public enum PromText {
    public static func render(_ families: [MetricFamily]) -> String {
        var order: [String] = []
        var byName: [String: MetricFamily] = [:]
        for f in families {
            if var have = byName[f.name] {
                have.samples += f.samples
                byName[f.name] = have
            } else {
                byName[f.name] = f
                order.append(f.name)
            }
        }
        var out = ""
        for name in order {
            let f = byName[name]!
            guard !f.samples.isEmpty else { continue }
            out += "# HELP \(name) \(escapeHelp(f.help))\n"
            out += "# TYPE \(name) \(f.kind.rawValue)\n"
            for s in f.samples {
                out += name
                if !s.labels.isEmpty {
                    out += "{" + s.labels.map { "\($0.0)=\"\(escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
                }
                out += " \(format(s.value))\n"
            }
        }
        return out
    }

    /// Label values: backslash, double quote and line feed are escaped.
    public static func escapeLabel(_ s: String) -> String { escape(s, quote: true) }

    /// HELP text: backslash and line feed are escaped (a double quote is not).
    public static func escapeHelp(_ s: String) -> String { escape(s, quote: false) }

    static func escape(_ s: String, quote: Bool) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"" where quote: out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Whole numbers without a fraction (exact up to 2^53), others as Swift prints a Double (Go's
    /// ParseFloat reads both), and Prometheus's spellings of the special values.
    public static func format(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v < 0 ? "-Inf" : "+Inf" }
        if v == v.rounded(), abs(v) < 9_007_199_254_740_992 { return String(Int64(v)) }
        return "\(v)"
    }

    /// A metric or label name as Prometheus allows it: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    public static func isValidName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first else { return false }
        func letter(_ c: Unicode.Scalar) -> Bool { (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" || c == ":" }
        return letter(first) && s.unicodeScalars.allSatisfy { letter($0) || ($0 >= "0" && $0 <= "9") }
    }
}
