import Foundation
enum BinlogCommand { static func run(_ c: Context, args: Arguments) throws { throw MBError(.software, "not built yet") } }
