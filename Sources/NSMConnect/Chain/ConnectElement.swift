public import NSMAPI

/// What handles a Request and a Close: a whole chain, or the rest of one as an element sees it.
public protocol ConnectHandler: Sendable {
  func request(_ request: Networkservice_NetworkServiceRequest, context: ConnectContext) async throws
    -> Connection_Connection
  func close(_ connection: Connection_Connection, context: ConnectContext) async throws
}

/// One step of a hop, in the manner of NSM's SDK chains (`updatepath`, `begin`, `timeout`,
/// `discover` …): it does its one thing and passes on to `next`.
///
/// `next` is a generic parameter, not an existential: a chain's whole type is known where it
/// is built, so the compiler can specialize and inline the hot path.
public protocol ConnectElement: Sendable {
  func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection

  func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
}

extension ConnectElement {
  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    try await next.request(request, context: context)
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    try await next.close(connection, context: context)
  }
}

/// An element with the rest of the chain behind it.
public struct Linked<Element: ConnectElement, Next: ConnectHandler>: ConnectHandler {
  public let element: Element
  public let next: Next

  public init(_ element: Element, next: Next) {
    self.element = element
    self.next = next
  }

  @inlinable
  public func request(_ request: Networkservice_NetworkServiceRequest, context: ConnectContext) async throws
    -> Connection_Connection
  {
    try await element.request(request, context: context, next: next)
  }

  @inlinable
  public func close(_ connection: Connection_Connection, context: ConnectContext) async throws {
    try await element.close(connection, context: context, next: next)
  }
}

/// Two elements as one: the first, then the second, then whatever follows.
public struct ElementPair<First: ConnectElement, Second: ConnectElement>: ConnectElement {
  public let first: First
  public let second: Second

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    try await first.request(request, context: context, next: Linked(second, next: next))
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    try await first.close(connection, context: context, next: Linked(second, next: next))
  }
}

/// Past the last element: a Request is answered with the connection as it stands, a Close is done.
public struct ChainEnd: ConnectHandler {
  public init() {}

  public func request(_ request: Networkservice_NetworkServiceRequest, context: ConnectContext) async throws
    -> Connection_Connection
  {
    request.connection
  }

  public func close(_ connection: Connection_Connection, context: ConnectContext) async throws {}
}

/// Builds a chain from elements listed in order, as hummingbird builds a middleware stack.
@resultBuilder
public enum ConnectChainBuilder {
  public static func buildPartialBlock<First: ConnectElement>(first: First) -> First { first }

  public static func buildPartialBlock<Accumulated: ConnectElement, Next: ConnectElement>(
    accumulated: Accumulated,
    next: Next
  ) -> ElementPair<Accumulated, Next> {
    ElementPair(first: accumulated, second: next)
  }

  public static func buildEither<First: ConnectElement, Second: ConnectElement>(first: First) -> Either<First, Second> {
    .first(first)
  }

  public static func buildEither<First: ConnectElement, Second: ConnectElement>(second: Second) -> Either<First, Second>
  {
    .second(second)
  }
}

/// One of two elements, chosen when the chain is built (`if` in a chain builder).
public enum Either<First: ConnectElement, Second: ConnectElement>: ConnectElement {
  case first(First)
  case second(Second)

  public func request<Next: ConnectHandler>(
    _ request: Networkservice_NetworkServiceRequest,
    context: ConnectContext,
    next: Next
  ) async throws -> Connection_Connection {
    switch self {
    case .first(let element): try await element.request(request, context: context, next: next)
    case .second(let element): try await element.request(request, context: context, next: next)
    }
  }

  public func close<Next: ConnectHandler>(_ connection: Connection_Connection, context: ConnectContext, next: Next)
    async throws
  {
    switch self {
    case .first(let element): try await element.close(connection, context: context, next: next)
    case .second(let element): try await element.close(connection, context: context, next: next)
    }
  }
}

/// A chain: elements in order, ending where the last passes on to ``ChainEnd``.
public struct ConnectChain<Elements: ConnectElement>: ConnectHandler {
  public let handler: Linked<Elements, ChainEnd>

  public init(@ConnectChainBuilder _ elements: () -> Elements) {
    handler = Linked(elements(), next: ChainEnd())
  }

  public func request(_ request: Networkservice_NetworkServiceRequest, context: ConnectContext) async throws
    -> Connection_Connection
  {
    try await handler.request(request, context: context)
  }

  public func close(_ connection: Connection_Connection, context: ConnectContext) async throws {
    try await handler.close(connection, context: context)
  }
}

/// Does nothing: what an optional element is when it is off.
public struct PassThrough: ConnectElement {
  public init() {}
}
