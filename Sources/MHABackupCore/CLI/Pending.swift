import Foundation
enum CheckCommand { static func run(_ c: Context, json: Bool) throws { throw MBError(.software, "not built yet") } }
enum BinlogCommand { static func run(_ c: Context, args: Arguments) throws { throw MBError(.software, "not built yet") } }
