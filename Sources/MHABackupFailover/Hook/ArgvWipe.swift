import FoundationEssentials
import Glibc
import Dispatch
import MHABackupBase

/// MHA passes passwords on argv (`--new_master_password=…`, `--orig_master_password=…`), where
/// `ps` and /proc/PID/cmdline show them to every user of the host. A hook has its arguments in
/// Swift strings already (its main reads `CommandLine.arguments` before calling `Hooks.main`);
/// this rewrites the process's own argv area so that every secret value shows as the same fixed
/// mask, whatever its length: the command line of a hook given a 1-character password and of one
/// given a 40-character password are the same bytes, and so is their count.
///
/// How the kernel shows the area: when its last byte is NUL, /proc/PID/cmdline is the whole area
/// (so a shorter text followed by NULs would still tell the length by its byte count); when that
/// byte is not NUL (the setproctitle(3) convention), it is the text from the start up to the first
/// NUL, read on into the environment strings that follow the area in memory (at most one page).
/// So the new text (the arguments joined by spaces, each secret value replaced by `mask`) is
/// written from the start, ended with one NUL, and the area's last byte is made non-NUL. When the
/// text needs more room than the argv area (a password shorter than the mask), the environment
/// strings are first copied to the heap (`environ` then points at the copies, so `getenv` and the
/// children we start see the same environment) and their space is used; /proc/PID/environ then no
/// longer shows the environment. Without any secret on the command line, nothing is changed.
enum ArgvWipe {
    /// What every secret value looks like afterwards.
    static let mask = "xxxxxxxx"

    /// Where the secret values are in `argv` (each element's bytes, `argv[0]` first, never
    /// secret): the value of every `--KEY=VALUE` whose key names a secret (`Redaction.isSecretKey`),
    /// and the element after a bare `--KEY`, unless it is an option. As element index and byte range.
    static func secretValues(_ argv: [[UInt8]]) -> [(index: Int, range: Range<Int>)] {
        var found: [(index: Int, range: Range<Int>)] = []
        var maskNext = false
        for (i, a) in argv.enumerated().dropFirst() {
            if maskNext {
                // `--password VALUE`: the value is the next element (an option is not a value).
                maskNext = false
                if a.first != 0x2D /* - */ { found.append((i, 0..<a.count)); continue }
            }
            // Bytes, not Characters: a combining mark after `=` must not hide it.
            guard a.count > 2, a[0] == 0x2D, a[1] == 0x2D else { continue }
            let eq = a.firstIndex(of: 0x3D /* = */)
            guard Redaction.isSecretKey(String(decoding: a[2..<(eq ?? a.count)], as: UTF8.self)) else { continue }
            if let eq { found.append((i, (eq + 1)..<a.count)) } else { maskNext = true }
        }
        return found
    }

    /// The command line to show for `argv`: the elements joined by spaces, each secret value
    /// replaced by `mask`; nil when nothing is secret.
    static func maskedText(_ argv: [[UInt8]]) -> [UInt8]? {
        let secrets = secretValues(argv)
        guard !secrets.isEmpty else { return nil }
        var out = argv
        for s in secrets { out[s.index].replaceSubrange(s.range, with: mask.utf8) }
        return Array(out.joined(separator: [0x20]))
    }

    /// Rewrites this process's argv area (see the type's comment). Call it before any thread starts.
    static func apply() {
        // The Swift copies must exist before the bytes change (a no-op when main read them).
        _ = CommandLine.arguments
        let argc = Int(CommandLine.argc)
        let argv = CommandLine.unsafeArgv
        guard argc > 0, let first = argv[0] else { return }
        var elements: [[UInt8]] = []
        for i in 0..<argc {
            guard let p = argv[i] else { return }
            elements.append(Array(UnsafeRawBufferPointer(start: p, count: strlen(p))))
        }
        guard let text = maskedText(elements) else { return }
        let start = UnsafeMutableRawPointer(first)
        // The kernel lays the strings out one after the other; anything else was rewritten before
        // us, and only the values themselves are overwritten then.
        var end = start
        for i in 0..<argc {
            guard UnsafeMutableRawPointer(argv[i]!) == end else { return maskInPlace(elements, argv: argv) }
            end += elements[i].count + 1
        }
        let argArea = end - start
        var area = argArea
        if text.count + 1 > argArea { area += takeEnvironmentSpace(startingAt: end) }
        // Cut only when even the environment's space is too small (a hook started with almost none).
        let n = min(text.count, area - 1)
        let bytes = start.assumingMemoryBound(to: UInt8.self)
        text.withUnsafeBufferPointer { bytes.update(from: $0.baseAddress!, count: n) }
        (bytes + n).initialize(repeating: 0, count: area - n)
        if n + 1 < argArea { bytes[argArea - 1] = 0x20 }
        // The elements no longer end with their own NUL: each later one is now the empty string.
        for i in 1..<argc { argv[i] = UnsafeMutableRawPointer(bytes + n).assumingMemoryBound(to: CChar.self) }
    }

    /// Copies the environment strings that follow the argv area (from `start` on, one after the
    /// other) to the heap, points `environ` at the copies, and returns how many bytes they held.
    static func takeEnvironmentSpace(startingAt start: UnsafeMutableRawPointer) -> Int {
        // Swift imports `environ` as never NULL; clearenv(3) makes it NULL.
        guard let env = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>(bitPattern: UInt(bitPattern: environ)) else { return 0 }
        var end = start
        var taken: [Int] = []
        var i = 0
        while let e = env[i] {
            if UnsafeMutableRawPointer(e) == end {
                end += strlen(e) + 1
                taken.append(i)
            }
            i += 1
        }
        for j in taken {
            guard let copy = strdup(env[j]!) else { return 0 }
            env[j] = copy
        }
        return end - start
    }

    /// The fallback when the argv strings are not laid out one after the other: each secret value
    /// is overwritten with `x` where it is (its length still shows).
    static func maskInPlace(_ elements: [[UInt8]], argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) {
        for s in secretValues(elements) where !s.range.isEmpty {
            memset(argv[s.index]! + s.range.lowerBound, 0x78, s.range.count)
        }
    }
}

/// MHA passes passwords on argv, where `ps` and /proc/PID/cmdline show them to every user: show
/// each as the same fixed mask instead (see `ArgvWipe`).
func wipeSecretsInArgv() {
    ArgvWipe.apply()
}
