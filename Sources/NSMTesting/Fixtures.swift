public import Foundation
public import NSMAPI
internal import SwiftProtobuf

/// Small builders for the records tests register.
public enum Fixtures {
  public static func service(_ name: String, payload: String = "") -> Registry_NetworkService {
    .with {
      $0.name = name
      $0.payload = payload
    }
  }

  public static func endpoint(
    _ name: String,
    services: [String] = ["ns-1"],
    labels: [String: [String: String]] = [:],
    url: String = "tcp://10.0.0.1:5001",
    expiresIn: TimeInterval? = nil
  ) -> Registry_NetworkServiceEndpoint {
    .with {
      $0.name = name
      $0.networkServiceNames = services
      $0.networkServiceLabels = labels.mapValues { labels in .with { $0.labels = labels } }
      $0.url = url
      if let expiresIn {
        $0.expirationTime = Google_Protobuf_Timestamp(date: Date().addingTimeInterval(expiresIn))
      }
    }
  }
}
