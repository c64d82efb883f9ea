internal import Foundation
internal import NSMAPI
internal import SwiftProtobuf

/// `nsm get`'s default output: one row per resource, columns aligned.
enum ResourceTable {
  static func render(_ rows: [[String]], header: [String]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
      row.enumerated().map { column, cell in
        column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
      }.joined(separator: "   ")
    }.joined(separator: "\n") + "\n"
  }

  static let networkServiceHeader = ["NAME", "PAYLOAD", "MATCHES"]
  static let endpointHeader = ["NAME", "SERVICES", "URL", "EXPIRES"]

  static func row(_ ns: Registry_NetworkService) -> [String] {
    [ns.name, ns.payload, String(ns.matches.count)]
  }

  static func row(_ nse: Registry_NetworkServiceEndpoint, now: Date = Date()) -> [String] {
    let expires: String
    if nse.hasExpirationTime {
      let seconds = nse.expirationTime.date.timeIntervalSince(now)
      expires = seconds >= 0 ? "in \(Int(seconds.rounded()))s" : "\(Int((-seconds).rounded()))s ago"
    } else {
      expires = "never"
    }
    return [nse.name, nse.networkServiceNames.joined(separator: ","), nse.url, expires]
  }
}
