import Foundation
import MHABackupBase
import MHABackupFailover
import MHABackupCore
import MHABackupSandbox

/// `mha-backup binlog archive [--source HOST] [--json]` and
/// `mha-backup binlog stream [--once-seconds N] [--source HOST] [--json]`.
enum BinlogCommand {
    static let usage = "usage: mha-backup binlog archive [--source HOST] [--json] | binlog stream [--once-seconds N] [--source HOST] [--json] | binlog stream --stop"

    static func run(_ ctx: Context, args: Arguments) throws {
        guard args.positional.count == 1, let sub = args.positional.first else {
            throw MBError.usage(args.positional.isEmpty ? "binlog needs a subcommand\n\(usage)"
                                                       : "unexpected arguments \(args.positional.dropFirst().map(q).joined(separator: " "))\n\(usage)")
        }
        switch sub {
        case "archive":
            if args["once-seconds"] != nil { throw MBError.usage("option '--once-seconds' belongs to 'binlog stream'") }
            try archive(ctx, source: args["source"], json: args.has("json"))
        case "stream" where args.has("stop"):
            try stopStream(ctx)
        case "stream":
            let once = try args.int("once-seconds", 1...31_536_000)
            try stream(ctx, once: once.map(TimeInterval.init), source: args["source"], json: args.has("json"))
        default:
            throw MBError.usage("unknown binlog subcommand \(q(sub))\n\(usage)")
        }
    }

    static func archive(_ ctx: Context, source: String?, json: Bool) throws {
        var a = BinlogArchiver(ctx: ctx)
        if !json { a.onResult = { emit(line($0)) } }
        do {
            let report = try a.run(source: source)
            MetricsWriter.afterBinlogArchive(ctx.config, report: report)
            if json { emit(JSON.string(report)) }
        } catch let f as BinlogArchiveFailure {
            MetricsWriter.afterBinlogArchive(ctx.config, report: f.report)
            if json { emit(JSON.string(f.report)) }
            throw f.error
        }
    }

    static func stream(_ ctx: Context, once: TimeInterval?, source: String?, json: Bool) throws {
        var o = BinlogStreamer.Options(onceSeconds: once, source: source, handleSignals: true)
        o.passInterval = 1
        let s = BinlogStreamer(ctx: ctx, options: o)
        if !json { s.onArchived = { emit(line($0)) } }
        let ticker = MetricsTicker(config: ctx.config, event: "binlog stream")
        defer { ticker?.stop(after: "binlog stream stop") }
        let report = try s.run()
        if json { emit(JSON.string(report)) }
    }

    /// `binlog stream --stop`: SIGTERM to the running stream (it archives what it has), waited for
    /// at most 60 s. No stream running is success.
    static func stopStream(_ ctx: Context) throws {
        let path = ctx.config.streamPidPath
        guard let pid = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap({ pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }),
              ProcessRunner.isAlive(pid) else {
            print("no binlog stream running (\(path))")
            return
        }
        kill(pid, SIGTERM)
        let end = Date().addingTimeInterval(60)
        while ProcessRunner.isAlive(pid), Date() < end { usleep(100_000) }
        guard !ProcessRunner.isAlive(pid) else {
            throw MBError(.failed, "binlog stream pid \(pid) did not stop within 60 s of SIGTERM")
        }
        print("binlog stream pid \(pid) stopped")
    }

    /// Unbuffered stdout: lines appear as files are archived, also when stdout is a pipe; a closed
    /// pipe loses the line, not the process.
    static func emit(_ s: String) { BinlogFileIO.writeLine(s, fd: 1) }

    /// One line a file: `copied mysql-bin.000002 2627 bytes sha256 HEX 0.012 s`.
    static func line(_ r: BinlogFileResult) -> String {
        var parts = [r.action, r.name]
        if let s = r.size { parts.append("\(s) bytes") }
        if let h = r.sha256, r.action != "active" { parts.append("sha256 \(h)") }
        if let t = r.seconds { parts.append(String(format: "%.3f s", t)) }
        if let d = r.detail { parts.append("(\(d))") }
        return parts.joined(separator: " ")
    }
}
