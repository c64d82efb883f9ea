public import GRPCCore
public import NSMAPI
internal import NSMAPIGRPC
public import NSMStore

extension Registry_NetworkService: FederatedRecord {
  public typealias Query = Registry_NetworkServiceQuery
  public static var service: ServiceDescriptor { Registry_NetworkServiceRegistry.descriptor }
}

extension Registry_NetworkServiceQuery: RegistryQuery {
  public var template: Registry_NetworkService {
    get { networkService }
    set { networkService = newValue }
  }
}
