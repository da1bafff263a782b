import FoundationEssentials
import Glibc
import Dispatch

/// Walks binlog event headers as bytes stream past (v4 format: 4-byte magic, then events with a
/// 19-byte header whose `event_size` leads to the next one), reading only the few bytes it needs:
/// the first and last GTID of the file and the in-use flag of the format description event.
/// It never fails a copy: on anything it does not understand it stops and reports what it had.
public struct BinlogEventScanner: Sendable {
    public static let magic: [UInt8] = [0xFE, 0x62, 0x69, 0x6E]
    static let headerSize = 19
    static let formatDescriptionEvent: UInt8 = 15
    static let mysqlGtidEvent: UInt8 = 33
    static let mariadbGtidEvent: UInt8 = 162
    static let mariadbStartEncryptionEvent: UInt8 = 164
    /// Enough of a GTID event: header plus MySQL's flags(1)+sid(16)+gno(8).
    static let gtidPrefix = 19 + 25

    public private(set) var bytes: Int64 = 0
    public private(set) var magicValid: Bool?
    public private(set) var events = 0
    public private(set) var firstGTID: String?
    public private(set) var lastGTID: String?
    /// LOG_EVENT_BINLOG_IN_USE_F of the format description event (nil before it is seen).
    public private(set) var inUseFlag: Bool?
    /// Set when the scanner gave up (bad magic, nonsense size, encrypted binlog).
    public private(set) var stoppedReason: String?

    private var magicBytes: [UInt8] = []
    private var nextEvent: Int64 = 4
    private var pending: [UInt8] = []
    private var want = BinlogEventScanner.headerSize
    private var eventSize: Int64 = 0

    public init() {}

    public mutating func feed(_ buf: UnsafeRawBufferPointer) {
        let n = buf.count
        var i = 0
        defer { bytes += Int64(n) }
        while i < n && stoppedReason == nil {
            let abs = bytes + Int64(i)
            if abs < 4 {
                magicBytes.append(buf[i])
                i += 1
                if magicBytes.count == 4 {
                    magicValid = magicBytes == Self.magic
                    if magicValid == false { stoppedReason = "not a binlog (bad magic)" }
                }
                continue
            }
            if pending.isEmpty && abs < nextEvent {
                // Inside an event body we do not need.
                i += Int(min(Int64(n - i), nextEvent - abs))
                continue
            }
            let take = min(want - pending.count, n - i)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: buf[i..<(i + take)]))
            i += take
            if pending.count == Self.headerSize && want == Self.headerSize {
                eventSize = Int64(u32(pending, 9))
                guard eventSize >= Int64(Self.headerSize), eventSize <= 1 << 31 else {
                    stoppedReason = "event at \(nextEvent) has size \(eventSize)"
                    break
                }
                let type = pending[4]
                if type == Self.mysqlGtidEvent || type == Self.mariadbGtidEvent || type == Self.formatDescriptionEvent {
                    want = Int(min(eventSize, Int64(Self.gtidPrefix)))
                }
            }
            if pending.count == want {
                process(pending)
                events += 1
                nextEvent += eventSize
                pending.removeAll(keepingCapacity: true)
                want = Self.headerSize
            }
        }
    }

    private mutating func process(_ ev: [UInt8]) {
        let type = ev[4]
        let serverId = u32(ev, 5)
        switch type {
        case Self.formatDescriptionEvent:
            inUseFlag = (u16(ev, 17) & 0x1) != 0
        case Self.mariadbGtidEvent where ev.count >= Self.headerSize + 12:
            let seq = u64(ev, 19)
            let domain = u32(ev, 27)
            record("\(domain)-\(serverId)-\(seq)")
        case Self.mysqlGtidEvent where ev.count >= Self.headerSize + 25:
            let sid = hex(ev[20..<36])
            let uuid = [sid.prefix(8), sid.dropFirst(8).prefix(4), sid.dropFirst(12).prefix(4),
                        sid.dropFirst(16).prefix(4), sid.dropFirst(20)].joined(separator: "-")
            record("\(uuid):\(u64(ev, 36))")
        case Self.mariadbStartEncryptionEvent:
            stoppedReason = "encrypted binlog"
        default:
            break
        }
    }

    private mutating func record(_ gtid: String) {
        if firstGTID == nil { firstGTID = gtid }
        lastGTID = gtid
    }

    private func u16(_ b: [UInt8], _ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
    private func u32(_ b: [UInt8], _ o: Int) -> UInt32 {
        (0..<4).reduce(UInt32(0)) { $0 | UInt32(b[o + $1]) << (8 * UInt32($1)) }
    }
    private func u64(_ b: [UInt8], _ o: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[o + $1]) << (8 * UInt64($1)) }
    }
}
