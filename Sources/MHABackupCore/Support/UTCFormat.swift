import Foundation

/// Dates in a given pattern, UTC and POSIX locale, one formatter per pattern (made on first use):
/// what a person types and reads (`restore --to-time`, `list`). The base layer has only ISO 8601.
package final class Formatters: @unchecked Sendable {
    package static let shared = Formatters()
    private let lock = NSLock()
    private var utc: [String: DateFormatter] = [:]

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
