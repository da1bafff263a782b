import FoundationEssentials
import Glibc

// What the base and the hooks need from full Foundation, done here with FoundationEssentials, the
// standard library and libc: the hook executables link no ICU and no Foundation (issue 9: ~75 MB
// each before, start-up 3.8 ms). Names differ from Foundation's so the layers that import both
// never see two candidates.

extension StringProtocol {
    /// Leading and trailing white space and newlines removed (`\r\n` is one Character).
    package func trimmed() -> String {
        guard let a = firstIndex(where: { !$0.isWhitespace }), let b = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[a...b])
    }

    /// Leading and trailing spaces and tabs removed (newlines kept).
    package func trimmedBlanks() -> String {
        let isBlank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let a = firstIndex(where: { !isBlank($0) }), let b = lastIndex(where: { !isBlank($0) }) else { return "" }
        return String(self[a...b])
    }
}

/// Path arithmetic on strings, as NSString's did it (no normalisation, no file system access).
package enum Path {
    /// The last component (`/a/b/` → `b`).
    package static func base(_ p: String) -> String {
        var s = Substring(p)
        while s.count > 1, s.hasSuffix("/") { s = s.dropLast() }
        if s == "/" { return "/" }
        guard let i = s.lastIndex(of: "/") else { return String(s) }
        return String(s[s.index(after: i)...])
    }

    /// All but the last component (`/a/b` → `/a`, `b` → ``, `/a` → `/`).
    package static func dir(_ p: String) -> String {
        var s = Substring(p)
        while s.count > 1, s.hasSuffix("/") { s = s.dropLast() }
        guard let i = s.lastIndex(of: "/") else { return "" }
        if i == s.startIndex { return "/" }
        var d = s[..<i]
        while d.count > 1, d.hasSuffix("/") { d = d.dropLast() }
        return String(d)
    }
}

/// A mutex (pthread), for the few shared values the runner and the writers guard.
package final class Lock: @unchecked Sendable {
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    package init() { pthread_mutex_init(m, nil) }
    deinit { pthread_mutex_destroy(m); m.deallocate() }
    package func lock() { pthread_mutex_lock(m) }
    package func unlock() { pthread_mutex_unlock(m) }
    package func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock(); defer { unlock() }
        return try body()
    }
}

/// A mutex with its condition variable, as NSCondition: lock, wait (re-checked in a loop), signal.
package final class Condition: @unchecked Sendable {
    private let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let c = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    package init() { pthread_mutex_init(m, nil); pthread_cond_init(c, nil) }
    deinit { pthread_cond_destroy(c); pthread_mutex_destroy(m); c.deallocate(); m.deallocate() }
    package func lock() { pthread_mutex_lock(m) }
    package func unlock() { pthread_mutex_unlock(m) }
    package func wait() { pthread_cond_wait(c, m) }
    package func signal() { pthread_cond_signal(c) }
    package func broadcast() { pthread_cond_broadcast(c) }
}

/// Whether `pattern` (a regular expression) matches somewhere in `s`; false for a bad pattern.
package func matchesRegex(_ s: String, _ pattern: String, ignoreCase: Bool = false) -> Bool {
    guard var re = try? Regex(pattern) else { return false }
    if ignoreCase { re = re.ignoresCase() }
    return s.firstMatch(of: re) != nil
}

private final class ThreadBody {
    let f: @Sendable () -> Void
    init(_ f: @escaping @Sendable () -> Void) { self.f = f }
}

/// A thread of its own (pthread): for work that blocks in a system call and must not take one of
/// Dispatch's few workers (2 cores here) for minutes.
package enum Threads {
    package static func start(_ body: @escaping @Sendable () -> Void) {
        let box = Unmanaged.passRetained(ThreadBody(body)).toOpaque()
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { p in
            Unmanaged<ThreadBody>.fromOpaque(p!).takeRetainedValue().f()
            return nil
        }, box)
        if rc == 0 { pthread_detach(t) } else {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            body()
        }
    }
}

/// Lower-case hexadecimal of bytes, two digits each.
package func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    for b in bytes { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 0xF)]) }
    return String(decoding: out, as: UTF8.self)
}

/// `n` left-padded with zeros to `width` digits in `radix` (8 for modes, 16 for ids).
package func padded<I: BinaryInteger>(_ n: I, width: Int, radix: Int = 10) -> String {
    let s = String(n, radix: radix)
    return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
}

/// A decimal with one digit after the point (`12.3`), rounded half away from zero.
package func oneDecimal(_ v: Double) -> String {
    let tenths = Int64((v * 10).rounded())
    let sign = tenths < 0 ? "-" : ""
    let a = abs(tenths)
    return "\(sign)\(a / 10).\(a % 10)"
}

/// ISO 8601 in UTC with milliseconds (`2026-12-01T21:07:19.123Z`), by gmtime_r: no formatter, no zoneinfo.
package enum ISO8601 {
    package static func format(_ d: Date) -> String {
        let ms = Int64((d.timeIntervalSince1970 * 1000).rounded(.down))
        var t = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        let frac = Int(ms - Int64(t) * 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        return "\(padded(Int(tm.tm_year) + 1900, width: 4))-\(padded(tm.tm_mon + 1, width: 2))-\(padded(tm.tm_mday, width: 2))T"
            + "\(padded(tm.tm_hour, width: 2)):\(padded(tm.tm_min, width: 2)):\(padded(tm.tm_sec, width: 2)).\(padded(frac, width: 3))Z"
    }

    /// `YYYY-MM-DDTHH:MM:SS[.fff…](Z|±HH:MM|±HHMM)`; nil for anything else.
    package static func parse(_ s: String) -> Date? {
        let u = Array(s.utf8)
        func num(_ a: Int, _ n: Int) -> Int? {
            guard a + n <= u.count else { return nil }
            var v = 0
            for i in a..<(a + n) { guard u[i] >= 48, u[i] <= 57 else { return nil }; v = v * 10 + Int(u[i] - 48) }
            return v
        }
        guard u.count >= 20, let y = num(0, 4), u[4] == 45, let mo = num(5, 2), u[7] == 45, let d = num(8, 2),
              u[10] == 84 || u[10] == 116 || u[10] == 32, let h = num(11, 2), u[13] == 58, let mi = num(14, 2), u[16] == 58,
              let se = num(17, 2), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, se < 61 else { return nil }
        var i = 19
        var frac = 0.0
        if i < u.count, u[i] == 46 {
            i += 1
            var scale = 0.1
            let start = i
            while i < u.count, u[i] >= 48, u[i] <= 57 { frac += Double(u[i] - 48) * scale; scale /= 10; i += 1 }
            guard i > start else { return nil }
        }
        var offset = 0
        guard i < u.count else { return nil }
        if u[i] == 90 || u[i] == 122 {
            i += 1
        } else if u[i] == 43 || u[i] == 45 {
            let sign = u[i] == 43 ? 1 : -1
            guard let oh = num(i + 1, 2) else { return nil }
            var j = i + 3
            if j < u.count, u[j] == 58 { j += 1 }
            guard let om = num(j, 2) else { return nil }
            offset = sign * (oh * 3600 + om * 60)
            i = j + 2
        } else { return nil }
        guard i == u.count else { return nil }
        var tm = tm()
        tm.tm_year = Int32(y - 1900); tm.tm_mon = Int32(mo - 1); tm.tm_mday = Int32(d)
        tm.tm_hour = Int32(h); tm.tm_min = Int32(mi); tm.tm_sec = Int32(se)
        let t = timegm(&tm)
        return Date(timeIntervalSince1970: Double(t - offset) + frac)
    }
}
