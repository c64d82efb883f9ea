public import NSMAPI
internal import NSMAPIGRPC
public import NSMStore

extension Registry_NetworkService: FederatedRecord {
  public static let methods = RegistryMethods(
    register: Registry_NetworkServiceRegistry.Method.Register.descriptor,
    find: Registry_NetworkServiceRegistry.Method.Find.descriptor,
    unregister: Registry_NetworkServiceRegistry.Method.Unregister.descriptor
  )

  public static func query(_ template: Self, watch: Bool) -> Registry_NetworkServiceQuery {
    .with {
      $0.networkService = template
      $0.watch = watch
    }
  }

  public static func findRequest(_ query: Registry_NetworkServiceQuery) -> FindRequest<Self> {
    FindRequest(query: query.networkService, watch: query.watch)
  }

  public static func event(from response: Registry_NetworkServiceResponse) -> RecordEvent<Self>? {
    response.hasNetworkService && !response.networkService.name.isEmpty
      ? RecordEvent(record: response.networkService, deleted: response.deleted) : nil
  }
}
