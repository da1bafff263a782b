import FoundationEssentials
import Glibc
import Dispatch

/// Result slots that concurrent workers fill, each slot by one worker only.
private final class ParallelSlots<R>: @unchecked Sendable {
    let base: UnsafeMutablePointer<R?>
    let count: Int
    init(_ n: Int) {
        count = n
        base = .allocate(capacity: n)
        base.initialize(repeating: nil, count: n)
    }
    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }
}

/// `map` over the machine's cores, order kept: for reading many small files (a catalog of
/// 10,000 manifests is mostly JSON decoding). Fewer than `minimum` items: a plain map.
package func parallelMap<T: Sendable, R: Sendable>(_ items: [T], minimum: Int = 64, _ transform: @Sendable (T) -> R) -> [R] {
    guard items.count >= max(2, minimum) else { return items.map(transform) }
    let slots = ParallelSlots<R>(items.count)
    let chunks = max(1, min(items.count, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) * 4))
    DispatchQueue.concurrentPerform(iterations: chunks) { c in
        let lo = items.count * c / chunks, hi = items.count * (c + 1) / chunks
        for i in lo..<hi { slots.base[i] = transform(items[i]) }
    }
    return (0..<items.count).map { slots.base[$0]! }
}
